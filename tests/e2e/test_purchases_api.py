"""Airtime, data, bills, TV and top-ups through HTTP, through the real adapters and their local fakes
(which fail, hang, answer late and call back twice on magic references)."""

from __future__ import annotations

import pytest
from e2e_support import World, key

from sika.payments import Status
from sika_fakes.local import LocalFakes

AMA = "+22890112233"


@pytest.fixture
def ama(world: World) -> dict[str, str]:
    return world.wallet(AMA, "Ama Mensah", cash=100_000)


def _settle_callbacks(world: World) -> None:
    assert world.container.purchases.providers.wait_for_callbacks(5.0)


def test_airtime_for_another_number_is_paid_at_once(world: World, ama: dict[str, str]) -> None:
    bought = world.client.post(
        "/v1/airtime",
        headers={**ama, **key()},
        json={"operator": "moov", "msisdn": "99123456", "amount": 1_000},
    )
    assert bought.status_code == 201, bought.text
    assert (bought.json()["status"], bought.json()["kind"]) == ("completed", "airtime")
    assert world.balance(AMA) == 100_000 - 1_000


def test_airtime_limits_and_operator_hint(world: World, ama: dict[str, str]) -> None:
    small = world.client.post(
        "/v1/airtime", headers={**ama, **key()}, json={"operator": "togocom", "amount": 50}
    )
    assert (small.status_code, small.json()["code"]) == (409, "amount_below_minimum")
    hint = world.client.get("/v1/operators/hint", params={"msisdn": "97112233"}).json()
    assert hint == {"msisdn": "+22897112233", "operator": "moov"}
    assert world.balance(AMA) == 100_000


def test_a_ceet_token_comes_in_the_receipt(world: World, ama: dict[str, str]) -> None:
    paid = world.client.post(
        "/v1/bills",
        headers={**ama, **key()},
        json={"provider": "ceet", "reference": "12345678903", "amount": 5_000},
    )
    assert paid.status_code == 201, paid.text
    token = paid.json()["details"]["receipt"]["token"]
    assert len(token.replace("-", "")) == 20
    assert world.balance(AMA) == 100_000 - 5_000 - 100


def test_tde_water_is_looked_up_then_paid(world: World, ama: dict[str, str]) -> None:
    quote = world.client.get(
        "/v1/purchases/quote",
        headers=ama,
        params={"provider": "tde", "product": "water", "reference": "12345678"},
    )
    assert quote.status_code == 200, quote.text
    due = quote.json()["amount"]
    wrong = world.client.post(
        "/v1/bills",
        headers={**ama, **key()},
        json={"provider": "tde", "reference": "12345678", "amount": due + 1},
    )
    assert wrong.json()["code"] == "amount_mismatch"
    paid = world.client.post(
        "/v1/bills",
        headers={**ama, **key()},
        json={"provider": "tde", "reference": "12345678", "amount": due},
    )
    assert paid.status_code == 201, paid.text
    assert world.balance(AMA) == 100_000 - due - 100


def test_a_declined_bill_releases_the_hold(world: World, ama: dict[str, str]) -> None:
    declined = world.client.post(
        "/v1/bills",
        headers={**ama, **key()},
        json={"provider": "canal", "reference": "10000000000001", "package": "ACCESS", "amount": 5_000},
    )
    assert (declined.status_code, declined.json()["code"]) == (502, "provider_failed")
    wallet = world.client.get(f"/v1/wallets/{AMA}", headers=world.admin).json()
    assert wallet["balance"] == wallet["available"] == 100_000


def test_a_provider_that_never_answers_is_given_up_at_the_deadline(world: World, ama: dict[str, str]) -> None:
    hung = world.client.post(
        "/v1/airtime",
        headers={**ama, **key()},
        json={"operator": "togocom", "msisdn": "+22890000002", "amount": 2_000},
    )
    assert (hung.status_code, hung.json()["status"]) == (201, "pending")
    wallet = world.client.get(f"/v1/wallets/{AMA}", headers=world.admin).json()
    assert (wallet["balance"], wallet["available"]) == (100_000, 100_000 - 2_000)
    purchases = world.container.purchases
    purchases._poll_ns = 0
    purchases.poll()
    assert world.container.payments.get(hung.json()["id"]).status is Status.PENDING
    assert [m.id for m in world.container.payments.stuck()] == []
    purchases._deadline_ns = 0
    from sqlalchemy import update

    from sika.payments.schema import movements

    with world.container.engine.begin() as connection:
        connection.execute(update(movements).values(deadline_ns=0))
    assert [m.id for m in world.container.payments.stuck()] == [hung.json()["id"]]
    purchases.poll()
    gone = world.client.get(f"/v1/transfers/{hung.json()['id']}", headers=ama).json()
    assert (gone["status"], gone["error_code"]) == ("failed", "provider_timeout")
    wallet = world.client.get(f"/v1/wallets/{AMA}", headers=world.admin).json()
    assert wallet["balance"] == wallet["available"] == 100_000


def test_a_double_callback_pays_once(world: World, ama: dict[str, str]) -> None:
    bought = world.client.post(
        "/v1/airtime",
        headers={**ama, **key()},
        json={"operator": "togocom", "msisdn": "+22890000003", "amount": 3_000},
    )
    assert bought.status_code == 201, bought.text
    _settle_callbacks(world)
    done = world.client.get(f"/v1/transfers/{bought.json()['id']}", headers=ama).json()
    assert done["status"] == "completed"
    assert world.balance(AMA) == 100_000 - 3_000


def test_a_provider_that_answers_after_the_timeout_is_asked_again_and_charges_once(
        world: World, ama: dict[str, str]) -> None:
    bought = world.client.post(
        "/v1/airtime",
        headers={**ama, **key()},
        json={"operator": "togocom", "msisdn": "+22890000004", "amount": 1_500},
    )
    assert (bought.status_code, bought.json()["status"]) == (201, "completed")
    fakes = world.container.purchases.providers.find_owned(LocalFakes)
    assert fakes is not None and len(fakes.africastalking.sent) == 1  # two sends, one airtime
    assert world.balance(AMA) == 100_000 - 1_500


def test_card_top_up_credits_the_wallet_once_confirmed(world: World, ama: dict[str, str]) -> None:
    started = world.client.post(
        "/v1/top-ups",
        headers={**ama, **key()},
        json={"source": "card", "reference": "tok_visa_4242", "amount": 20_000},
    )
    assert started.status_code == 201, started.text
    assert started.json()["status"] in ("pending", "processing", "completed")  # the callback may be quick
    assert started.json()["counterparty"] == "tok_visa_4242"  # the card's label; no card number is kept
    assert "/pay/" in started.json()["details"]["payment_url"]  # where the customer types the card
    _settle_callbacks(world)
    assert world.container.payments.get(started.json()["id"]).status is Status.COMPLETED
    assert world.balance(AMA) == 120_000


def test_flooz_top_up_through_paygate(world: World, ama: dict[str, str]) -> None:
    started = world.client.post(
        "/v1/top-ups",
        headers={**ama, **key()},
        json={"source": "flooz", "reference": "+22899123456", "amount": 5_000},
    )
    assert started.status_code == 201, started.text
    _settle_callbacks(world)
    world.container.purchases._poll_ns = 0
    world.container.purchases.poll()
    assert world.container.payments.get(started.json()["id"]).status is Status.COMPLETED
    assert world.balance(AMA) == 105_000


def test_a_top_up_confirmed_after_it_was_given_up_moves_nothing_and_is_reconciled(
    world: World, ama: dict[str, str]
) -> None:
    started = world.client.post(
        "/v1/top-ups",
        headers={**ama, **key()},
        json={"source": "card", "reference": "tok_sandbox_000002", "amount": 7_000},
    )
    assert (started.status_code, started.json()["status"]) == (201, "pending")  # never answers
    payments = world.container.payments
    movement_id = started.json()["id"]
    payments.settle(movement_id, success=False, error_code="provider_timeout", reason="gave up")
    late = payments.settle(movement_id, success=True, receipt={"authorization_code": "123456"})
    assert (late.status, late.error_code) == (Status.FAILED, "provider_timeout")
    assert late.details["late_outcome"] == "succeeded"
    assert world.balance(AMA) == 100_000  # nothing credited
    assert movement_id in [m.id for m in payments.stuck()]


def test_a_card_number_is_never_taken_and_nothing_is_credited(world: World, ama: dict[str, str]) -> None:
    refused = world.client.post(
        "/v1/top-ups",
        headers={**ama, **key()},
        json={"source": "card", "reference": "4111111111111111", "amount": 50_000},
    )
    # docs/wallet.md, "Errors": no such card is 404
    assert (refused.status_code, refused.json()["code"]) == (404, "invalid_reference")
    assert world.balance(AMA) == 100_000


def test_a_cinetpay_notification_arrives_on_the_callback_route_and_a_forged_one_is_refused(
        world: World, ama: dict[str, str]) -> None:
    started = world.client.post(
        "/v1/top-ups",
        headers={**ama, **key()},
        json={"source": "card", "reference": "tok_test_000002", "amount": 9_000},  # the customer waits
    )
    movement_id = started.json()["id"]
    fakes = world.container.purchases.providers.find_owned(LocalFakes)
    assert fakes is not None
    fakes.cinetpay.payments[movement_id].status = "ACCEPTED"  # the customer pays on the page
    headers, fields = fakes.cinetpay.notification(movement_id)
    form = {"content-type": "application/x-www-form-urlencoded"}
    forged = world.client.post("/v1/providers/cinetpay/callback", data={**fields, "cpm_amount": "900000"},
                               headers={**form, **headers})
    assert (forged.status_code, forged.json()["code"]) == (401, "forged_callback")
    assert world.balance(AMA) == 100_000
    taken = world.client.post("/v1/providers/cinetpay/callback", data=fields, headers={**form, **headers})
    assert (taken.status_code, taken.json()) == (200, {"received": 1})
    again = world.client.post("/v1/providers/cinetpay/callback", data=fields, headers={**form, **headers})
    assert again.status_code == 200
    assert world.container.payments.get(movement_id).status is Status.COMPLETED
    assert world.balance(AMA) == 109_000  # once
    unknown = world.client.post("/v1/providers/nobody/callback", content=b"{}")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_provider")
