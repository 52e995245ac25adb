"""Promotions on WhatsApp, against the fake Graph API answering as Meta does: only as the approved
marketing template; Meta's per-user marketing limit (131049) pauses marketing to that person for 24 h
and pair rate limiting (131056) backs off; neither is ever counted as delivered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select, update

from sika.bootstrap import Container, bootstrap
from sika.chat.i18n import translator
from sika.chat.texts.notices import reason_text
from sika.chat.whatsapp import GraphClient, WhatsApp
from sika.chat.whatsapp.schema import outbound
from sika.config import Settings
from sika.payments.outbox import Outbox, enqueue
from sika.payments.schema import outbox
from sika.wallet import Pin
from sika_fakes.graph import FakeGraph

AMA = "+22890112233"


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * 10**9


class Clock:
    now_ns = _ns("2026-03-01T10:00:00+00:00")

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="off"))
    built.customers.open(AMA, "Ama Mensah", language="fr", pin=Pin("4827"), tier=1)
    assert built.notices is not None
    built.notices.store.change(AMA, marketing=True)
    yield built
    built.close()


@pytest.fixture
def world(container: Container) -> Iterator[tuple[Outbox, WhatsApp, FakeGraph, Clock]]:
    clock = Clock()
    assert container.notices is not None
    with FakeGraph() as graph, GraphClient(graph.url, graph.phone_number_id, graph.token, retries=1,
                                           backoff_s=0.0, rate_per_s=10_000.0) as client:
        whatsapp = WhatsApp(container.engine, verify_token="t" * 16, app_secret="s" * 16, graph=client,
                            handler=lambda inbound: None,  # type: ignore[arg-type,return-value]
                            clock_ns=clock,
                            notification_text=lambda kind, params, msisdn: str(params["text"]),
                            on_marketing_limit=container.notices.store.pause_marketing)
        box = Outbox(container.engine, whatsapp, clock_ns=clock, gate=container.notices)
        yield box, whatsapp, graph, clock


def _promote(container: Container, clock: Clock) -> None:
    with container.engine.begin() as connection:
        enqueue(connection, dedupe_key="promo", msisdn=AMA, kind="marketing_iftar",
                params={"text": "Iftar -10 %"}, now_ns=clock())


def _row(container: Container) -> dict[str, object]:
    with container.engine.connect() as connection:
        query = select(outbox).where(outbox.c.kind == "marketing_iftar")
        return dict(connection.execute(query).mappings().one())


def _outbound(container: Container) -> list[tuple[str, int | None]]:
    with container.engine.connect() as connection:
        return [(row.status, row.error_code) for row in connection.execute(
            select(outbound.c.status, outbound.c.error_code).order_by(outbound.c.id))]


def test_meta_131049_pauses_marketing_for_a_day_and_nothing_counts_as_delivered(
        container: Container, world: tuple[Outbox, WhatsApp, FakeGraph, Clock]) -> None:
    box, whatsapp, graph, clock = world
    _promote(container, clock)
    graph.fail_next(1, error_code=131049)
    box.deliver_due()
    row = _row(container)
    assert (row["status"], row["delivered_at_ns"]) == ("queued", None)
    assert "131049" in str(row["last_error"])
    assert graph.sent == [] and _outbound(container) == [("failed", 131049)]

    clock.now_ns += 10 * 10**9  # the outbox tries again: the policy now holds it past Meta's pause
    box.deliver_due()
    whatsapp.send_due()  # the WhatsApp queue never resends a promotion by itself
    held = _row(container)
    assert held["next_attempt_ns"] == _ns("2026-03-02T10:00:00+00:00")
    assert reason_text(translator("en"), str(held["reason"])) == (
        "held until 2026-03-02 10:00: WhatsApp asked for a pause in offers to this customer")
    assert graph.sent == []

    clock.now_ns = _ns("2026-03-02T10:00:00+00:00")
    box.deliver_due()
    assert _row(container)["status"] == "delivered"
    [sent] = graph.sent
    assert sent.body["type"] == "template" and sent.body["template"]["name"] == "sika_offer"
    assert sent.body["template"]["components"][0]["parameters"][0]["text"] == "Iftar -10 %"


def test_meta_131056_backs_off_then_sends_once(
        container: Container, world: tuple[Outbox, WhatsApp, FakeGraph, Clock]) -> None:
    box, whatsapp, graph, clock = world
    _promote(container, clock)
    graph.fail_next(2, error_code=131056)  # the Graph client's own retry meets the limit too
    box.deliver_due()
    row = _row(container)
    assert (row["status"], row["delivered_at_ns"]) == ("queued", None)
    assert "131056" in str(row["last_error"])
    assert graph.sent == []
    assert container.notices is not None
    assert container.notices.store.get(AMA).marketing_paused_until_ns is None  # only a back-off

    clock.now_ns += 60 * 10**9
    box.deliver_due()
    whatsapp.send_due()
    assert _row(container)["status"] == "delivered"
    assert len(graph.sent) == 1
    assert _outbound(container) == [("failed", 131056), ("sent", None)]


def test_the_fake_answers_meta_s_error_json_for_both_limits() -> None:
    with FakeGraph() as graph, GraphClient(graph.url, graph.phone_number_id, graph.token, retries=0,
                                           backoff_s=0.0) as client:
        words = {131049: "maintain healthy ecosystem engagement", 131056: "pair rate limit hit"}
        for code in (131049, 131056):
            graph.fail_next(1, error_code=code)
            with pytest.raises(Exception) as raised:
                client.send({"messaging_product": "whatsapp", "to": "22890112233", "type": "text",
                             "text": {"body": "x"}})
            assert getattr(raised.value, "error_code", None) == code
            assert words[code] in str(raised.value)


def test_a_131049_reported_later_by_a_status_webhook_pauses_marketing_too(
        container: Container, world: tuple[Outbox, WhatsApp, FakeGraph, Clock]) -> None:
    _, whatsapp, _, clock = world
    status = {"id": "wamid.HBgLMjI4OTAxMTIyMzMVAgARGBI", "status": "failed", "timestamp": "1772359200",
              "recipient_id": AMA.removeprefix("+"),
              "errors": [{"code": 131049, "title": "This message was not delivered to maintain healthy "
                          "ecosystem engagement.", "error_data": {"details": "In order to maintain a healthy "
                                                                  "ecosystem engagement, the message failed "
                                                                  "to be delivered."}}]}
    value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "22870000000",
                                                           "phone_number_id": "1065"}, "statuses": [status]}
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": value}]}]}
    whatsapp.receive(json.dumps(body).encode())
    assert container.notices is not None
    assert container.notices.store.get(AMA).marketing_paused_until_ns == clock() + 24 * 3600 * 10**9


def test_receipts_of_one_pass_go_out_together_in_order_and_a_retried_delivery_sends_nothing_twice(
        container: Container, world: tuple[Outbox, WhatsApp, FakeGraph, Clock]) -> None:
    box, _whatsapp, graph, clock = world
    kofi = "+22891445566"
    with container.engine.begin() as connection:
        for n, (msisdn, text) in enumerate([(AMA, "first"), (kofi, "to Kofi"), (AMA, "second"),
                                            (AMA, "third")]):
            enqueue(connection, dedupe_key=f"r{n}", msisdn=msisdn, kind="receipt_transfer_sent",
                    params={"text": text}, now_ns=clock())
    assert box.deliver_due() == 4

    def texts(msisdn: str) -> list[str]:
        return [sent.body["template"]["components"][0]["parameters"][0]["text"]
                for sent in graph.sent if sent.to == msisdn.removeprefix("+")]

    assert texts(AMA) == ["first", "second", "third"] and texts(kofi) == ["to Kofi"]
    with container.engine.connect() as connection:
        statuses = connection.execute(select(
            outbox.c.status, outbox.c.channel, outbox.c.lease_until_ns, outbox.c.delivered_at_ns == clock(),
            outbox.c.params)).all()
    # One statement recorded the four (on PostgreSQL), each with its own stored parameters.
    stored = [json.dumps({"text": text}, separators=(",", ":"))
              for text in ("first", "to Kofi", "second", "third")]
    assert sorted(statuses) == sorted(("delivered", "channel", None, True, params) for params in stored)
    assert _outbound(container) == [("sent", None)] * 4
    # A worker that died after queuing, before recording the delivery: the outbox tries again.
    with container.engine.begin() as connection:
        connection.execute(update(outbox).where(outbox.c.dedupe_key == "r2")
                           .values(status="queued", lease_until_ns=None, delivered_at_ns=None))
    assert box.deliver_due() == 1
    assert texts(AMA) == ["first", "second", "third"] and len(graph.sent) == 4
    assert _outbound(container) == [("sent", None)] * 4
