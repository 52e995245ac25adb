"""Whole conversations over WhatsApp, wire to wire: Meta-shaped signed webhooks in, the dialog in the
workers, the Cloud API out to a local fake Graph API that enforces Meta's limits. In French, English and
Arabic: open a wallet, cash in through the REST API, send money, buy airtime, pay a bill."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sika.api.app import create_app
from sika.auth import Role
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import audit
from sika_fakes.graph import FakeGraph

SECRET, VERIFY = "app-secret-for-tests", "verify-me"
_ids = itertools.count()


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def container(database_url: str, graph: FakeGraph) -> Iterator[Container]:
    built = bootstrap(
        Settings(
            database_url=database_url,
            providers="instant",
            whatsapp_verify_token=VERIFY,
            whatsapp_app_secret=SECRET,
            whatsapp_token=graph.token,
            whatsapp_phone_number_id=graph.phone_number_id,
            whatsapp_api_url=graph.url,
        )
    )
    yield built
    assert audit.check(built.engine) == []
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container, run_workers=False)) as test_client:
        yield test_client


class Phone:
    """A WhatsApp user: types, taps buttons and list rows, reads what Sika sent back."""

    def __init__(self, client: TestClient, container: Container, graph: FakeGraph, msisdn: str) -> None:
        self.client, self.container, self.graph, self.msisdn = client, container, graph, msisdn
        self.seen = 0

    def _deliver(self, message: dict[str, Any]) -> None:
        self.deliver_together([message])

    def deliver_together(self, messages: list[dict[str, Any]], *, process: bool = True) -> None:
        """One signed notification carrying ``messages`` (Meta may batch them), then the inbox job
        (unless ``process`` is false: the messages then wait in the inbox)."""
        wa_id = self.msisdn.removeprefix("+")
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "22870000000",
                         "phone_number_id": self.graph.phone_number_id},
            "contacts": [{"profile": {"name": "Tester"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.T{next(_ids)}", "timestamp": str(int(time.time())),
                          **message} for message in messages],
        }
        entry = {"id": "1", "changes": [{"field": "messages", "value": value}]}
        body = json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}
        answer = self.client.post("/webhooks/whatsapp", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert self.container.whatsapp is not None
        while process and self.container.whatsapp.process_inbox():
            pass

    def type(self, text: str) -> list[dict[str, Any]]:
        self._deliver({"type": "text", "text": {"body": text}})
        return self.inbox()

    def share_location(self, lat: float, lng: float, name: str | None = None) -> list[dict[str, Any]]:
        location: dict[str, Any] = {"latitude": lat, "longitude": lng}
        if name:
            location["name"] = name
        self._deliver({"type": "location", "location": location})
        return self.inbox()

    def tap(self, choice_id: str) -> list[dict[str, Any]]:
        """Tap the button or list row with this id on the last interactive message."""
        last = self.last_interactive()
        kind = last["interactive"]["type"]
        if kind == "button":
            titles = {b["reply"]["id"]: b["reply"]["title"] for b in last["interactive"]["action"]["buttons"]}
            reply = {"type": "button_reply", "button_reply": {"id": choice_id, "title": titles[choice_id]}}
        else:
            rows = {r["id"]: r["title"] for s in last["interactive"]["action"]["sections"] for r in s["rows"]}
            reply = {"type": "list_reply", "list_reply": {"id": choice_id, "title": rows[choice_id]}}
        self._deliver({"type": "interactive", "interactive": reply})
        return self.inbox()

    def inbox(self) -> list[dict[str, Any]]:
        mine = [s.body for s in self.graph.sent if s.to == self.msisdn.removeprefix("+")]
        new, self.seen = mine[self.seen :], len(mine)
        return new

    def last_interactive(self) -> dict[str, Any]:
        mine = [s.body for s in self.graph.sent if s.to == self.msisdn.removeprefix("+")]
        return next(body for body in reversed(mine) if body["type"] == "interactive")

    def read(self) -> str:
        mine = [s.text for s in self.graph.sent if s.to == self.msisdn.removeprefix("+")]
        return "\n".join(mine)


def _cash_in(client: TestClient, container: Container, msisdn: str, amount: int) -> None:
    _, secret = container.api_keys.create(Role.ADMIN, "ops")
    admin = {"Authorization": f"Bearer {secret}"}
    made = client.post("/v1/agents", headers=admin, json={"name": "Boutique Bè"}).json()
    agent = {"Authorization": f"Bearer {made['api_key']}"}
    funded = client.post(
        f"/v1/agents/{made['id']}/float",
        headers={**admin, "Idempotency-Key": f"f{next(_ids)}"},
        json={"amount": 1_000_000},
    )
    assert funded.status_code == 201
    done = client.post(
        "/v1/cash-ins",
        headers={**agent, "Idempotency-Key": f"c{next(_ids)}"},
        json={"msisdn": msisdn, "amount": amount},
    )
    assert done.status_code == 201, done.text


def _balance(container: Container, msisdn: str) -> int:
    account = container.customers.get(msisdn).account_id
    assert account is not None
    return container.ledger.get_account(account).balance


@pytest.mark.parametrize(
    ("language", "msisdn", "words"),
    [
        ("fr", "+22890112233", {"send": "envoyer 2000 à 97112233", "amount": "2 000 F CFA"}),
        ("en", "+22891445566", {"send": "send 2000 to 97112233", "amount": "2,000 F CFA"}),
        ("ar", "+22893556677", {"send": "أرسل 2000 إلى 97112233", "amount": "2,000 F CFA"}),
    ],
)
def test_a_whole_life_on_whatsapp(
    client: TestClient,
    container: Container,
    graph: FakeGraph,
    *,
    language: str,
    msisdn: str,
    words: dict[str, str],
) -> None:
    from sika.wallet import Pin

    container.customers.open("+22897112233", "Kofi Agbeko", pin=Pin("5938"), tier=1)
    phone = Phone(client, container, graph, msisdn)
    # A new number: welcome, language, name, PIN twice.
    phone.type("Bonjour")
    phone.tap(f"lang:{language}")
    phone.type("Awa Kponton")
    phone.type("2580")
    phone.type("2580")
    assert container.customers.get(msisdn).language == language
    _cash_in(client, container, msisdn, 30_000)
    # Send money with a shortcut in the language, then confirm and give the PIN.
    phone.type(words["send"])
    assert words["amount"] in phone.read()
    phone.tap("confirm")
    phone.type("2580")
    assert _balance(container, "+22897112233") == 2_000
    # Airtime for oneself: menu, airtime, for me, operator, airtime, amount, confirm, PIN.
    phone.type("menu")
    phone.tap("airtime")
    phone.tap("me")
    phone.tap("op:togocom")
    phone.tap("airtime")
    phone.type("1000")
    phone.tap("confirm")
    phone.type("2580")
    # A CEET bill: the token comes back in the chat.
    phone.type("menu")
    phone.tap("bills")
    phone.tap("ceet")
    phone.type("12345678903")
    phone.type("3000")
    phone.tap("confirm")
    phone.type("2580")
    assert _balance(container, msisdn) == 30_000 - 2_000 - 1_000 - 3_000 - 100
    assert graph.rejected == []  # everything we sent was within Meta's limits
    if language == "ar":
        assert all(text.startswith("\u200f") for text in graph.texts_to(msisdn)[-3:] if text)
    # The PINs typed are not kept anywhere in the inbox.
    from sqlalchemy import select

    from sika.chat.whatsapp.schema import inbox

    with container.engine.connect() as connection:
        texts = [row.text for row in connection.execute(select(inbox.c.text))]
    assert "2580" not in texts
    # Receipts from the outbox go out over WhatsApp too.
    assert container.outbox.deliver_due() > 0
    assert graph.rejected == []


def test_the_webhook_refuses_bad_signatures_and_answers_the_handshake(client: TestClient) -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert client.post("/webhooks/whatsapp", content=body).status_code == 401
    assert (
        client.post(
            "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
        ).status_code
        == 401
    )
    handshake = client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"},
    )
    assert (handshake.status_code, handshake.text) == (200, "1158201444")
    wrong = client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403


def test_a_ride_booked_on_whatsapp_tells_the_rider_who_is_coming(
    client: TestClient, container: Container, graph: FakeGraph
) -> None:
    from sika.rides.geo import Point
    from sika.wallet import Pin

    rides = container.rides
    assert rides is not None
    driver_wallet = container.customers.open("+22897112233", "Kofi Agbeko", pin=Pin("5938"), tier=1)
    kofi = rides.onboard(driver_wallet, city_id="lome", vehicle_type="moto", plate="TG-4821-AZ")
    rides.set_documents(kofi.id, "approved")
    rides.update_location(kofi.id, Point(6.1330, 1.2240))
    rides.set_online(kofi.id, online=True)
    container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"), tier=1)
    phone = Phone(client, container, graph, "+22890112233")
    phone.share_location(6.1319, 1.2228, "Grand marché")
    assert "📎" in phone.read()
    phone.share_location(6.1725, 1.2145, "Tokoin")
    action = phone.last_interactive()["interactive"]["action"]
    vehicles = [b["reply"]["id"] for b in action.get("buttons", [])] + [
        row["id"] for section in action.get("sections", []) for row in section["rows"]
    ]
    assert vehicles == ["vehicle:moto", "vehicle:tricycle", "vehicle:car"]
    phone.tap("vehicle:moto")
    phone.tap("pay:cash")
    phone.tap("confirm")
    trip = rides.active_trip_of_rider(container.customers.get("+22890112233").id)
    assert trip is not None and trip.status.value == "requested"
    assert [o["trip_id"] for o in rides.pending_offers(kofi.id)] == [trip.id]
    rides.accept(kofi.id, trip.id)
    while container.outbox.deliver_due():
        pass
    assert any("TG-4821-AZ" in text for text in graph.texts_to("+22890112233"))
    assert graph.rejected == []


def test_a_wallet_ride_needs_the_pin_and_a_locked_pin_stops_it(
    client: TestClient, container: Container, graph: FakeGraph
) -> None:
    from sika.rides.geo import Point
    from sika.wallet import Pin

    rides = container.rides
    assert rides is not None
    kofi = rides.onboard(
        container.customers.open("+22897112233", "Kofi", pin=Pin("5938"), tier=1),
        city_id="lome",
        vehicle_type="moto",
        plate="TG-4821-AZ",
    )
    rides.set_documents(kofi.id, "approved")
    rides.update_location(kofi.id, Point(6.1330, 1.2240))
    rides.set_online(kofi.id, online=True)
    container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"), tier=1)
    _cash_in(client, container, "+22890112233", 10_000)
    phone = Phone(client, container, graph, "+22890112233")

    def book() -> None:
        phone.share_location(6.1319, 1.2228)
        phone.share_location(6.1725, 1.2145)
        phone.tap("vehicle:moto")
        phone.tap("pay:wallet")
        phone.tap("confirm")

    book()
    phone.type("1357")  # wrong: asked again, nothing booked
    ama = container.customers.get("+22890112233")
    assert rides.active_trip_of_rider(ama.id) is None
    phone.type("1357")
    phone.type("1357")  # the third wrong PIN locks the wallet
    assert rides.active_trip_of_rider(ama.id) is None
    book()
    phone.type("4827")  # the right PIN, but the wallet is locked for 30 minutes
    assert rides.active_trip_of_rider(ama.id) is None
    assert container.ledger.get_account(ama.account_id or 0).available == 10_000


def test_several_messages_of_one_person_in_one_batch_each_see_the_previous_answer(
    client: TestClient, container: Container, graph: FakeGraph
) -> None:
    from sika.wallet import Pin

    container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"), language="en", tier=1)
    messages = [
        {"type": "text", "text": {"body": "menu"}},
        # Tapped on the menu the first message brings: only valid once that answer is in the state.
        {
            "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": "balance", "title": "Balance"}},
        },
        {"type": "text", "text": {"body": "history"}},
    ]
    Phone(client, container, graph, "+22890112233").deliver_together(messages)
    texts = graph.texts_to("+22890112233")
    balance_at = next(i for i, t in enumerate(texts) if "Your balance: 0 F CFA." in t)
    history_at = next(i for i, t in enumerate(texts) if "No transactions yet." in t)
    assert 0 < balance_at < history_at


def test_the_consent_question_comes_once_in_a_batch_and_is_remembered_with_its_answers(
    client: TestClient, container: Container, graph: FakeGraph
) -> None:
    from sika.notices.store import PreferenceStore
    from sika.wallet import Pin

    container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"), language="en", tier=1)
    phone = Phone(client, container, graph, "+22890112233")
    question = "Would you like to receive Sika's offers and promotions?"
    # Three messages handled in one batch, each ending at the menu: asked after the first only.
    phone.deliver_together([{"type": "text", "text": {"body": word}} for word in ("menu", "balance", "menu")])
    texts = graph.texts_to("+22890112233")
    assert sum(question in text for text in texts) == 1
    assert question in texts[0]
    assert PreferenceStore(container.engine).get("+22890112233").consent_asked_at_ns is not None
    # A later batch reads the mark the first one stored: never asked again.
    phone.deliver_together([{"type": "text", "text": {"body": "menu"}}])
    assert sum(question in text for text in graph.texts_to("+22890112233")) == 1


def test_a_pin_is_never_stored_in_clear_not_even_before_the_dialog_reads_it(
    client: TestClient, container: Container, graph: FakeGraph
) -> None:
    from pathlib import Path

    from sqlalchemy import select

    from sika.chat.whatsapp.schema import inbox
    from sika.wallet import Pin

    pin = "7391"
    container.customers.open("+22890112233", "Ama Mensah", pin=Pin(pin), tier=1)
    container.customers.open("+22897112233", "Kofi Agbeko", pin=Pin("5938"), tier=1)
    _cash_in(client, container, "+22890112233", 10_000)
    phone = Phone(client, container, graph, "+22890112233")
    phone.type("envoyer 2000 à 97112233")
    phone.tap("confirm")
    phone.deliver_together([{"type": "text", "text": {"body": pin}}], process=False)
    with container.engine.connect() as connection:  # stored, not yet handled
        waiting = connection.execute(select(inbox).where(inbox.c.status == "queued")).mappings().one()
    assert waiting["text"] == "••••" and pin not in waiting["payload_json"]
    assert container.whatsapp is not None
    while container.whatsapp.process_inbox():
        pass
    assert _balance(container, "+22897112233") == 2_000  # the sealed PIN was opened, and it paid
    assert "2 000 F CFA" in graph.texts_to("+22890112233")[-1]
    with container.engine.connect() as connection:
        assert all(pin not in f"{row.text} {row.payload_json}" for row in connection.execute(select(inbox)))
    url = container.settings.database_url
    if url.startswith("sqlite:///"):  # the database file and its write-ahead log, byte by byte
        files = [path for path in Path(url.removeprefix("sqlite:///")).parent.iterdir()
                 if path.name.startswith(Path(url).name)]
        assert any(path.name.endswith("-wal") for path in files)
        for path in files:
            assert re.search(rb"(?<![0-9A-Za-z])7391(?![0-9A-Za-z])", path.read_bytes()) is None, path


@pytest.mark.parametrize(("msisdn", "expected"), [
    ("+33612345678", ["Désolé, Sika n'est pas disponible dans votre pays."]),
    ("+34612345678", ["Lo sentimos, Sika no está disponible en tu país."]),
    ("+4915112345678", ["Désolé, Sika n'est pas disponible dans votre pays.",
                        "Sorry, Sika is not available in your country."]),
])
def test_a_number_outside_the_xof_zone_gets_one_polite_answer_in_its_language(
    client: TestClient, container: Container, graph: FakeGraph, msisdn: str, expected: list[str]
) -> None:
    from sqlalchemy import select

    from sika.chat.whatsapp.schema import inbox

    phone = Phone(client, container, graph, msisdn)
    phone.type("Hello, I would like to send money")
    (answer,) = graph.texts_to(msisdn)
    assert all(sentence in answer for sentence in expected) and "Togo" in answer
    assert container.whatsapp is not None and container.whatsapp.process_inbox() == 0  # nothing retried
    phone.type("Hello?")  # the same day: answered once, not in a loop with an automatic responder
    with container.engine.connect() as connection:
        handled = connection.execute(select(inbox.c.status, inbox.c.attempts)).all()
    assert [(row.status, row.attempts) for row in handled] == [("done", 1), ("done", 1)]
    assert len(graph.texts_to(msisdn)) == 1 and graph.rejected == []
    assert container.customers.find_many([msisdn]) == {}  # no wallet opened


def test_a_ride_is_booked_on_whatsapp_by_typing_place_names(
    client: TestClient, container: Container, graph: FakeGraph
) -> None:
    from sika.rides.geo import Point
    from sika.wallet import Pin

    rides = container.rides
    assert rides is not None
    kofi = rides.onboard(container.customers.open("+22897112233", "Kofi", pin=Pin("5938"), tier=1),
                         city_id="lome", vehicle_type="moto", plate="TG-4821-AZ")
    rides.set_documents(kofi.id, "approved")
    rides.update_location(kofi.id, Point(6.1330, 1.2240))
    rides.set_online(kofi.id, online=True)
    container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"), tier=1)
    phone = Phone(client, container, graph, "+22890112233")
    phone.type("menu")
    phone.tap("ride")
    assert "📎" in phone.read() and "tapez le nom d'un lieu" in phone.read()
    phone.type("grand marche")  # the name whole, in Lomé and in Kara: which one?
    assert "Plusieurs lieux" in graph.texts_to("+22890112233")[-1]
    phone.tap("place:lome:grand-marche")
    phone.type("tokoin")
    phone.tap("place:lome:gare-tokoin")
    assert "Départ : Grand Marché. Arrivée : Gare de Tokoin." in graph.texts_to("+22890112233")[-1]
    phone.tap("vehicle:moto")
    phone.tap("pay:cash")
    phone.tap("confirm")
    trip = rides.active_trip_of_rider(container.customers.get("+22890112233").id)
    assert trip is not None and (trip.pickup.lat, trip.dropoff.lat) == (6.1306, 6.1531)
    assert graph.rejected == []


def test_a_request_to_pay_is_announced_with_the_registered_merchant_name(
    client: TestClient, container: Container, graph: FakeGraph
) -> None:
    from sika.payments import new_movement_id
    from sika.wallet import Pin

    container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"), tier=1)
    Phone(client, container, graph, "+22890112233").type("menu")  # the 24-hour window is open
    merchant, _ = container.merchants.create("Boutique Kodjo")
    container.approvals.request_payment(new_movement_id(), merchant, "+22890112233", 3_500,
                                        description="Sika Support: remboursement")
    while container.outbox.deliver_due():
        pass
    announced = graph.texts_to("+22890112233")[-1]
    assert announced.startswith("Boutique Kodjo vous demande de payer 3 500 F CFA (frais 0 F CFA).")
    assert announced.endswith('Leur note : "Sika Support: remboursement"')
