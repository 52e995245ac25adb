"""Africa's Talking Airtime through its adapter, over HTTP against the fake, status notifications over
HTTP (unsigned: a token in the URL and an address allow-list)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from provider_support import OPENING, Served, public_address, served, settled

from sika.payments import Status
from sika_fakes.africastalking import FakeAfricasTalking
from sika_fakes.behaviour import Behaviour

TOKEN = "africastalking-callback-token"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def africastalking() -> Iterator[FakeAfricasTalking]:
    # Not at once: a real operator's word comes by notification, after the "Sent" answer.
    behaviour = Behaviour.at_once(slow_answer_s=1.0).with_(callback_delay_s_min=0.05,
                                                           callback_delay_s_max=0.05)
    with FakeAfricasTalking(behaviour) as fake:
        yield fake


@pytest.fixture
def town(sqlite_url: str, africastalking: FakeAfricasTalking) -> Iterator[Served]:
    port, public = public_address()
    africastalking.callback_url = f"{public}/v1/providers/africastalking/callback?token={TOKEN}"
    with served(sqlite_url, port, africastalking_airtime_url=africastalking.url,
                africastalking_username=africastalking.username,
                africastalking_api_key=africastalking.api_key, africastalking_callback_token=TOKEN,
                africastalking_allowed_ips="127.0.0.1/32") as sika:
        yield sika


def airtime(town: Served, movement_id: str, msisdn: str, amount: int = 1_000) -> str:
    bought = town.container.purchases.buy(movement_id, town.customer, provider="togocom", product="airtime",
                                          reference=msisdn, amount=amount)
    return bought.id


def test_airtime_is_held_while_sent_and_posted_when_the_operator_confirms(
        town: Served, africastalking: FakeAfricasTalking) -> None:
    movement_id = airtime(town, "mv_at_ok", "+22899123456")
    sent = town.movement(movement_id)
    assert sent.status is Status.PENDING and sent.provider_reference in africastalking.sent
    assert (town.balance(), town.available()) == (OPENING, OPENING - 1_000)
    assert africastalking.wait_idle()
    assert settled(town, movement_id).status is Status.COMPLETED
    assert town.balance() == OPENING - 1_000
    assert africastalking.deliveries.sent[-1][1] == 200


def test_airtime_to_any_number_of_the_xof_zone(town: Served, africastalking: FakeAfricasTalking) -> None:
    movement_id = airtime(town, "mv_at_ci", "+2250700000000")  # Côte d'Ivoire
    assert africastalking.wait_idle()
    assert settled(town, movement_id).status is Status.COMPLETED
    assert [a.phone for a in africastalking.sent.values()] == ["+2250700000000"]


def test_failed_airtime_releases_the_hold(town: Served, africastalking: FakeAfricasTalking) -> None:
    movement_id = airtime(town, "mv_at_no", "+22890000001")
    failed = settled(town, movement_id)
    assert (failed.status, failed.error_code) == (Status.FAILED, "provider_failed")
    assert town.balance() == town.available() == OPENING


def test_a_send_answered_after_the_timeout_is_retried_with_the_same_idempotency_key(
        town: Served, africastalking: FakeAfricasTalking) -> None:
    movement_id = airtime(town, "mv_at_slow", "+22890000004")
    sends = [path for _, path in africastalking.requests if path == "/version1/airtime/send"]
    assert len(sends) == 2 and len(africastalking.sent) == 1  # one airtime for two requests
    town.poll()  # the status lookup by requestId
    assert settled(town, movement_id).status is Status.COMPLETED
    assert town.balance() == OPENING - 1_000


def test_a_status_notification_delivered_twice_charges_once(
        town: Served, africastalking: FakeAfricasTalking) -> None:
    movement_id = airtime(town, "mv_at_twice", "+22890000003")
    assert africastalking.wait_idle()
    assert [status for _, status in africastalking.deliveries.sent] == [200, 200]
    assert settled(town, movement_id).status is Status.COMPLETED
    assert town.balance() == OPENING - 1_000


def test_forged_notifications_change_nothing(town: Served, africastalking: FakeAfricasTalking) -> None:
    movement_id = airtime(town, "mv_at_forged", "+22890000002")  # the operator never answers
    request_id = town.movement(movement_id).provider_reference
    assert request_id is not None
    failed = urlencode({**africastalking.notification(request_id), "status": "Failed"}).encode()
    without_token = town.post_callback("africastalking", content=failed, headers=FORM)
    wrong_token = town.post_callback("africastalking", query="?token=guess", content=failed, headers=FORM)
    assert [r.status_code for r in (without_token, wrong_token)] == [401, 401]
    assert town.movement(movement_id).status is Status.PENDING
    # A notification whose value is not the order's amount is not applied either.
    cheap = urlencode({**africastalking.notification(request_id), "status": "Success",
                       "value": "XOF 1.0000"}).encode()
    assert town.post_callback("africastalking", query=f"?token={TOKEN}", content=cheap,
                              headers=FORM).status_code == 200
    assert town.movement(movement_id).status is Status.PENDING
    assert town.available() == OPENING - 1_000


def test_africastalking_reports_its_balance(town: Served, africastalking: FakeAfricasTalking) -> None:
    balances, _ = town.container.purchases.providers.balances()
    assert [(b.account, b.amount) for b in balances] == [("Africa's Talking", africastalking.balance)]
