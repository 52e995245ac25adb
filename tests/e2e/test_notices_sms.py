"""STOP by SMS, against the fake Africa's Talking: the number is opted out at once and a confirmation
goes back by SMS in its language, once however often the gateway repeats the callback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import World

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import audit
from sika_fakes.sms import FakeSms

AMA, STRANGER = "+22890112233", "+22899887766"
TOKEN = "gateway-token-0123456789"
ROUTE = "/webhooks/africastalking/sms/inbound"


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with FakeSms() as sms:
        yield sms


@pytest.fixture
def container(database_url: str, fake: FakeSms) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant", sms_sender_id="Sika",
                               africastalking_callback_token=TOKEN, **fake.settings))
    yield built
    assert audit.check(built.engine) == []
    built.close()


def _drain(container: Container) -> None:
    while container.outbox.deliver_due():
        pass


def test_stop_by_sms_opts_out_and_confirms_once_in_the_customers_language(
        world: World, fake: FakeSms) -> None:
    ama = world.wallet(AMA, "Ama Mensah")
    world.client.put(f"/v1/wallets/{AMA}/preferences", headers=ama, json={"marketing": True})
    stop = {"from": AMA, "to": "20880", "text": "ARRÊT", "id": "ATXid_in_1", "date": "2026-03-01 10:00:00"}
    assert world.client.post(ROUTE, data=stop).status_code == 403  # without the gateway's token
    for _ in range(2):  # the gateway repeats a callback it thinks was lost
        done = world.client.post(f"{ROUTE}?token={TOKEN}", data=stop)
        assert (done.status_code, done.json()) == (200, {"received": True, "stop": True})
    _drain(world.container)
    (sms,) = fake.messages(AMA)
    assert sms.text.startswith("C'est fait : Sika ne vous enverra plus d'offres ni de promotions.")
    preferences = world.client.get(f"/v1/wallets/{AMA}/preferences", headers=ama).json()
    assert (preferences["marketing"], preferences["marketing_consent_via"]) == (False, "sms")


def test_other_sms_are_received_and_change_nothing(world: World, fake: FakeSms) -> None:
    hello = {"from": STRANGER, "to": "20880", "text": "bonjour", "id": "ATXid_in_2"}
    done = world.client.post(f"{ROUTE}?token={TOKEN}", data=hello)
    assert (done.status_code, done.json()) == (200, {"received": True, "stop": False})
    _drain(world.container)
    assert fake.messages(STRANGER) == []
    nobody = world.client.post(f"{ROUTE}?token={TOKEN}", data={"from": "hello", "text": "STOP", "id": "x"})
    assert (nobody.status_code, nobody.json()) == (200, {"received": True, "stop": False})
    empty = world.client.post(f"{ROUTE}?token={TOKEN}", data={"text": "STOP", "id": "y"})
    assert (empty.status_code, empty.json()["code"]) == (422, "validation_error")
