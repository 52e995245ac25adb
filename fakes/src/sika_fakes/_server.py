"""What every provider fake shares: an HTTP server on 127.0.0.1, latency, injected failures, and one
thread that delivers callbacks late, twice or never.

A fake is a :class:`FakeServer` subclass with a route table (``(method, path prefix) -> handler``).
Handlers get a :class:`Request` and return ``(status, body)`` where a dict or list body is sent as
JSON and ``str`` as HTML. Callbacks go through :class:`Deliveries`: scheduled on one background
thread (the number of threads stays fixed however many orders are in flight), sent by HTTP POST, or
handed to a ``deliver`` function (the in-process relay of a Sika without a public URL).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from sika_fakes.behaviour import Behaviour

__all__ = ["Deliver", "Deliveries", "FakeServer", "Handler", "Request", "Response"]

log = logging.getLogger(__name__)

REQUEST_BYTES_MAX = 256 * 1024
CALLBACK_TIMEOUT_S = 10.0
_JOIN_S_MAX = 5.0
# How often an idle server looks for a shutdown: rarely, since close() wakes it at once (_stop). The
# fakes run inside Sika's processes (SIKA_PROVIDERS=sandbox|instant); polling four of them every 20 ms
# cost an idle process 1.4 % of a core.
POLL_S = 1.0
_WAKE_S = 0.05
# (url, headers, body) -> HTTP status: how a callback reaches Sika without HTTP.
Deliver = Callable[[str, Mapping[str, str], bytes], int]
Response = tuple[int, Any]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, RecursionError):
            return None

    def form(self) -> dict[str, str]:
        try:
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True, max_num_fields=100))
        except (UnicodeDecodeError, ValueError):
            return {}


Handler = Callable[[Request], Response]


class FakeServer:
    """A fake provider's HTTP server. ``routes`` maps (method, path prefix) to a handler."""

    name = "fake"

    def __init__(self, behaviour: Behaviour | None = None, *, port: int = 0) -> None:
        self.behaviour = behaviour if behaviour is not None else Behaviour()
        # Reproducible on purpose: a seed replays the same fates; nothing here is a secret.
        self.random = random.Random(f"{self.behaviour.seed}/{self.name}")  # noqa: S311
        self.lock = threading.RLock()
        self.deliveries = Deliveries(name=f"{self.name}-callbacks", scheduled_max=self.behaviour.orders_max)
        self.requests: list[tuple[str, str]] = []
        self._fail_next: list[int] = []
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def routes(self) -> dict[tuple[str, str], Handler]:
        raise NotImplementedError

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Self:
        assert self._server is None, "already started"
        self._server = _Server(self, self._port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": POLL_S},
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.deliveries.close()
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        _stop(server, thread)
        thread.join()
        server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """True once every scheduled settlement and callback has run."""
        return self.deliveries.wait_idle(timeout_s)

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` before looking at them (an outage)."""
        with self.lock:
            self._fail_next.extend([status] * count)

    # Serving -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append((request.method, request.path))
            del self.requests[:-1000]
            failure = self._fail_next.pop(0) if self._fail_next else None
        self.pause()
        if failure is not None:
            return failure, {"error": "injected failure"}
        best: tuple[int, Handler] | None = None
        for (method, prefix), handler in self.routes().items():
            matches = request.path == prefix or (prefix.endswith("/") and request.path.startswith(prefix))
            if method == request.method and matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), handler)
        if best is None:
            return 404, {"error": f"no route {request.method} {request.path}"}
        return best[1](request)

    def pause(self, seconds: float | None = None) -> None:
        """Sleep like a provider that takes its time (the behaviour's latency by default)."""
        b = self.behaviour
        if seconds is None:
            if b.latency_s_max <= 0:
                return
            with self.lock:
                seconds = self.random.uniform(b.latency_s_min, b.latency_s_max)
        time.sleep(seconds)

    def callback_delay_s(self) -> float:
        b = self.behaviour
        with self.lock:
            return self.random.uniform(b.callback_delay_s_min, b.callback_delay_s_max)


class Deliveries:
    """Delayed actions on one thread: settling orders, sending callbacks."""

    def __init__(self, *, name: str, scheduled_max: int) -> None:
        assert scheduled_max > 0
        self._name = name
        self._scheduled_max = scheduled_max
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._running = 0
        self._closed = False
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self.sent: list[tuple[str, int]] = []

    def schedule(self, delay_s: float, action: Callable[[], None]) -> bool:
        """Whether it was scheduled (not when closed or full: a provider that drops callbacks)."""
        assert delay_s >= 0, delay_s
        with self._condition:
            if self._closed or len(self._heap) >= self._scheduled_max:
                return False
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._sequence), action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify_all()
            return True

    def post(self, url: str, body: bytes, headers: Mapping[str, str], deliver: Deliver | None) -> int:
        """Send one callback now: to ``deliver`` when given, else by HTTP; its answer's status."""
        if deliver is not None:
            status = deliver(url, headers, body)
        else:
            request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=CALLBACK_TIMEOUT_S) as answer:  # noqa: S310
                    status = int(answer.status)
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError) as exc:
                log.info("%s: callback to %s failed: %s", self._name, url, exc)
                status = 0
        with self._condition:
            self.sent.append((url, status))
            del self.sent[:-1000]
        return status

    def wait_idle(self, timeout_s: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: not self._heap and self._running == 0, timeout_s)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._heap.clear()
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_S_MAX)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout_s = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout_s)
                if self._closed:
                    return
                _, _, action = heapq.heappop(self._heap)
                self._running += 1
            try:
                action()
            except Exception:
                log.exception("%s: a scheduled delivery raised", self._name)
            finally:
                with self._condition:
                    self._running -= 1
                    self._condition.notify_all()


def _stop(server: _Server, serving: threading.Thread) -> None:
    """``server.shutdown()`` without waiting for the next poll: the serving loop sleeps in its
    selector until a connection comes, so connections are made until the shutdown has been seen
    (each one wakes the loop; one that comes first is served as an empty request and dropped).
    A loop that is not running (its thread is gone) is not waited for."""
    if not serving.is_alive():
        return
    stopper = threading.Thread(target=server.shutdown, name="fake-stop", daemon=True)
    stopper.start()
    host, port = server.server_address[:2]
    while stopper.is_alive() and serving.is_alive():
        with contextlib.suppress(OSError), socket.create_connection((str(host), int(port)), timeout=_WAKE_S):
            pass
        stopper.join(_WAKE_S)


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str
    extra: dict[str, str] = field(default_factory=dict)


def _encode(status: int, body: Any) -> _Answer:
    if isinstance(body, str):
        return _Answer(status, body.encode(), "text/html; charset=utf-8")
    if body is None:
        return _Answer(status, b"", "application/json")
    return _Answer(status, json.dumps(body).encode(), "application/json")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > REQUEST_BYTES_MAX:
            self._write(_encode(413, {"error": "bad length"}))
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, dict(parse_qsl(parts.query)),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        status, answer = self.server.fake.handle(request)
        self._write(_encode(status, answer))

    def _write(self, answer: _Answer) -> None:
        with contextlib.suppress(OSError):  # a client that gave up (its timeout) is gone
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeServer, port: int) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()
