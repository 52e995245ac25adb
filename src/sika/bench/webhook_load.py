"""The load generator of ``sika bench whatsapp``: pre-built HTTP/1.1 requests on keep-alive connections.

A benchmark's clients share the machine with what they measure, so they must cost little CPU: one
asyncio event loop (uvloop where installed) on a thread of its own drives every client, each on its
own connection; the requests arrive as bytes, built and signed before the clock starts; an answer is
read no further than its status line, its ``Content-Length`` and its body. Each client sends its next
request only once the previous one is answered, so the order of a client's requests is the order they
are received in; each latency runs from the send to the whole answer.

    load = WebhookLoad("127.0.0.1", port, per_client, rate_per_s=0.0)
    load.start()
    while load.running:
        ...
    result = load.join()
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import cast

from sika.errors import SikaError

__all__ = ["BadAnswer", "LoadResult", "WebhookLoad", "new_event_loop"]

CLIENTS_MAX = 1_024
# An answer's head larger than this is not a webhook's answer.
ANSWER_HEAD_BYTES_MAX = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
# How often requests are checked against their timeout (one timer for all, not one per request).
WATCHDOG_S = 0.5


class BadAnswer(SikaError):
    """An answer this generator cannot frame: not HTTP/1.x, no ``Content-Length``, unasked bytes."""

    code = "bench_bad_answer"


@dataclass(slots=True)
class LoadResult:
    began_s: float  # time.monotonic() when the clients were let go
    finished_s: float  # when the last answer came back
    latencies_s: list[float]
    # Non-200 answers by status, and failed exchanges by exception name.
    errors: Counter[str]


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one exchange at a time: the future of the exchange in flight gets
    the answer's status, or the exception that ended it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer: asyncio.Future[int] | None = None
        self._status = 0
        self._end = -1  # where the answer in flight ends in the buffer; -1 until its head is read
        self._close_after = False
        self.sent_s = 0.0  # time.perf_counter() when the exchange in flight was sent
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio.Transport's methods without deriving from it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    def exchange(self, request: bytes, sent_s: float) -> asyncio.Future[int]:
        assert self._answer is None and self._transport is not None and not self.closed
        self._answer = self._loop.create_future()
        self.sent_s = sent_s
        self._transport.write(request)
        return self._answer

    def data_received(self, data: bytes) -> None:
        if self._answer is None:
            self._fail(BadAnswer("bytes before any request"))
            return
        self._buffer += data
        if self._end < 0 and not self._read_head():
            return
        if len(self._buffer) < self._end:
            return
        if len(self._buffer) > self._end:
            self._fail(BadAnswer("more bytes than the answer's Content-Length"))
            return
        self._buffer.clear()
        self._end = -1
        answer, self._answer = self._answer, None
        if self._close_after:
            self.close()
        answer.set_result(self._status)

    def expire(self, sent_before_s: float) -> None:
        """Fail the exchange in flight if it was sent before ``sent_before_s``, as a socket timeout would."""
        if self._answer is not None and self.sent_s < sent_before_s:
            self._fail(TimeoutError("no answer in time"))

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _read_head(self) -> bool:
        """Read the status and length once the head is all there; whether it was (else it failed)."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > ANSWER_HEAD_BYTES_MAX:
                self._fail(BadAnswer("answer head too long"))
            return False
        head = bytes(self._buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        line_end = head.find(b"\r\n", at + 2) if at >= 0 else -1
        length = head[at + 17:line_end if line_end >= 0 else len(head)].strip()
        if not head.startswith(b"http/1.") or not head[9:12].isdigit() or at < 0 or not length.isdigit():
            self._fail(BadAnswer("not an HTTP/1.x answer with a Content-Length"))
            return False
        self._status = int(head[9:12])
        self._end = end + 4 + int(length)
        self._close_after = b"\r\nconnection: close" in head
        return True

    def _fail(self, exc: Exception) -> None:
        """End the exchange in flight with ``exc``, and the connection: what is left on it is not trusted."""
        answer, self._answer = self._answer, None
        self._buffer.clear()
        self._end = -1
        self.closed = True
        if self._transport is not None:
            self._transport.abort()
        if answer is not None and not answer.done():
            answer.set_exception(exc)


class WebhookLoad:
    """``per_client[i]`` is sent by client ``i``, in order, on its own keep-alive connection.

    With ``rate_per_s``, all clients together send at most that many requests a second: client ``i``'s
    ``n``-th request is due at ``(n + i / clients) * clients / rate_per_s`` seconds after the start, and
    waits for its due time and for the previous answer. A failed exchange (refused connection, timeout,
    reset) is counted under its exception's name and the client goes on, on a new connection."""

    def __init__(self, host: str, port: int, per_client: Sequence[Sequence[bytes]], *,
                 rate_per_s: float = 0.0, timeout_s: float = 60.0) -> None:
        assert 0 < len(per_client) <= CLIENTS_MAX and all(per_client), len(per_client)
        assert rate_per_s >= 0 and timeout_s > 0, (rate_per_s, timeout_s)
        self._address = (host, port)
        self._per_client = per_client
        self._interval_s = len(per_client) / rate_per_s if rate_per_s else 0.0
        self._timeout_s = timeout_s
        self._connections: list[_Connection] = []
        self._latencies: list[list[float]] = [[] for _ in per_client]
        self._errors: Counter[str] = Counter()
        self._began: Future[float] = Future()
        self._result: LoadResult | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-webhook-load", daemon=True)

    def start(self) -> float:
        """Connect every client, then let them go; returns when they went (``time.monotonic()``)."""
        self._thread.start()
        return self._began.result()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> LoadResult:
        """Wait for every client to have its last answer."""
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        assert self._result is not None
        return self._result

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                self._result = runner.run(self._drive())
        except BaseException as exc:  # raised again by start() or join(), in the thread that waits
            self._failure = exc
            if not self._began.done():
                self._began.set_exception(exc)

    async def _drive(self) -> LoadResult:
        self._connections = [await self._connect() for _ in self._per_client]
        began_s = time.monotonic()
        self._began.set_result(began_s)
        watchdog = asyncio.get_running_loop().create_task(self._watch())
        try:
            finished = await asyncio.gather(*(self._client(index, began_s)
                                              for index in range(len(self._per_client))))
        finally:
            watchdog.cancel()
            for connection in self._connections:
                connection.close()
            await asyncio.sleep(0)  # the transports close on the loop's next turn
        latencies = [s for client in self._latencies for s in client]
        return LoadResult(began_s=began_s, finished_s=max(finished), latencies_s=latencies,
                          errors=self._errors)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            _, connection = await loop.create_connection(lambda: _Connection(loop), *self._address)
        return connection

    async def _client(self, index: int, began_s: float) -> float:
        """Send client ``index``'s requests one after the other; returns when its last answer came."""
        interval_s = self._interval_s
        first_s = began_s + interval_s * index / len(self._per_client)
        latencies = self._latencies[index]
        for number, request in enumerate(self._per_client[index]):
            if interval_s:
                delay_s = first_s + number * interval_s - time.monotonic()
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
            latencies.append(await self._exchange(index, request))
        return time.monotonic()

    async def _exchange(self, index: int, request: bytes) -> float:
        """One request and its answer; returns the latency, whatever the outcome."""
        sent_s = time.perf_counter()
        try:
            if self._connections[index].closed:
                self._connections[index] = await self._connect()
            status = await self._connections[index].exchange(request, sent_s)
            if status != 200:
                self._errors[str(status)] += 1
        except (OSError, BadAnswer) as exc:  # TimeoutError and the connection errors are OSErrors
            self._errors[type(exc).__name__] += 1
            self._connections[index].close()
        return time.perf_counter() - sent_s

    async def _watch(self) -> None:
        """Fail the exchanges that have waited longer than the timeout."""
        while True:
            await asyncio.sleep(WATCHDOG_S)
            sent_before_s = time.perf_counter() - self._timeout_s
            for connection in self._connections:
                connection.expire(sent_before_s)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (its transports and parsing are C), else asyncio's:
    the load generator must not be the bottleneck of what it measures."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:  # uvloop is not built for Windows
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
