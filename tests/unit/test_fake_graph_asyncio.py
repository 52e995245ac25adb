"""``FakeGraph(serving="asyncio")``, the lean mode ``sika bench whatsapp`` uses: the same answers and
records as the threaded mode through the real Cloud API client, and a strict little HTTP/1.1 parser."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from sika.chat.messages import Choice, Reply
from sika.chat.whatsapp.graph import GraphClient, GraphError
from sika.chat.whatsapp.render import render
from sika_fakes.graph import HEAD_BYTES_MAX, FakeGraph, Serving, validate

AMA = "+22890112233"


@pytest.fixture(params=["threads", "asyncio"])
def graph(request: pytest.FixtureRequest) -> Iterator[FakeGraph]:
    serving: Serving = request.param
    with FakeGraph(serving=serving) as fake:
        yield fake


@pytest.fixture
def lean() -> Iterator[FakeGraph]:
    with FakeGraph(serving="asyncio") as fake:
        yield fake


def client_for(fake: FakeGraph) -> GraphClient:
    return GraphClient(fake.url, fake.phone_number_id, fake.token, rate_per_s=10_000.0, backoff_s=0.0,
                       retries=0)


def menu() -> list[Choice]:
    return [Choice(id=f"c{index}", title=f"Option {index}") for index in range(6)]


def exchange(fake: FakeGraph, *requests: bytes) -> bytes:
    """Send raw bytes on one connection; everything the fake answers until it closes or goes quiet."""
    host, port = fake.url.removeprefix("http://").split("/", 1)[0].split(":")
    answers = b""
    with socket.create_connection((host, int(port)), timeout=2) as connection:
        for request in requests:
            connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        while chunk := connection.recv(65_536):
            answers += chunk
    return answers


def post(fake: FakeGraph, body: bytes, *, extra: str = "", token: str | None = None) -> bytes:
    return (f"POST /{fake.version}/{fake.phone_number_id}/messages HTTP/1.1\r\nHost: graph\r\n"
            f"Authorization: Bearer {token or fake.token}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def statuses(answers: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", answers)]


def test_both_modes_accept_and_record_what_the_client_sends(graph: FakeGraph) -> None:
    bodies = [body for reply in (Reply("Bonjour"), Reply("Votre solde : 12 500 F\n\nMenu", menu()),
                                 Reply("x " * 3_000)) for body in render(AMA, reply)]
    with client_for(graph) as client:
        wamids = [client.send(body) for body in bodies]
    assert len(set(wamids)) == len(bodies) and all(w.startswith("wamid.") for w in wamids)
    assert [sent.body for sent in graph.sent] == bodies and [s.wamid for s in graph.sent] == wamids
    assert graph.rejected == [] and graph.requests == len(bodies) and graph.wait_for(len(bodies), 0)


def test_both_modes_refuse_and_fail_alike(graph: FakeGraph) -> None:
    broken = render(AMA, Reply("?", menu()))[0]
    broken["interactive"]["action"]["sections"][0]["rows"][0]["title"] = "y" * 25
    graph.fail_next(1, error_code=130429)
    with client_for(graph) as client:
        with pytest.raises(GraphError) as throttled:
            client.send(render(AMA, Reply("Reçu"))[0])
        with pytest.raises(GraphError) as refused:
            client.send(broken)
    assert (throttled.value.http_status, throttled.value.error_code) == (400, 130429)
    assert (refused.value.http_status, refused.value.error_code) == (400, 131009)
    problem = validate(broken)
    assert problem is not None and graph.rejected == [(broken, problem.details)] and graph.sent == []


def test_wamids_stay_unique_across_fakes() -> None:
    body = render(AMA, Reply("Bonjour"))[0]
    with FakeGraph(serving="asyncio") as first, FakeGraph(serving="asyncio") as second:
        for fake in (first, second):
            with client_for(fake) as client:
                client.send(body)
        assert first.sent[0].wamid != second.sent[0].wamid


def test_the_lean_mode_answers_pipelined_requests_in_order_on_one_connection(lean: FakeGraph) -> None:
    good = json.dumps(render(AMA, Reply("Bonjour"))[0]).encode()
    answers = exchange(lean, post(lean, good), post(lean, b"{}"), post(lean, good, token="wrong"),
                       post(lean, good))
    assert statuses(answers) == [200, 400, 401, 200]
    assert len(lean.sent) == 2 and lean.requests == 4
    first = json.loads(answers.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1", 1)[0])
    assert first["messages"][0]["id"] == lean.sent[0].wamid


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"POST /v21.0/x/messages HTTP/2.0\r\nContent-Length: 0\r\n\r\n", 400),
    (b"POST /v21.0/x/messages HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
    (b"POST /v21.0/x/messages HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    (b"POST /v21.0/x/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /v21.0/x/messages HTTP/1.1\r\nHost: graph\r\n\r\n", 411),
    (b"POST /v21.0/x/messages HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"GET /v21.0/x/messages HTTP/1.1\r\nHost: graph\r\n\r\n", 501),
])
def test_the_lean_mode_refuses_what_it_cannot_frame_and_closes(lean: FakeGraph, request_bytes: bytes,
                                                               status: int) -> None:
    answers = exchange(lean, request_bytes)  # which reads until the fake closes the connection
    assert statuses(answers) == [status] and b"Connection: close" in answers
    assert lean.requests == 0


def test_the_lean_mode_refuses_a_head_too_long(lean: FakeGraph) -> None:
    # Exactly one byte too many, all of it read by the fake: it closes without resetting.
    answers = exchange(lean, b"POST /" + b"a" * (HEAD_BYTES_MAX - 5))
    assert statuses(answers) == [400] and lean.requests == 0


def test_the_lean_mode_closes_after_connection_close(lean: FakeGraph) -> None:
    good = json.dumps(render(AMA, Reply("Bonjour"))[0]).encode()
    # In one write, so that the fake has read it all when it closes (else the close would reset).
    answers = exchange(lean, post(lean, good, extra="Connection: close\r\n") + post(lean, good))
    assert statuses(answers) == [200] and len(lean.sent) == 1


def test_stopping_the_lean_mode_drops_kept_alive_connections() -> None:
    fake = FakeGraph(serving="asyncio").start()
    client = client_for(fake)
    try:
        client.send(render(AMA, Reply("Bonjour"))[0])
    finally:
        fake.stop()  # returns although the client's connection is still open
        client.close()
    assert len(fake.sent) == 1


def _answer_of(fake: FakeGraph, body: dict[str, Any]) -> dict[str, Any]:
    answers = exchange(fake, post(fake, json.dumps(body).encode()))
    parsed: dict[str, Any] = json.loads(answers.split(b"\r\n\r\n", 1)[1])
    return parsed


def test_the_lean_mode_answers_as_meta_does(lean: FakeGraph) -> None:
    accepted = _answer_of(lean, render(AMA, Reply("Bonjour"))[0])
    to = lean.sent[0].body["to"]
    assert accepted == {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": AMA[1:]}],
                        "messages": [{"id": lean.sent[0].wamid}]}
    refused = _answer_of(lean, {"messaging_product": "whatsapp", "to": AMA, "type": "sticker"})
    assert refused["error"]["code"] == 131009 and "sticker" in refused["error"]["message"]
