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

import http.client
import json
import logging
import os
import random
import select
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import certifi

from sika.providers.base import ProviderUnavailable

__all__ = ["ANSWER_BYTES_MAX", "RETRIES_LIMIT", "Answer", "Http"]

log = logging.getLogger(__name__)

ANSWER_BYTES_MAX = 1024 * 1024
RETRIES_LIMIT = 5
_CONNECT_TIMEOUT_S = 5.0
_BACKOFF_S_MAX = 2.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Kept-alive connections of threads that are gone are closed once this many are open.
CONNECTIONS_MAX = 64


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # the decoded JSON (dict, list, ...), or None for an empty body

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None


class Http:
    """HTTP/1.1 over ``http.client``, one kept-alive connection a thread. (httpx cost a tenth of a
    worker's CPU with the realistic chat mix, most of it in its pure-Python HTTP state machine, for
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
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._prefix = parts.path
        self._headers = {"Accept": "application/json", "User-Agent": "sika", **(headers or {})}
        # certifi's roots, or the operator's (a private CA); no proxy is used (HTTPS_PROXY is not read).
        cafile = os.environ.get("SSL_CERT_FILE") or certifi.where()
        self._tls = ssl.create_default_context(cafile=cafile) if self._https else None
        self._lock = threading.Lock()
        self._connections: dict[int, http.client.HTTPConnection] = {}

    def post_json(self, path: str, body: Mapping[str, Any], *, idempotent: bool,
                  headers: Mapping[str, str] | None = None) -> Answer:
        payload = json.dumps(dict(body), separators=(",", ":")).encode()
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
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            connection.close()

    def _send(self, method: str, target: str, *, idempotent: bool, body: bytes | None,
              headers: Mapping[str, str]) -> Answer:
        if not target.startswith("/"):
            target = "/" + target  # a configured path written without its slash
        merged = {k: v for k, v in self._headers.items() if k.lower() not in {h.lower() for h in headers}}
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
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read(ANSWER_BYTES_MAX + 1)
        except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a header unfit to send
            self._drop(connection)
            if last or not idempotent:
                raise self._unavailable(f"no answer ({type(exc).__name__})") from exc
            return None
        except BaseException:
            self._drop(connection)
            raise
        if response.will_close or not response.isclosed():
            self._drop(connection)  # closed by the server, or unread bytes that would spoil the next answer
        if response.status not in _RETRY_STATUSES:
            return self._answer(response.status, content)
        if last or not idempotent:
            raise self._unavailable(f"answered HTTP {response.status}")
        return None

    def _connection(self) -> http.client.HTTPConnection:
        """This thread's connection, made now if it has none or if the server closed the one it had
        (an idle socket that reads as ready has been closed, or holds bytes no request asked for)."""
        key = threading.get_ident()
        with self._lock:
            connection = self._connections.get(key)
        if connection is not None and connection.sock is not None and not _readable(connection.sock):
            return connection
        if connection is not None:
            self._drop(connection)
        if self._https:
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_s,
                                                     context=self._tls)
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_s)
        try:
            connection.connect()
        except OSError:
            connection.close()
            raise
        assert connection.sock is not None
        connection.sock.settimeout(self._timeout_s)
        with self._lock:
            if len(self._connections) >= CONNECTIONS_MAX:
                alive = {thread.ident for thread in threading.enumerate()}
                for gone in [k for k in self._connections if k not in alive]:
                    self._connections.pop(gone).close()
            self._connections[key] = connection
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            key = threading.get_ident()
            if self._connections.get(key) is connection:
                del self._connections[key]
        connection.close()

    def _answer(self, status: int, content: bytes) -> Answer:
        if len(content) > ANSWER_BYTES_MAX:
            raise self._unavailable(f"answered {len(content)} bytes, more than any answer it gives")
        if not content.strip():
            return Answer(status, None)
        try:
            return Answer(status, json.loads(content))
        except (ValueError, RecursionError) as exc:
            raise self._unavailable(f"answered HTTP {status} with something not JSON") from exc

    def _unavailable(self, why: str) -> ProviderUnavailable:
        return ProviderUnavailable(f"{self.provider}: {why}")


def _readable(sock: Any) -> bool:
    """Whether an idle socket has something to read: the server closed it (or sent what no request
    asked for). ``poll``, not ``select``, which fails for descriptors past 1023."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
