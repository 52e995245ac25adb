"""WhatsApp end to end on a real database: the signed webhook stores each message once whatever the
races, workers hand it to the dialog once and in order, answers reach a fake Cloud API within Meta's
rules (templates outside the 24-hour window), failures are retried without asking the dialog again,
and secrets do not stay in the database."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_support import FakeClock
from reads_support import statements_run
from sqlalchemy import Engine, func, select

from sika.api import whatsapp as whatsapp_api
from sika.chat.messages import MASK, Attachment, Choice, Inbound, InboundKind, Reply, Turn
from sika.chat.whatsapp import GraphClient, WhatsApp
from sika.chat.whatsapp import sender as sender_module
from sika.chat.whatsapp.schema import contacts, inbox, outbound
from sika.chat.whatsapp.service import INBOX_ATTEMPTS_MAX
from sika.db import create_db_engine
from sika.migration import upgrade
from sika.payments.outbox import Message
from sika.payments.queue import claim_due
from sika_fakes.graph import FakeGraph

AMA, KOFI = "22890112233", "22897112233"
SECRET, TOKEN = "app-secret-for-tests", "verify-me"
HOUR_NS = 3600 * 10**9
_ids = itertools.count()


class Dialog:
    """Stands in for the dialog engine: remembers what it was given, answers with ``answer``."""

    def __init__(self) -> None:
        self.seen: list[Inbound] = []
        self._lock = threading.Lock()
        self.answer: Callable[[Inbound], Turn] = lambda inbound: Turn(
            [Reply(f"Vous avez dit : {inbound.text}")])

    def __call__(self, inbound: Inbound) -> Turn:
        with self._lock:
            self.seen.append(inbound)
        return self.answer(inbound)


def text_message(body: str, *, sender: str = AMA, at_s: int = 1_700_000_000,
                 message_id: str | None = None) -> dict[str, Any]:
    return {"from": sender, "id": message_id or f"wamid.HBgL{next(_ids)}", "timestamp": str(at_s),
            "type": "text", "text": {"body": body}}


def notification(*messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> bytes:
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "22870000000", "phone_number_id": "1065"},
                             "contacts": [{"profile": {"name": "Ama"}, "wa_id": m["from"]} for m in messages],
                             "messages": list(messages)}
    if statuses:
        value["statuses"] = statuses
    entry = {"id": "1022", "changes": [{"field": "messages", "value": value}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def rows(engine: Engine, table: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(table).order_by(table.c.id)).mappings())


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def dialog() -> Dialog:
    return Dialog()


@pytest.fixture
def service(engine: Engine, graph: FakeGraph, dialog: Dialog, clock: FakeClock) -> Iterator[WhatsApp]:
    clock.now_ns = 1_700_000_000 * 10**9 + 5 * 10**9
    with GraphClient(graph.url, graph.phone_number_id, graph.token, retries=1, backoff_s=0.0,
                     rate_per_s=10_000.0) as client:
        yield WhatsApp(engine, verify_token=TOKEN, app_secret=SECRET, graph=client, handler=dialog,
                       clock_ns=clock)


@pytest.fixture
def client(service: WhatsApp) -> Iterator[TestClient]:
    app = FastAPI()
    whatsapp_api.include(app, service)
    with TestClient(app) as test_client:
        yield test_client


# The webhook ------------------------------------------------------------------------------------------

def test_the_handshake_echoes_the_challenge_for_our_token_only(client: TestClient) -> None:
    ok = client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": TOKEN,
                                                  "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text, ok.headers["content-type"].split(";")[0]) == (200, "1158201444",
                                                                                  "text/plain")
    wrong = client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                     "hub.challenge": "1158201444"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "forbidden"
    assert client.get("/webhooks/whatsapp").status_code == 403


def test_the_webhook_is_404_while_whatsapp_is_off(engine: Engine, dialog: Dialog) -> None:
    off = WhatsApp(engine, verify_token=None, app_secret=SECRET, graph=None, handler=dialog)
    for service in (off, None):
        app = FastAPI()
        whatsapp_api.include(app, service)
        with TestClient(app) as test_client:
            body = notification(text_message("x"))
            answers = [test_client.get("/webhooks/whatsapp", params={"hub.verify_token": TOKEN}),
                       test_client.post("/webhooks/whatsapp", content=body, headers=signed(body))]
        assert [(a.status_code, a.json()["code"]) for a in answers] == [(404, "whatsapp_off")] * 2
    assert count(engine, inbox) == 0


def test_a_missing_or_wrong_signature_is_401_and_nothing_is_stored(client: TestClient,
                                                                   engine: Engine) -> None:
    body = notification(text_message("Bonjour"))
    forged = client.post("/webhooks/whatsapp", content=body,
                         headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
    missing = client.post("/webhooks/whatsapp", content=body)
    tampered = client.post("/webhooks/whatsapp", content=body.replace(b"Bonjour", b"Bonsoir"),
                           headers=signed(body))
    assert [r.status_code for r in (forged, missing, tampered)] == [401, 401, 401]
    assert forged.json()["code"] == "invalid_signature"
    assert count(engine, inbox) == 0


def test_a_body_over_one_mebibyte_is_413(client: TestClient, engine: Engine) -> None:
    body = notification(text_message("x" * (1024 * 1024)))
    answer = client.post("/webhooks/whatsapp", content=body, headers=signed(body))
    assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"
    assert count(engine, inbox) == 0


def test_signed_junk_is_answered_200_so_that_meta_does_not_retry_it_and_nothing_is_stored(
        client: TestClient, engine: Engine) -> None:
    for junk in (b"", b"not json", b"\xff\xfe\x00", b"[]", b'{"object": "page"}', b"[" * 100_000,
                 b'{"entry": [{"changes": [{"value": {"messages": [{"from": "x"}]}}]}]}'):
        answer = client.post("/webhooks/whatsapp", content=junk, headers=signed(junk))
        assert answer.status_code == 200 and answer.json() == {"received": 0}, junk[:40]
    assert count(engine, inbox) == 0


def test_a_message_delivered_twice_is_stored_once_and_opens_the_window(
        client: TestClient, engine: Engine, service: WhatsApp) -> None:
    body = notification(text_message("Solde"))
    first = client.post("/webhooks/whatsapp", content=body, headers=signed(body))
    again = client.post("/webhooks/whatsapp", content=body, headers=signed(body))
    assert (first.json(), again.json()) == ({"received": 1}, {"received": 0})
    (row,) = rows(engine, inbox)
    assert (row["msisdn"], row["kind"], row["text"], row["status"]) == (
        "+22890112233", "text", "Solde", "queued")
    assert json.loads(row["payload_json"])["profile_name"] == "Ama"
    assert service.window_open("+22890112233") and not service.window_open("+22897112233")


def test_eight_concurrent_deliveries_store_one_row_and_four_workers_hand_it_to_the_dialog_once(
        client: TestClient, engine: Engine, service: WhatsApp, dialog: Dialog, graph: FakeGraph) -> None:
    body = notification(text_message("Bonjour"))
    start = threading.Barrier(8)

    def post(_: int) -> int:
        start.wait()
        return client.post("/webhooks/whatsapp", content=body, headers=signed(body)).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(post, range(8))) == [200] * 8
    assert count(engine, inbox) == 1

    workers = threading.Barrier(4)

    def work(_: int) -> int:
        workers.wait()
        return service.process_inbox()

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(work, range(4))) == 1
    assert [inbound.text for inbound in dialog.seen] == ["Bonjour"]
    assert graph.texts_to("+22890112233") == ["Vous avez dit : Bonjour"]


# The inbox and the dialog -------------------------------------------------------------------------------

def test_a_handled_message_is_done_and_its_answers_are_sent_in_order_within_meta_limits(
        engine: Engine, service: WhatsApp, dialog: Dialog, graph: FakeGraph) -> None:
    menu = [Choice(f"op{n}", f"Opération numéro {n} du menu principal") for n in range(12)]
    dialog.answer = lambda _inbound: Turn([Reply("Bienvenue chez Sika"),
                                           Reply("Que voulez-vous faire ?", menu)])
    assert service.receive(notification(text_message("menu"))) == 1
    assert service.process_inbox() == 1
    # The greeting and the question go as one message (12 choices: two lists of at most 10 rows).
    assert [sent.body["type"] for sent in graph.sent] == ["interactive", "interactive"]
    first = graph.sent[0].body["interactive"]["body"]["text"]
    assert first == "Bienvenue chez Sika\n\nQue voulez-vous faire ?"
    assert graph.rejected == []
    (row,) = rows(engine, inbox)
    assert row["status"] == "done" and row["handled_at_ns"] is not None
    sent = rows(engine, outbound)
    assert [r["status"] for r in sent] == ["sent"] * 2
    assert [r["wamid"] for r in sent] == [s.wamid for s in graph.sent]
    assert service.process_inbox() == 0


def test_a_choice_and_a_location_reach_the_dialog_as_channel_neutral_messages(
        service: WhatsApp, dialog: Dialog) -> None:
    tapped = {"from": AMA, "id": "wamid.tap", "timestamp": "1700000000", "type": "interactive",
              "interactive": {"type": "button_reply",
                              "button_reply": {"id": "confirm", "title": "Confirmer"}}}
    where = {"from": AMA, "id": "wamid.loc", "timestamp": "1700000000", "type": "location",
             "location": {"latitude": 6.13, "longitude": 1.22, "name": "Déckon"}}
    service.receive(notification(tapped, where))
    service.process_inbox()
    choice, location = dialog.seen
    assert (choice.kind, choice.choice_id, choice.text) == (InboundKind.CHOICE, "confirm", "Confirmer")
    assert location.kind is InboundKind.LOCATION and location.location is not None
    assert location.location.name == "Déckon"


def test_a_pin_is_masked_in_the_inbox_once_the_dialog_says_it_was_secret(
        engine: Engine, service: WhatsApp, dialog: Dialog) -> None:
    dialog.answer = lambda _inbound: Turn([Reply("Transfert effectué.")], secret_input=True)
    service.receive(notification(text_message("4821")))
    service.process_inbox()
    assert dialog.seen[0].text == "4821"
    (row,) = rows(engine, inbox)
    assert row["text"] == MASK and json.loads(row["payload_json"])["text"] == MASK
    assert "4821" not in json.dumps(dict(row), default=str)


def test_a_failing_dialog_is_retried_later_and_given_up_without_logging_what_was_written(
        engine: Engine, service: WhatsApp, dialog: Dialog, clock: FakeClock,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(inbound: Inbound) -> Turn:
        raise RuntimeError(f"cannot handle {inbound.text}")

    dialog.answer = broken
    service.receive(notification(text_message("mon code secret 4821")))
    with caplog.at_level(logging.INFO):
        for _ in range(INBOX_ATTEMPTS_MAX):
            assert service.process_inbox() == 1
            assert service.process_inbox() == 0  # backing off
            clock.advance(3600)
    (row,) = rows(engine, inbox)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "failed", INBOX_ATTEMPTS_MAX, "RuntimeError")
    assert len(dialog.seen) == INBOX_ATTEMPTS_MAX
    assert "given up" in caplog.text and "4821" not in caplog.text


def test_messages_of_one_person_are_handled_in_the_order_they_came(
        service: WhatsApp, dialog: Dialog, clock: FakeClock, graph: FakeGraph) -> None:
    failures = iter([True])

    def flaky(inbound: Inbound) -> Turn:
        if inbound.text == "1" and next(failures, False):
            raise TimeoutError("the ledger was busy")
        return Turn([Reply(f"réponse {inbound.text}")])

    dialog.answer = flaky
    service.receive(notification(text_message("1")))
    service.receive(notification(text_message("2")))
    service.receive(notification(text_message("autre", sender=KOFI)))
    assert service.process_inbox() == 3
    assert graph.texts_to(KOFI) == ["réponse autre"] and graph.texts_to(AMA) == []  # "2" waits for "1"
    clock.advance(60)
    service.process_inbox()
    service.process_inbox()
    clock.advance(1)
    service.process_inbox()
    assert graph.texts_to(AMA) == ["réponse 1", "réponse 2"]
    assert [inbound.text for inbound in dialog.seen if inbound.msisdn == "+" + AMA] == ["1", "1", "2"]


# Sending ----------------------------------------------------------------------------------------------

def test_a_send_that_fails_is_retried_from_the_queue_without_asking_the_dialog_again(
        engine: Engine, service: WhatsApp, dialog: Dialog, graph: FakeGraph, clock: FakeClock) -> None:
    dialog.answer = lambda _inbound: Turn([Reply("premier"), Reply("second")])
    graph.fail_next(2, status=500)  # the client's one retry fails too
    service.receive(notification(text_message("bonjour")))
    service.process_inbox()
    assert graph.sent == [] and [r["status"] for r in rows(engine, outbound)] == ["queued", "queued"]
    service.send_due()
    assert graph.sent == []  # the first backs off, and the second waits behind it
    clock.advance(60)
    service.send_due()
    assert graph.texts_to(AMA) == ["premier", "second"] and len(dialog.seen) == 1
    assert [r["status"] for r in rows(engine, outbound)] == ["sent", "sent"]


def test_the_queue_renews_a_lease_only_once_half_of_it_has_run_out(
        engine: Engine, service: WhatsApp, dialog: Dialog, graph: FakeGraph, clock: FakeClock, *,
        monkeypatch: pytest.MonkeyPatch) -> None:
    dialog.answer = lambda inbound: Turn([Reply(f"pour {inbound.msisdn}")])
    graph.fail_next(4, status=500)  # each person's answer, and the client's one retry of it
    service.receive(notification(text_message("bonjour"), text_message("salut", sender=KOFI)))
    service.process_inbox()
    assert graph.sent == [] and [r["status"] for r in rows(engine, outbound)] == ["queued", "queued"]
    clock.advance(60)
    client = service._sender.graph
    assert client is not None
    send = client.send

    def slow_send(body: dict[str, Any]) -> str:
        wamid = send(body)
        clock.advance(200)  # a Graph API that takes its time: two thirds of the lease gone
        return wamid

    monkeypatch.setattr(client, "send", slow_send)
    with statements_run(engine) as run:
        assert service.send_due() == 2
    renewals = [sql for sql in run if sql.startswith("UPDATE wa_outbound SET lease_until_ns")]
    assert len(renewals) == 1  # the second row alone: the claim had just leased the first
    assert graph.texts_to(AMA) == ["pour +" + AMA] and graph.texts_to(KOFI) == ["pour +" + KOFI]
    assert [r["status"] for r in rows(engine, outbound)] == ["sent", "sent"]


def test_a_person_s_answers_sent_slowly_keep_their_lease_so_no_other_worker_sends_them_too(
        engine: Engine, service: WhatsApp, dialog: Dialog, graph: FakeGraph, clock: FakeClock, *,
        monkeypatch: pytest.MonkeyPatch) -> None:
    dialog.answer = lambda inbound: Turn([Reply("première"), Reply("seconde")])
    client = service._sender.graph
    assert client is not None
    send = client.send
    taken_by_another: list[Any] = []

    def slow_send(body: dict[str, Any]) -> str:
        wamid = send(body)
        clock.advance(200)  # a Graph API that takes its time
        # Another worker's pass over the queue, meanwhile: it must find nothing of Ama's to take.
        taken_by_another.extend(claim_due(engine, outbound, now_ns=clock(), limit=10, lease_s=300))
        return wamid

    monkeypatch.setattr(client, "send", slow_send)
    service.receive(notification(text_message("bonjour")))
    service.process_inbox()
    # The second answer's lease had 100 s left after the first send: renewed before it went.
    assert taken_by_another == []
    assert graph.texts_to(AMA) == ["première", "seconde"]
    assert [r["status"] for r in rows(engine, outbound)] == ["sent", "sent"]


def _signal_records(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set once the sender records sends (the write a slow pass must make in time)."""
    recorded = threading.Event()
    record = sender_module.sent_outbounds

    def recording(engine_: Engine, sent: Any, *, now_ns: int) -> None:
        record(engine_, sent, now_ns=now_ns)
        if sent:
            recorded.set()

    monkeypatch.setattr(sender_module, "sent_outbounds", recording)
    return recorded


def test_answers_to_several_people_sent_slowly_are_recorded_before_their_leases_run_out(
        engine: Engine, service: WhatsApp, dialog: Dialog, graph: FakeGraph, clock: FakeClock, *,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The pass's thread first waits for every send, for as long as the first lease stays fresh, then
    # wakes at each person's end: a lease ages after half a second of it here (not 30 s of the real
    # clock, which this fake one outruns), so that the test need not wait that long.
    monkeypatch.setattr(sender_module, "FRESH_LEASE_S", 0.5)
    dialog.answer = lambda inbound: Turn([Reply(f"pour {inbound.msisdn}")])
    client = service._sender.graph
    assert client is not None
    send = client.send
    recorded = _signal_records(monkeypatch)
    taken_by_another: list[Any] = []
    sends = itertools.count()

    def slow_send(body: dict[str, Any]) -> str:
        wamid = send(body)
        clock.advance(200)  # a Graph API that takes its time
        if next(sends) == 1:  # Kofi's, after Ama's: another worker's pass over the queue meanwhile
            recorded.wait(10)
            taken_by_another.extend(claim_due(engine, outbound, now_ns=clock(), limit=10, lease_s=300))
        return wamid

    monkeypatch.setattr(client, "send", slow_send)
    # One sending thread: Ama's answer goes first, then Kofi's, 200 s each.
    service._sender._sender_pool = ThreadPoolExecutor(1)
    service.receive(notification(text_message("bonjour"), text_message("salut", sender=KOFI)))
    service.process_inbox()
    # Ama's answer, sent at 200 s of its 300 s lease, was recorded then, not with Kofi's at 400 s.
    assert taken_by_another == []
    assert graph.texts_to(AMA) == ["pour +" + AMA] and graph.texts_to(KOFI) == ["pour +" + KOFI]
    assert [r["status"] for r in rows(engine, outbound)] == ["sent", "sent"]


def test_a_person_s_sent_answer_is_recorded_while_another_person_s_sends_are_still_slow(
        engine: Engine, service: WhatsApp, dialog: Dialog, graph: FakeGraph, clock: FakeClock, *,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A lease counts as aged after half a second of it (not 30 s): the test need not wait that long.
    monkeypatch.setattr(sender_module, "FRESH_LEASE_S", 0.5)
    dialog.answer = lambda inbound: Turn([Reply(f"pour {inbound.msisdn}")])
    client = service._sender.graph
    assert client is not None
    send = client.send
    recorded = _signal_records(monkeypatch)
    ama_recorded_in_time: list[bool] = []

    ama_sent = threading.Event()

    def slow_send(body: dict[str, Any]) -> str:
        wamid = send(body)
        if body["to"] != KOFI:
            ama_sent.set()  # Ama's went at once
        else:  # Kofi's Graph call hangs on, after Ama's is done and seen to be fresh
            ama_sent.wait(5)
            time.sleep(0.2)
            clock.advance(200)
            ama_recorded_in_time.append(recorded.wait(5))
        return wamid

    monkeypatch.setattr(client, "send", slow_send)
    service.receive(notification(text_message("bonjour"), text_message("salut", sender=KOFI)))
    service.process_inbox()
    # Ama's answer was recorded while Kofi's send still hung, not once it ended.
    assert ama_recorded_in_time == [True]
    assert graph.texts_to(AMA) == ["pour +" + AMA] and graph.texts_to(KOFI) == ["pour +" + KOFI]
    assert [r["status"] for r in rows(engine, outbound)] == ["sent", "sent"]


def test_a_message_meta_refuses_is_failed_with_its_code_and_not_retried(
        engine: Engine, service: WhatsApp, graph: FakeGraph, clock: FakeClock) -> None:
    service.receive(notification(text_message("bonjour")))
    graph.fail_next(1, status=400, error_code=131026)
    assert service.send("+22890112233", [Reply("un"), Reply("deux")]) == [graph.sent[0].wamid]
    assert [(r["status"], r["error_code"]) for r in rows(engine, outbound)] == [("failed", 131026),
                                                                               ("sent", None)]
    clock.advance(3600)
    assert service.send_due() == 0 and graph.requests == 2


def test_statuses_move_a_sent_message_forward_and_never_back(
        client: TestClient, engine: Engine, service: WhatsApp) -> None:
    service.receive(notification(text_message("bonjour")))
    first, second = service.send("+22890112233", [Reply("un"), Reply("deux")])

    def status(wamid: str, value: str, code: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": wamid, "status": value, "timestamp": "1700000100", "recipient_id": AMA}
        if code is not None:
            out["errors"] = [{"code": code, "title": "Message undeliverable"}]
        return out

    for statuses in ([status(first, "read"), status(first, "delivered")],
                     [status(second, "delivered")], [status(second, "failed", 131050)],
                     [status("wamid.unknown", "read")]):
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [
            {"field": "messages", "value": {"statuses": statuses}}]}]}).encode()
        assert client.post("/webhooks/whatsapp", content=body, headers=signed(body)).json() == {"received": 0}
    assert [(r["status"], r["error_code"]) for r in rows(engine, outbound)] == [("read", None),
                                                                               ("failed", 131050)]


def test_outside_the_24_hour_window_a_receipt_goes_as_the_approved_template(
        engine: Engine, service: WhatsApp, graph: FakeGraph, clock: FakeClock) -> None:
    at_s = clock.now_ns // 10**9
    service.receive(notification(text_message("salut", sender=KOFI, at_s=at_s - 25 * 3600)))
    service.receive(notification(text_message("salut", sender=AMA, at_s=at_s - 3600)))
    receipt = {"amount": 5000, "fee": 0, "id": "mv_1"}
    for number, msisdn in enumerate(("+22890112233", "+22897112233", "+22899887766")):
        service.deliver(Message(id=number, msisdn=msisdn, kind="receipt_transfer_received",
                                params=receipt, status="queued", attempts=1, created_at_ns=clock.now_ns,
                                delivered_at_ns=None))
    kinds = {sent.to: (sent.body["type"], sent.text) for sent in graph.sent}
    assert kinds == {AMA: ("text", "Sika: receipt transfer received, 5000 F CFA."),
                     KOFI: ("template", "Sika: receipt transfer received, 5000 F CFA."),
                     "22899887766": ("template", "Sika: receipt transfer received, 5000 F CFA.")}
    template = next(s.body["template"] for s in graph.sent if s.to == KOFI)
    assert (template["name"], template["language"]) == ("sika_notification", {"code": "fr"})
    clock.advance(23 * 3600)
    assert not service.window_open("+22890112233")


def test_a_voucher_code_is_sent_but_not_kept_and_a_redelivery_sends_nothing_more(
        engine: Engine, service: WhatsApp, graph: FakeGraph, clock: FakeClock) -> None:
    service.receive(notification(text_message("salut")))
    voucher = Message(id=7, msisdn="+22890112233", kind="voucher_received",
                      params={"amount": 5000, "secret": "83920174", "sender": "Kofi"}, status="queued",
                      attempts=1, created_at_ns=clock.now_ns, delivered_at_ns=None)
    service = WhatsApp(engine, verify_token=TOKEN, app_secret=SECRET, graph=service.graph,
                       handler=service.handler, clock_ns=clock,
                       notification_text=lambda kind, params, _msisdn: f"Code {params['secret']} de {kind}")
    service.deliver(voucher)
    service.deliver(voucher)
    assert graph.texts_to("+22890112233") == ["Code 83920174 de voucher_received"]
    (row,) = rows(engine, outbound)
    assert row["secret_body_json"] is None and "83920174" not in row["body_json"] and MASK in row["body_json"]


def test_sending_is_off_without_a_graph_client_and_the_message_is_still_handled(
        engine: Engine, dialog: Dialog) -> None:
    receive_only = WhatsApp(engine, verify_token=TOKEN, app_secret=SECRET, graph=None, handler=dialog)
    receive_only.receive(notification(text_message("bonjour")))
    assert receive_only.process_inbox() == 1 and receive_only.send_due() == 0
    assert [r["status"] for r in rows(engine, inbox)] == ["done"] and count(engine, outbound) == 0


def test_a_dangerous_attachment_is_logged_once_as_a_security_event_with_number_and_name(
        engine: Engine, service: WhatsApp, dialog: Dialog, caplog: pytest.LogCaptureFixture) -> None:
    document = {"from": AMA, "id": "wamid.doc", "timestamp": "1700000000", "type": "document",
                "document": {"filename": "LOVE-LETTER-FOR-YOU.TXT.vbs", "mime_type": "text/vbscript",
                             "sha256": "abc", "id": "media-1"}}
    with caplog.at_level(logging.WARNING, logger="sika.security"):
        service.receive(notification(document))
        service.receive(notification(document))
    events = [r for r in caplog.records if r.name == "sika.security"]
    assert len(events) == 1
    logged = events[0].getMessage()
    assert "+22890112233" in logged and "LOVE-LETTER-FOR-YOU.TXT.vbs" in logged
    service.process_inbox()
    assert dialog.seen[0].kind is InboundKind.ATTACHMENT
    # The dialog gets the channel's verdict, and nothing that could fetch the file: its media id
    # is kept nowhere.
    assert dialog.seen[0].attachment == Attachment("document", "LOVE-LETTER-FOR-YOU.TXT.vbs", "text/vbscript",
                                                   dangerous=True)
    assert "media-1" not in repr(dialog.seen[0])
    assert all("media-1" not in repr(dict(row)) for row in rows(engine, inbox))


def test_old_handled_messages_are_pruned(engine: Engine, service: WhatsApp, clock: FakeClock) -> None:
    service.receive(notification(text_message("vieux")))
    service.process_inbox()
    clock.advance(31 * 86_400)
    service.receive(notification(text_message("récent")))
    assert service.prune() == 2  # the old message and its answer
    assert [r["text"] for r in rows(engine, inbox)] == ["récent"] and count(engine, contacts) == 1


# Fuzzing the endpoint -----------------------------------------------------------------------------------

@pytest.fixture
def fuzz_client(tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    upgrade(engine)
    app = FastAPI()
    whatsapp_api.include(app, WhatsApp(engine, verify_token=TOKEN, app_secret=SECRET, graph=None,
                                       handler=Dialog()))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client, engine
    engine.dispose()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["object", "entry", "changes", "field", "value", "messages", "statuses", "from", "id",
                         "type", "text", "body", "errors", "status", "code"]) | st.text(max_size=8),
        inner, max_size=5),
    max_leaves=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=512) | _json.map(lambda v: json.dumps(v).encode()),
       sign_it=st.booleans())
def test_whatever_is_posted_the_webhook_never_answers_5xx(fuzz_client: tuple[TestClient, Engine], body: bytes,
                                                          sign_it: bool) -> None:
    client, _engine = fuzz_client
    answer = client.post("/webhooks/whatsapp", content=body, headers=signed(body) if sign_it else {})
    assert answer.status_code == (200 if sign_it else 401), answer.text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300), sender=st.text("0123456789+", max_size=18),
       message_id=st.text(max_size=200))
def test_any_text_from_any_sender_is_stored_or_skipped_never_a_5xx(
        fuzz_client: tuple[TestClient, Engine], text: str, sender: str, message_id: str) -> None:
    client, engine = fuzz_client
    body = notification({"from": sender, "id": message_id, "timestamp": "1700000000", "type": "text",
                         "text": {"body": text}})
    answer = client.post("/webhooks/whatsapp", content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text
    if answer.json()["received"]:
        with engine.connect() as connection:
            # Stored as parsed: at most 128 characters, NUL and lone surrogates replaced.
            stored_id = re.sub("[\x00\ud800-\udfff]", "\ufffd", message_id[:128])
            stored = connection.execute(select(inbox.c.msisdn).where(inbox.c.message_id == stored_id))
            assert stored.scalar_one() == "+" + sender
