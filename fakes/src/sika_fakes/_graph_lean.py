"""The fake Graph API's lean mode: one event loop on one thread, a minimal HTTP/1.1 parser.

A load test's fake must not cost more CPU than the system it measures: ``http.server``'s thread per
connection and ``email``-module header parsing cost more than the JSON validation. This mode reads a
request line, headers and a ``Content-Length`` body, answers ``400`` to anything else, and hands each
request to the same ``handle`` as the threaded mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

__all__ = ["HEAD_BYTES_MAX", "Handler", "LeanServer", "new_event_loop"]

# The limits on a request (as http.server's: 64 KiB lines, 100 headers), and on its body.
HEAD_BYTES_MAX = 64 * 1024
HEADERS_MAX = 100
REQUEST_BYTES_MAX = 1024 * 1024
START_TIMEOUT_S = 10.0
# Meta's "invalid parameter" code, for what the parser refuses.
_INVALID_PARAMETER = 100

# (path, Authorization header, body) -> (status, JSON answer)
Handler = Callable[[str, str | None, bytes], tuple[int, dict[str, Any]]]


def _refusal(why: str) -> dict[str, Any]:
    return {"error": {"message": why, "type": "OAuthException", "code": _INVALID_PARAMETER,
                      "error_data": {"messaging_product": "whatsapp", "details": why},
                      "fbtrace_id": uuid.uuid4().hex[:24]}}

def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (its transports and parsing are C), else
    asyncio's own. Also the benchmark's load generator's loop."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:  # uvloop is not built for Windows
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


@dataclass(frozen=True, slots=True)
class _Head:
    """A request's line and headers (names in lower case), as far as the fake needs them."""

    method: str
    target: str
    headers: dict[str, str]
    keep_alive: bool


def _parse_head(raw: bytes) -> _Head | None:
    """The head of one request, without its final blank line; None when it is malformed."""
    lines = raw.decode("iso-8859-1").split("\r\n")
    if len(lines) - 1 > HEADERS_MAX:
        return None
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[0].isalpha() \
            or not parts[1].startswith("/"):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        key = name.lower()
        # No folded lines, no space in a name or before the colon (RFC 9112 5.1), one Content-Length.
        if not colon or not key or " " in key or "\t" in key or (key == "content-length" and key in headers):
            return None
        headers[key] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if parts[2] == "HTTP/1.1" else connection == "keep-alive"
    return _Head(method=parts[0], target=parts[1], headers=headers, keep_alive=keep_alive)


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def _response(status: int, answer: dict[str, Any], *, close: bool) -> bytes:
    data = json.dumps(answer).encode()
    ending = "Connection: close\r\n\r\n" if close else "\r\n"
    head = (f"HTTP/1.1 {status} {_PHRASES[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n{ending}")
    return head.encode("ascii") + data


class _LeanConnection(asyncio.Protocol):
    """One client's connection: requests parsed as they arrive (pipelined ones too), answered in order."""

    def __init__(self, handle: Handler, connections: set[_LeanConnection]) -> None:
        self._handle = handle
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._head: _Head | None = None
        self._body_at = 0  # where the body of the request in ``_head`` starts in the buffer
        self._length = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio.Transport's methods without deriving from it.
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._transport = None

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and not self._transport.is_closing() and self._next():
            pass

    def _next(self) -> bool:
        """Answer the request at the start of the buffer if it is all there; whether one was."""
        if self._head is None and not self._read_head():
            return False
        if len(self._buffer) < self._body_at + self._length:
            return False
        head, end = self._head, self._body_at + self._length
        assert head is not None
        raw = bytes(self._buffer[self._body_at:end])
        del self._buffer[:end]
        self._head = None
        status, answer = self._handle(head.target, head.headers.get("authorization"), raw)
        self._answer(status, answer, close=not head.keep_alive)
        return True

    def _read_head(self) -> bool:
        """Parse the next request's head once it is all there, or refuse it; whether it was read."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > HEAD_BYTES_MAX:
                self._refuse(400, "request head too long")
            return False
        head = _parse_head(bytes(self._buffer[:end])) if end <= HEAD_BYTES_MAX else None
        if head is None:
            self._refuse(400, "malformed request")
            return False
        if head.method != "POST":
            self._refuse(501, f"unsupported method {head.method[:10]!r}")
            return False
        length = head.headers.get("content-length", "")
        if "transfer-encoding" in head.headers:
            self._refuse(400, "only Content-Length bodies")
            return False
        digits = length.isascii() and length.isdigit()  # not "²", which int() refuses
        if not digits or len(length) > 9 or int(length) > REQUEST_BYTES_MAX:  # as the threaded mode
            self._refuse(413 if digits else 411, "bad length")
            return False
        self._head, self._body_at, self._length = head, end + 4, int(length)
        return True

    def _refuse(self, status: int, why: str) -> None:
        """Answer an error and close: what follows a request the fake cannot frame is not trusted."""
        self._answer(status, _refusal(why), close=True)

    def _answer(self, status: int, answer: dict[str, Any], *, close: bool) -> None:
        assert self._transport is not None
        self._transport.write(_response(status, answer, close=close))
        if close:
            self._transport.close()  # once the answer is written


class LeanServer:
    """The asyncio mode's server: its own thread, its own event loop, stopped from any thread."""

    def __init__(self, handle: Handler) -> None:
        self._handle = handle
        self._ready: Future[tuple[str, int]] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fake-graph", daemon=True)
        self._thread.start()
        self.address = self._ready.result(timeout=START_TIMEOUT_S)

    def close(self) -> None:
        loop, stopping = self._loop, self._stopping
        assert loop is not None and stopping is not None
        loop.call_soon_threadsafe(stopping.set)
        self._thread.join()

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                runner.run(self._serve())
        except BaseException as exc:  # handed to the thread that waits in __init__, not lost
            if not self._ready.done():
                self._ready.set_exception(exc)
                return
            raise

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        connections: set[_LeanConnection] = set()
        server = await loop.create_server(lambda: _LeanConnection(self._handle, connections), "127.0.0.1", 0,
                                          backlog=512)
        self._loop, self._stopping = loop, asyncio.Event()
        host, port = server.sockets[0].getsockname()[:2]
        self._ready.set_result((str(host), int(port)))
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for connection in list(connections):
                connection.abort()
            await server.wait_closed()
            # Let the aborted transports report their end, so that none is left unclosed.
            for _ in range(100):
                if not connections:
                    break
                await asyncio.sleep(0)
