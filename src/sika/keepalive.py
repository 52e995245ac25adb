"""HTTP/1.1 on kept-alive connections, one a thread and origin: what Sika's outbound calls share (the
WhatsApp Graph API, the SMS gateway, the payment providers and the biller).

Why not ``http.client``: with the realistic chat mix, sending answers and calling providers was an
eighth of a worker's CPU, most of it ``http.client`` reading an answer's head through the ``email``
package (docs/benchmarks.md). Sika's calls are small requests with small JSON answers, so the
whole request goes out in one ``sendall`` and an answer is read into one buffer and cut there.

What it speaks: a request with a ``Content-Length`` body or none; answers framed by
``Content-Length``, ``chunked``, or the end of the connection, after any ``1xx``; ``Connection:
close`` and HTTP/1.0 honoured. No redirects, compression, proxies, or pipelining. Everything read is
bounded (``HEAD_BYTES_MAX``, the caller's ``body_max``).

Errors are the standard library's, all ``OSError``: the connection could not be made (``connect``),
or once a request went out, the server closed it before answering (``ConnectionResetError``, or
``BrokenPipeError`` while sending), or inside its answer (``ConnectionAbortedError``), answered
something that is not HTTP (``errno.EPROTO``), or was too slow (``TimeoutError``). After any of
those the connection is closed and forgotten. A request that cannot be sent (a header with a line
break, a framing header set by the caller) is a ``ValueError`` before anything is sent, and the
connection stays.
"""

from __future__ import annotations

import errno
import re
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["CONNECTIONS_MAX", "HEAD_BYTES_MAX", "Connection", "Connections", "Response"]

# The status line and headers of an answer (a Graph API head is about half a kilobyte).
HEAD_BYTES_MAX = 64 * 1024
HEADERS_MAX = 100
# Kept connections (one a thread and origin); those of threads that are gone are closed beyond this.
CONNECTIONS_MAX = 64
_READ_BYTES = 64 * 1024
_CHUNK_LINE_BYTES_MAX = 1024
_INTERIM_MAX = 8  # 1xx answers before the real one
# What a header's name and value may hold (RFC 9110 token; a value without CR, LF or NUL).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNFIT_VALUE = re.compile(r"[\r\n\x00]")
_UNFIT_TARGET = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# Headers the request's framing is made of, set here alone.
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_NO_BODY_STATUSES = frozenset({204, 304})

_Key = tuple[int, str, str, int]  # thread, scheme, host, port


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes  # at most the caller's body_max + 1 bytes: one more says the answer was larger


class Connections:
    """Each thread's kept connection to each origin. ``tls`` checks HTTPS servers (the default
    context, with the system's roots, when None)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self._lock = threading.Lock()
        self._kept: dict[_Key, Connection] = {}

    def connection(self, scheme: str, host: str, port: int | None, *, connect_s: float,
                   timeout_s: float) -> Connection:
        """This thread's connection to the origin: the kept one if the server has not closed it while
        it was idle, else a new one (``OSError`` if it cannot be made: nothing was sent)."""
        assert scheme in ("http", "https") and host, (scheme, host)
        port = port or (443 if scheme == "https" else 80)
        key: _Key = (threading.get_ident(), scheme, host, port)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept.idle_and_open():
            kept.sock.settimeout(timeout_s)
            return kept
        if kept is not None:
            kept.close()
        made = Connection(self, key, self._connect(scheme, host, port, connect_s))
        made.sock.settimeout(timeout_s)
        with self._lock:
            if len(self._kept) >= CONNECTIONS_MAX:
                alive = {thread.ident for thread in threading.enumerate()}
                for gone in [k for k in self._kept if k[0] not in alive]:
                    self._kept.pop(gone).sock.close()
            self._kept[key] = made
        return made

    def close(self) -> None:
        with self._lock:
            kept = list(self._kept.values())
            self._kept.clear()
        for connection in kept:
            connection.sock.close()

    def _connect(self, scheme: str, host: str, port: int, connect_s: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout=connect_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                tls = self._tls or ssl.create_default_context()
                return tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return sock

    def _forget(self, connection: Connection) -> None:
        with self._lock:
            if self._kept.get(connection.key) is connection:
                del self._kept[connection.key]


class Connection:
    """One socket to one origin, used by one thread, one exchange at a time."""

    __slots__ = ("_owner", "key", "reused", "sock")

    def __init__(self, owner: Connections, key: _Key, sock: socket.socket) -> None:
        self._owner = owner
        self.key = key
        self.sock = sock
        self.reused = False  # it served an exchange before this one

    def idle_and_open(self) -> bool:
        """Whether the idle socket is still good: one that reads as ready was closed by the server (or
        holds bytes no request asked for). ``poll``, not ``select``, which fails past descriptor 1023."""
        if self.sock.fileno() < 0:
            return False
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return not poller.poll(0)

    def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None, *,
                 body_max: int) -> Response:
        """Send one request and read its answer (its body cut at ``body_max + 1`` bytes)."""
        request = _request(method, target, self.key, headers, body)  # ValueError: nothing sent, kept
        try:
            self.sock.sendall(request)
            reader = _Reader(self.sock)
            status, keep = reader.answer(method, body_max)
        except BaseException:
            self.close()
            raise
        if not keep or reader.leftover:
            self.close()  # closed by the server, or bytes no request asked for would spoil the next answer
        else:
            self.reused = True
        return Response(status, reader.body)

    def close(self) -> None:
        self._owner._forget(self)
        self.sock.close()


def _request(method: str, target: str, key: _Key, headers: Mapping[str, str], body: bytes | None) -> bytes:
    _, scheme, host, port = key
    if not _TOKEN.fullmatch(method) or not target.startswith("/") or _UNFIT_TARGET.search(target):
        raise ValueError(f"a request unfit to send: {method} {target[:80]!r}")
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address
    if port != (443 if scheme == "https" else 80):
        shown = f"{shown}:{port}"
    names = {name.lower() for name in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {shown}")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _UNFIT_VALUE.search(value) or name.lower() in _FRAMING:
            raise ValueError(f"a header unfit to send: {name[:40]!r}")
        lines.append(f"{name}: {value}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")  # ValueError (encoding) if unfit
    return head + body if body else head


class _Reader:
    """Reads one answer from a socket into one buffer."""

    __slots__ = ("_buffer", "_received", "_sock", "body", "leftover")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._received = False  # any byte of the answer
        self.body = b""
        self.leftover = False

    def answer(self, method: str, body_max: int) -> tuple[int, bool]:
        """The status, and whether the connection may serve another request."""
        for _ in range(_INTERIM_MAX + 1):
            version, status, fields = self._head()
            if not 100 <= status < 200:
                break  # 1xx: an interim answer; the real one follows
        else:
            raise OSError(errno.EPROTO, "an answer that stays interim")
        tokens = {t.strip() for t in fields.get("connection", "").lower().split(",")}
        keep = "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens)
        coding = fields.get("transfer-encoding", "").lower()
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            pass
        elif coding:
            if coding != "chunked":  # no compression was asked for, so chunked alone
                raise OSError(errno.EPROTO, f"an answer in an unknown transfer coding: {coding[:40]}")
            self.body, complete = self._chunked(body_max)
            keep = keep and complete  # the rest is not read
        elif "content-length" in fields:
            length = fields["content-length"]
            if not (length.isascii() and length.isdigit()) or len(length) > 18:
                raise OSError(errno.EPROTO, f"an answer with a bad length: {length[:40]!r}")
            size = int(length)
            self.body = self._exactly(min(size, body_max + 1))
            keep = keep and size <= body_max  # the rest is not read
        else:
            self.body, keep = self._to_the_end(body_max), False
        self.leftover = bool(self._buffer)
        return status, keep

    def _fill(self) -> bool:
        """Read what the socket has; False at its end."""
        try:
            data = self._sock.recv(_READ_BYTES)
        except ConnectionResetError as exc:
            if self._received:  # cut inside the answer: the server had acted on the request
                raise ConnectionAbortedError("the connection was reset inside an answer") from exc
            raise
        self._received = self._received or bool(data)
        self._buffer += data
        return bool(data)

    def _head(self) -> tuple[str, int, dict[str, str]]:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > HEAD_BYTES_MAX:
                raise OSError(errno.EPROTO, "an answer whose head is too large")
            if not self._fill():
                if not self._buffer:
                    raise ConnectionResetError("the server closed the connection without answering")
                raise ConnectionAbortedError("the connection ended inside an answer's head")
        if end > HEAD_BYTES_MAX:
            raise OSError(errno.EPROTO, "an answer whose head is too large")
        lines = self._buffer[:end].decode("latin-1").split("\r\n")
        del self._buffer[:end + 4]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0") or not (
                len(parts[1]) == 3 and parts[1].isascii() and parts[1].isdigit() and parts[1][0] != "0"):
            raise OSError(errno.EPROTO, f"not an HTTP answer: {lines[0][:60]!r}")
        if len(lines) > HEADERS_MAX + 1:
            raise OSError(errno.EPROTO, "an answer with too many headers")
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                raise OSError(errno.EPROTO, f"a malformed header: {line[:60]!r}")
            name, value = name.lower(), value.strip()
            if name not in fields:
                fields[name] = value
            elif name == "content-length":
                if fields[name] != value:
                    raise OSError(errno.EPROTO, "an answer with two lengths")
            else:
                fields[name] = f"{fields[name]}, {value}"  # a list header given twice
        return parts[0], int(parts[1]), fields

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise ConnectionAbortedError("the connection ended inside an answer's body")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > _CHUNK_LINE_BYTES_MAX:
                raise OSError(errno.EPROTO, "a chunk line too long")
            if not self._fill():
                raise ConnectionAbortedError("the connection ended inside a chunked answer")
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 2]
        return line

    def _chunked(self, body_max: int) -> tuple[bytes, bool]:
        """The body, and whether it was read to its end (not when larger than ``body_max``)."""
        body = bytearray()
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise OSError(errno.EPROTO, f"a bad chunk size: {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > body_max:  # larger than the caller takes: read no further
                body += self._exactly(body_max + 1 - len(body))
                self._buffer.clear()
                return bytes(body), False
            body += self._exactly(size)
            if self._line():
                raise OSError(errno.EPROTO, "a chunk without its line end")
        for _ in range(HEADERS_MAX + 1):  # trailers, ended by an empty line
            if not self._line():
                return bytes(body), True
        raise OSError(errno.EPROTO, "an answer with too many trailers")

    def _to_the_end(self, body_max: int) -> bytes:
        while len(self._buffer) <= body_max and self._fill():
            pass
        data = bytes(self._buffer[:body_max + 1])
        self._buffer.clear()
        return data
