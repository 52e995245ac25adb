"""The load generator of ``sika bench whatsapp``: every request sent, in order per client, answers
timed and counted by status, pacing kept, and failures (timeouts, resets, odd answers) counted, not
fatal."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sika.bench.webhook_load import WebhookLoad
from sika.chat.messages import Reply
from sika.chat.whatsapp.render import render
from sika_fakes.graph import FakeGraph


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph(serving="asyncio") as fake:
        yield fake


def address(fake: FakeGraph) -> tuple[str, int]:
    host, port = fake.url.removeprefix("http://").split("/", 1)[0].split(":")
    return host, int(port)


def request(fake: FakeGraph, text: str, *, token: str | None = None, extra: str = "") -> bytes:
    body = json.dumps(render("+22890112233", Reply(text))[0]).encode()
    return (f"POST /{fake.version}/{fake.phone_number_id}/messages HTTP/1.1\r\nHost: graph\r\n"
            f"Authorization: Bearer {token or fake.token}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def test_every_request_is_answered_in_each_clients_order(graph: FakeGraph) -> None:
    per_client = [[request(graph, f"{client}:{n}") for n in range(30)] for client in range(4)]
    load = WebhookLoad(*address(graph), per_client)
    began_s = load.start()
    result = load.join()
    assert not load.running and result.began_s == began_s <= result.finished_s
    assert len(result.latencies_s) == 120 and all(s > 0 for s in result.latencies_s) and not result.errors
    for client in range(4):
        texts = [sent.text for sent in graph.sent if sent.text.startswith(f"{client}:")]
        assert texts == [f"{client}:{n}" for n in range(30)]


def test_answers_other_than_200_are_counted_by_status(graph: FakeGraph) -> None:
    graph.fail_next(3)
    # One client: the failures go to its first three requests (any request takes the next failure).
    requests = [request(graph, "a")] * 5 + [request(graph, "b", token="wrong")] * 2
    load = WebhookLoad(*address(graph), [requests])
    load.start()
    result = load.join()
    assert result.errors == {"500": 3, "401": 2} and len(result.latencies_s) == 7


def test_a_connection_the_server_closes_is_opened_again(graph: FakeGraph) -> None:
    closing = [request(graph, str(n), extra="Connection: close\r\n") for n in range(5)]
    load = WebhookLoad(*address(graph), [closing])
    load.start()
    assert not load.join().errors and [s.text for s in graph.sent] == [str(n) for n in range(5)]


def test_the_rate_paces_all_clients_together(graph: FakeGraph) -> None:
    # 20 requests at 100 a second: the last is due (9 + 1/2) * 2 / 100 = 0.19 s after the start.
    load = WebhookLoad(*address(graph), [[request(graph, "x")] * 10] * 2, rate_per_s=100.0)
    load.start()
    result = load.join()
    # (less a millisecond: the event loop may wake a timer that much early)
    assert 0.189 <= result.finished_s - result.began_s < 2.0 and not result.errors


def test_a_server_that_does_not_answer_costs_timeouts_not_the_run() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody answers
        load = WebhookLoad("127.0.0.1", silent.getsockname()[1], [[b"POST / HTTP/1.1\r\n\r\n"] * 2],
                           timeout_s=0.1)
        load.start()
        result = load.join()
    assert result.errors == {"TimeoutError": 2} and len(result.latencies_s) == 2


def test_a_refused_connection_fails_the_start() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    load = WebhookLoad("127.0.0.1", port, [[b"x"]])
    with pytest.raises(ConnectionRefusedError):
        load.start()
    with pytest.raises(ConnectionRefusedError):
        load.join()


@contextmanager
def answering(answer: bytes) -> Iterator[int]:
    """A server that answers ``answer`` to whatever arrives; its port."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            while self.request.recv(65_536):
                self.request.sendall(answer)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            thread.join()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nno length",
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
])
def test_answers_that_cannot_be_framed_are_counted(answer: bytes) -> None:
    with answering(answer) as port:
        load = WebhookLoad("127.0.0.1", port, [[b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"] * 3])
        load.start()
        result = load.join()
    assert result.errors == {"BadAnswer": 3}
