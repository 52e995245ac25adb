"""The Cloud API client: ``POST {api_url}/{phone_number_id}/messages``, paced, retried, kept alive.

* Each thread keeps its own HTTP/1.1 connection to the Graph API (:mod:`sika.keepalive`), so a busy
  sender pays for TCP and TLS handshakes once, not per message.
* A token bucket shared by every thread that uses one client caps the throughput at ``rate_per_s``
  (Meta's default for a phone number is 80 messages a second); build one client per process.
* Failures that may pass are retried with exponential back-off and jitter: connection errors and
  timeouts, 5xx answers, and Meta's throttling codes (130429 throughput, 131056 pair rate, …). Other
  errors are raised at once as :class:`GraphError` carrying Meta's ``error_code``.
"""

from __future__ import annotations

import functools
import http.client
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from sika import jsoncodec
from sika.errors import SikaError
from sika.keepalive import Connections

__all__ = ["RETRYABLE_CODES", "GraphClient", "GraphError", "KeepAliveTransport", "Pace", "TokenBucket",
           "Transport"]

log = logging.getLogger(__name__)

RETRIES_MAX = 10
REQUEST_BYTES_MAX = 256 * 1024
RESPONSE_BYTES_MAX = 1024 * 1024
BACKOFF_S_MAX = 30.0
WAMID_CHARS_MAX = 128
ERROR_MESSAGE_CHARS_MAX = 200


RETRYABLE_CODES = frozenset({
    1,       # API unknown (transient)
    2,       # API service: temporary downtime
    4,       # API too many calls (application rate limit)
    80007,   # WhatsApp Business Account rate limit
    130429,  # throughput of the phone number reached
    131000,  # something went wrong (Meta advises a retry)
    131016,  # service unavailable
    131056,  # pair rate limit: too many messages to one person
    133004,  # server temporarily unavailable
})


class GraphError(SikaError):
    """Meta refused a message (``error_code`` from its answer), or could not be reached."""

    code = "whatsapp_send_failed"

    def __init__(self, message: str, *, http_status: int | None = None, error_code: int | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_code = error_code
        self.retryable = retryable


class Transport(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> tuple[int, bytes]:
        """POST and return ``(status, body)``; raise ``OSError`` or ``http.client.HTTPException``."""

    def close(self) -> None: ...


class Pace(Protocol):
    """Paces sends: :class:`TokenBucket` in this process, or ``sika.coordination.pacing.RedisPace``."""

    rate_per_s: float

    def take(self) -> float: ...

    def close(self) -> None: ...


class TokenBucket:
    """At most ``burst + rate_per_s * T`` grants in any span of ``T`` seconds, whatever the threads.

    A taker that finds the bucket empty reserves the next token (the level goes below zero) and
    sleeps until it is due, outside the lock: waiting threads are served in order, none spins.
    """

    def __init__(self, rate_per_s: float, burst: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        assert rate_per_s > 0 and burst >= 1, (rate_per_s, burst)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._level = burst
        self._stamp = clock()

    def take(self) -> float:
        """Wait for one token; returns how long we waited (seconds)."""
        with self._lock:
            now = self._clock()
            self._level = min(self.burst, self._level + (now - self._stamp) * self.rate_per_s) - 1
            self._stamp = now
            wait_s = -self._level / self.rate_per_s if self._level < 0 else 0.0
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s

    def close(self) -> None:
        """Nothing to release: the bucket lives in this process."""


class KeepAliveTransport:
    """One kept-alive connection per thread and host (:mod:`sika.keepalive`)."""

    def __init__(self) -> None:
        self._connections = Connections()

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> tuple[int, bytes]:
        scheme, host, port, target = _origin(url)
        connection = self._connections.connection(scheme, host, port, connect_s=timeout_s,
                                                  timeout_s=timeout_s)
        try:
            response = connection.exchange("POST", target, headers, body, body_max=RESPONSE_BYTES_MAX)
        except (ConnectionResetError, BrokenPipeError):
            if not connection.reused:
                raise
            # The server closed the kept connection as we sent on it (it was open a moment before):
            # nothing of the request was answered; say it again on a new one.
            connection = self._connections.connection(scheme, host, port, connect_s=timeout_s,
                                                      timeout_s=timeout_s)
            response = connection.exchange("POST", target, headers, body, body_max=RESPONSE_BYTES_MAX)
        return response.status, response.body[:RESPONSE_BYTES_MAX]

    def close(self) -> None:
        self._connections.close()


@functools.lru_cache(maxsize=64)
def _origin(url: str) -> tuple[str, str, int | None, str]:
    """Scheme, host, port and target of a URL (few: the API's and the gateway's)."""
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname, url
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, parts.port, target


class GraphClient:
    def __init__(self, api_url: str, phone_number_id: str, token: str, *, timeout_s: float = 10,
                 rate_per_s: float = 80.0, retries: int = 4, transport: Transport | None = None,
                 burst: float | None = None, backoff_s: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        assert 0 <= retries <= RETRIES_MAX and 0 < timeout_s <= 300 and backoff_s >= 0
        assert phone_number_id.isalnum(), phone_number_id
        self.url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                         "Accept": "application/json", "User-Agent": "sika-whatsapp"}
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._sleep = sleep
        # A tenth of a second's worth of messages may go at once; the rest are paced. Shared with the
        # other processes sending for this number when Redis is there (sika.coordination.pacing).
        self.burst = burst if burst is not None else max(1.0, rate_per_s / 10)
        self.pace: Pace = TokenBucket(rate_per_s, self.burst)
        self._transport: Transport = transport or KeepAliveTransport()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()
        self.pace.close()

    def send(self, body: Mapping[str, Any]) -> str:
        """Send one message body; returns its ``wamid``, or raises :class:`GraphError`."""
        data = jsoncodec.dumps(body).encode()
        assert len(data) <= REQUEST_BYTES_MAX, len(data)
        attempt = 0
        while True:
            error = self._attempt(data)
            if isinstance(error, str):
                return error
            if not error.retryable or attempt >= self._retries:
                raise error
            delay_s = min(BACKOFF_S_MAX, self._backoff_s * 2**attempt)
            attempt += 1
            log.info("whatsapp send retry %s after %s (code %s)", attempt, error.http_status,
                     error.error_code)
            self._sleep(delay_s / 2 + random.uniform(0, delay_s / 2))  # noqa: S311 (jitter, not secrecy)

    def _attempt(self, data: bytes) -> str | GraphError:
        self.pace.take()
        try:
            status, answer = self._transport.post(self.url, data, self._headers, self._timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            error = GraphError(f"the Graph API could not be reached: {type(exc).__name__}", retryable=True)
            error.__cause__ = exc
            return error
        if 200 <= status < 300:
            return _wamid(status, answer)
        return _error(status, answer)


def _wamid(status: int, answer: bytes) -> str:
    try:
        wamid = jsoncodec.loads(answer)["messages"][0]["id"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        # Not retried: Meta may have accepted the message, and a second one would be a duplicate.
        raise GraphError("the Graph API accepted a message without naming it", http_status=status) from exc
    if not isinstance(wamid, str) or not 0 < len(wamid) <= WAMID_CHARS_MAX:
        raise GraphError("the Graph API named a message with an unusable id", http_status=status)
    return wamid


def _error(status: int, answer: bytes) -> GraphError:
    code: int | None = None
    message = ""
    try:
        error = jsoncodec.loads(answer)["error"]
        raw_code = error.get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
        message = str(error.get("message", ""))[:ERROR_MESSAGE_CHARS_MAX]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        pass
    retryable = status >= 500 or status == 429 or code in RETRYABLE_CODES
    return GraphError(f"the Graph API answered {status} (code {code}): {message}".rstrip(": "),
                      http_status=status, error_code=code, retryable=retryable)
