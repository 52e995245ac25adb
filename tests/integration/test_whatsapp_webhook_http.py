"""The webhook's notifications over HTTP: served ahead of FastAPI's routing with the same answers as
the documented route, and answered 200 only once stored (a failed write is a 500 to every caller
of its group, so that Meta delivers again)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from sika.api import problems
from sika.api import whatsapp as whatsapp_api
from sika.chat.messages import Inbound, Reply, Turn
from sika.chat.whatsapp import WhatsApp, store
from sika.chat.whatsapp import service as whatsapp_service
from sika.chat.whatsapp.group_commit import InboxBusy
from sika.chat.whatsapp.schema import inbox

SECRET = "app-secret-for-tests"
WAIT_S_MAX = 10


def notification(*message_ids: str) -> bytes:
    messages = [{"from": "22890112233", "id": message_id, "timestamp": "1700000000", "type": "text",
                 "text": {"body": "Solde"}} for message_id in message_ids]
    changes = [{"field": "messages", "value": {"messaging_product": "whatsapp", "messages": messages}}]
    entry = {"id": "1022", "changes": changes}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(inbox)).scalar_one())


def _dialog(inbound: Inbound) -> Turn:
    return Turn([Reply(inbound.text)])


@pytest.fixture
def service(engine: Engine) -> WhatsApp:
    return WhatsApp(engine, verify_token="verify-me", app_secret=SECRET, graph=None, handler=_dialog)


@pytest.fixture
def app(service: WhatsApp) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    whatsapp_api.include(app, service)
    return app


def test_the_answer_is_the_documented_routes_byte_for_byte(service: WhatsApp, app: FastAPI) -> None:
    routed = FastAPI()  # the router alone, without include(): FastAPI's route serves it
    routed.state.whatsapp = service
    routed.include_router(whatsapp_api.router)
    answers = []
    for served in (app, routed):
        with TestClient(served) as client:
            for message_id in ("wamid.A", "wamid.A"):
                body = notification(message_id)
                answer = client.post(whatsapp_api.PATH, content=body, headers=signed(body))
                answers.append((answer.status_code, answer.headers["content-type"], answer.content))
    assert answers == [(200, "application/json", b'{"received":1}')] + [
        (200, "application/json", b'{"received":0}')] * 3


def test_notifications_are_answered_before_any_route_is_tried(service: WhatsApp) -> None:
    app = FastAPI()

    @app.post("/{anything:path}")
    async def everything(anything: str) -> JSONResponse:
        return JSONResponse({"caught": anything}, status_code=418)

    whatsapp_api.include(app, service)
    with TestClient(app) as client:
        body = notification("wamid.B")
        assert client.post(whatsapp_api.PATH, content=body, headers=signed(body)).json() == {"received": 1}
        assert client.post("/webhooks/whatsapp/", content=body).status_code == 418  # not the webhook's path


def test_a_chunked_body_over_one_mebibyte_is_413_without_reading_it_all(app: FastAPI, engine: Engine) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b" " * (512 * 1024)

    with TestClient(app) as client:
        answer = client.post(whatsapp_api.PATH, content=chunks(), headers={"X-Hub-Signature-256": "x"})
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"
    assert answer.headers["content-type"] == "application/problem+json"
    assert stored(engine) == 0


def test_the_200_comes_only_once_the_messages_are_committed(
        app: FastAPI, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    add_inbounds = store.add_inbounds
    writing = threading.Event()
    release = threading.Event()

    def held(engine: Engine, received: Sequence[store.Received]) -> list[bool]:
        writing.set()
        assert release.wait(WAIT_S_MAX)
        return add_inbounds(engine, received)

    monkeypatch.setattr(whatsapp_service, "add_inbounds", held)
    body = notification("wamid.D")
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        answer = pool.submit(client.post, whatsapp_api.PATH, content=body, headers=signed(body))
        assert writing.wait(WAIT_S_MAX)
        time.sleep(0.05)
        assert not answer.done()
        release.set()
        assert answer.result(WAIT_S_MAX).json() == {"received": 1}
    assert stored(engine) == 1


def test_a_failed_write_is_a_500_problem_to_every_caller_and_the_redelivery_is_stored(
        app: FastAPI, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    add_inbounds = store.add_inbounds
    first_in = threading.Event()
    release = threading.Event()

    def failing(engine: Engine, received: Sequence[store.Received]) -> list[bool]:
        first_in.set()
        assert release.wait(WAIT_S_MAX)  # the others queue up behind this write
        raise ConnectionError("database went away")

    monkeypatch.setattr(whatsapp_service, "add_inbounds", failing)
    bodies = [notification(f"wamid.C{n}") for n in range(4)]
    with TestClient(app, raise_server_exceptions=False) as client, ThreadPoolExecutor(4) as pool:
        def post(body: bytes) -> tuple[int, str]:
            answer = client.post(whatsapp_api.PATH, content=body, headers=signed(body))
            return answer.status_code, answer.json()["code"]

        answers = [pool.submit(post, bodies[0])]
        assert first_in.wait(WAIT_S_MAX)
        answers += [pool.submit(post, body) for body in bodies[1:]]
        release.set()
        assert [answer.result(WAIT_S_MAX) for answer in answers] == [(500, "internal_error")] * 4
        assert stored(engine) == 0

        monkeypatch.setattr(whatsapp_service, "add_inbounds", add_inbounds)
        redelivered = [client.post(whatsapp_api.PATH, content=body, headers=signed(body)) for body in bodies]
    assert [answer.json() for answer in redelivered] == [{"received": 1}] * 4
    assert stored(engine) == 4


def test_a_busy_inbox_is_a_503_problem_with_retry_after_and_the_redelivery_is_stored(
        app: FastAPI, service: WhatsApp, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    async def busy(raw_body: bytes) -> int:
        raise InboxBusy("10000 writes wait for the inbox already")

    body = notification("wamid.E")
    with TestClient(app) as client:
        with monkeypatch.context() as patched:
            patched.setattr(service, "receive_async", busy)
            answer = client.post(whatsapp_api.PATH, content=body, headers=signed(body))
        assert answer.status_code == 503 and answer.json()["code"] == "whatsapp_inbox_busy"
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == str(whatsapp_api.RETRY_AFTER_S)
        assert stored(engine) == 0
        assert client.post(whatsapp_api.PATH, content=body, headers=signed(body)).json() == {"received": 1}
    assert stored(engine) == 1


@pytest.mark.parametrize(("declared", "status"), [("²", 401), ("9" * 5_000, 413), ("-1", 401),
                                                  ("2000000", 413)])
def test_a_content_length_anyone_could_type_is_never_a_500(app: FastAPI, declared: str, status: int) -> None:
    """Straight to the ASGI app, as a lenient proxy would pass the header on."""
    sent: list[MutableMapping[str, Any]] = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": whatsapp_api.PATH, "raw_path": whatsapp_api.PATH.encode(),
             "query_string": b"", "root_path": "", "server": ("test", 80), "client": ("test", 1),
             "headers": [(b"content-length", declared.encode("latin-1")),
                         (b"x-hub-signature-256", b"sha256=00")]}

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == status
