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
import os
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import certifi

from sika import jsoncodec
from sika.keepalive import Connection, Connections
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
    """HTTP/1.1 on one kept-alive connection a thread (:mod:`sika.keepalive`). (httpx cost a tenth of
    a worker's CPU with the realistic chat mix, most of it in its pure-Python HTTP state machine, for
    features no adapter uses: docs/benchmarks.md.)"""

    def __init__(self, base_url: str, *, provider: str, timeout_s: float = 15.0, retries_max: int = 2,
                 backoff_s: float = 0.2, headers: Mapping[str, str] | None = None) -> None:
        assert 0 < timeout_s <= 300 and 0 <= retries_max <= RETRIES_LIMIT and 0 <= backoff_s <= 10
        parts = urlsplit(base_url.rstrip("/"))
        assert parts.scheme in ("http", "https") and parts.hostname, base_url
        self.provider = provider
        self._retries_max = retries_max
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._connect_s = min(timeout_s, _CONNECT_TIMEOUT_S)
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path
        self._headers = {"Accept": "application/json", "User-Agent": "sika", **(headers or {})}
        # certifi's roots, or the operator's (a private CA); no proxy is used (HTTPS_PROXY is not read).
        cafile = os.environ.get("SSL_CERT_FILE") or certifi.where()
        tls = ssl.create_default_context(cafile=cafile) if parts.scheme == "https" else None
        self._connections = Connections(tls)

    def post_json(self, path: str, body: Mapping[str, Any], *, idempotent: bool,
                  headers: Mapping[str, str] | None = None) -> Answer:
        payload = jsoncodec.dumps(dict(body)).encode()
        return self._send("POST", path, idempotent=idempotent, body=payload,
                          headers={"Content-Type": "application/json", **(headers or {})})

    def post_form(self, path: str, data: Mapping[str, str], *, idempotent: bool,
                  headers: Mapping[str, str] | None = None) -> Answer:
        payload = urlencode(dict(data)).encode()
        return self._send("POST", path, idempotent=idempotent, body=payload,
                          headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def get(self, path: str, params: Mapping[str, str] | None = None, *,
            headers: Mapping[str, str] | None = None) -> Answer:
        target = f"{path}?{urlencode(dict(params))}" if params else path
        return self._send("GET", target, idempotent=True, body=None, headers=headers or {})

    def close(self) -> None:
        self._connections.close()

    def _send(self, method: str, target: str, *, idempotent: bool, body: bytes | None,
              headers: Mapping[str, str]) -> Answer:
        if not target.startswith("/"):
            target = "/" + target  # a configured path written without its slash
        own = {name.lower() for name in headers}
        merged = {k: v for k, v in self._headers.items() if k.lower() not in own}
        merged.update(headers)  # the request's own, in place of a default of the same name in any case
        for attempt in range(self._retries_max + 1):
            answer = self._try(method, self._prefix + target, body, merged,
                               idempotent=idempotent, last=attempt == self._retries_max)
            if answer is not None:
                return answer
            log.info("%s %s %s: try %d failed, trying again", self.provider, method, target, attempt + 1)
            # Jitter keeps many processes from retrying in step; not a secret.
            time.sleep(min(self._backoff_s * 2**attempt, _BACKOFF_S_MAX) * random.uniform(0.5, 1.0))  # noqa: S311
        raise AssertionError("unreachable: the last try returns or raises")

    def _try(self, method: str, target: str, body: bytes | None, headers: dict[str, str], *,
             idempotent: bool, last: bool) -> Answer | None:
        """One try: its answer, or None to try again."""
        try:
            connection = self._connection()
        except OSError as exc:
            # The request never left: any request may be tried again.
            if last:
                raise self._unavailable(f"cannot connect ({type(exc).__name__})") from exc
            return None
        try:
            response = connection.exchange(method, target, headers, body, body_max=ANSWER_BYTES_MAX)
        except (OSError, ValueError) as exc:  # ValueError: a header unfit to send
            if last or not idempotent:
                raise self._unavailable(f"no answer ({type(exc).__name__})") from exc
            return None
        if response.status not in _RETRY_STATUSES:
            return self._answer(response.status, response.body)
        if last or not idempotent:
            raise self._unavailable(f"answered HTTP {response.status}")
        return None

    def _connection(self) -> Connection:
        """This thread's connection (``OSError`` when it cannot be made: nothing was sent)."""
        return self._connections.connection(self._scheme, self._host, self._port, connect_s=self._connect_s,
                                            timeout_s=self._timeout_s)

    def _answer(self, status: int, content: bytes) -> Answer:
        if len(content) > ANSWER_BYTES_MAX:
            raise self._unavailable(f"answered {len(content)} bytes, more than any answer it gives")
        if not content.strip():
            return Answer(status, None)
        try:
            # The standard library's reader: a provider's numbers stay exact whatever their size
            # (orjson reads an integer past 64 bits as a float).
            return Answer(status, json.loads(content))
        except (ValueError, RecursionError) as exc:
            raise self._unavailable(f"answered HTTP {status} with something not JSON") from exc

    def _unavailable(self, why: str) -> ProviderUnavailable:
        return ProviderUnavailable(f"{self.provider}: {why}")
