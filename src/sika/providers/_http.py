"""The HTTP client every provider adapter uses: timeouts, bounded retries, foreign errors translated.

A request is retried (``retries_max`` times at most, with a growing pause) when the provider could not
have acted on it, or when the caller says a repeat is harmless because the request carries the
provider's idempotency reference:

=======================================  ===============  ==========================
what happened                            ``idempotent``   retried
=======================================  ===============  ==========================
connection refused, connect timeout      either           yes (nothing was sent)
read timeout, connection cut, 5xx, 429   True             yes (same reference)
read timeout, connection cut, 5xx, 429   False            no: ProviderUnavailable
=======================================  ===============  ==========================

When the tries run out, :class:`~sika.providers.base.ProviderUnavailable` says the outcome is
unknown; the caller asks the provider's status later. Answers larger than ``ANSWER_BYTES_MAX`` or
that are not JSON are unreadable, hence unknown too.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from sika.providers.base import ProviderUnavailable

__all__ = ["ANSWER_BYTES_MAX", "RETRIES_LIMIT", "Answer", "Http"]

log = logging.getLogger(__name__)

ANSWER_BYTES_MAX = 1024 * 1024
RETRIES_LIMIT = 5
_CONNECT_TIMEOUT_S = 5.0
_BACKOFF_S_MAX = 2.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # the decoded JSON (dict, list, ...), or None for an empty body

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None


class Http:
    def __init__(self, base_url: str, *, provider: str, timeout_s: float = 15.0, retries_max: int = 2,
                 backoff_s: float = 0.2, headers: Mapping[str, str] | None = None) -> None:
        assert 0 < timeout_s <= 300 and 0 <= retries_max <= RETRIES_LIMIT and 0 <= backoff_s <= 10
        self.provider = provider
        self._retries_max = retries_max
        self._backoff_s = backoff_s
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, _CONNECT_TIMEOUT_S))
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                    headers={"Accept": "application/json", **(headers or {})},
                                    follow_redirects=False)

    def post_json(self, path: str, body: Mapping[str, Any], *, idempotent: bool,
                  headers: Mapping[str, str] | None = None) -> Answer:
        return self._send("POST", path, idempotent=idempotent, json=dict(body), headers=headers)

    def post_form(self, path: str, data: Mapping[str, str], *, idempotent: bool,
                  headers: Mapping[str, str] | None = None) -> Answer:
        return self._send("POST", path, idempotent=idempotent, data=dict(data), headers=headers)

    def get(self, path: str, params: Mapping[str, str] | None = None, *,
            headers: Mapping[str, str] | None = None) -> Answer:
        return self._send("GET", path, idempotent=True, params=dict(params or {}), headers=headers)

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, path: str, *, idempotent: bool, **options: Any) -> Answer:
        for attempt in range(self._retries_max + 1):
            last = attempt == self._retries_max
            try:
                response = self._client.request(method, path, **options)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never left: any request may be tried again.
                if last:
                    raise self._unavailable(f"cannot connect ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                if last or not idempotent:
                    raise self._unavailable(f"no answer ({type(exc).__name__})") from exc
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return self._answer(response)
                if last or not idempotent:
                    raise self._unavailable(f"answered HTTP {response.status_code}")
            log.info("%s %s %s: try %d failed, trying again", self.provider, method, path, attempt + 1)
            # Jitter keeps many processes from retrying in step; not a secret.
            time.sleep(min(self._backoff_s * 2**attempt, _BACKOFF_S_MAX) * random.uniform(0.5, 1.0))  # noqa: S311
        raise AssertionError("unreachable: the last try returns or raises")

    def _answer(self, response: httpx.Response) -> Answer:
        content = response.content
        if len(content) > ANSWER_BYTES_MAX:
            raise self._unavailable(f"answered {len(content)} bytes, more than any answer it gives")
        if not content.strip():
            return Answer(response.status_code, None)
        try:
            return Answer(response.status_code, json.loads(content))
        except (ValueError, RecursionError) as exc:
            raise self._unavailable(f"answered HTTP {response.status_code} with something not JSON") from exc

    def _unavailable(self, why: str) -> ProviderUnavailable:
        return ProviderUnavailable(f"{self.provider}: {why}")
