"""PayGate Global through its adapter, over HTTP against the fake PayGate, callbacks over HTTP too:
Flooz and T-Money top-ups, and payouts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from provider_support import AMA, OPENING, Served, public_address, served, settled

from sika.payments import Status
from sika.wallet import Pin
from sika_fakes.behaviour import Behaviour
from sika_fakes.paygate import FakePayGate

TOKEN = "paygate-callback-token-0123"


@pytest.fixture
def paygate() -> Iterator[FakePayGate]:
    with FakePayGate(Behaviour.at_once(slow_answer_s=1.0)) as fake:
        yield fake


@pytest.fixture
def town(sqlite_url: str, paygate: FakePayGate) -> Iterator[Served]:
    port, public = public_address()
    paygate.callback_url = f"{public}/v1/providers/paygate/callback?token={TOKEN}"
    with served(sqlite_url, port, paygate_url=paygate.url, paygate_auth_token=paygate.auth_token,
                paygate_callback_token=TOKEN) as sika:
        yield sika


def top_up(town: Served, movement_id: str, msisdn: str, amount: int = 5_000, network: str = "FLOOZ") -> str:
    started = town.container.purchases.top_up(movement_id, town.customer, provider="paygate",
                                              product=f"wallet_topup:{network}", reference=msisdn,
                                              amount=amount)
    # The customer confirms on the phone: pending, unless the fake's instant customer was quicker.
    assert started.status in (Status.PENDING, Status.COMPLETED), started
    return started.id


def test_a_flooz_top_up_is_credited_once_paygate_calls_back(town: Served, paygate: FakePayGate) -> None:
    movement_id = top_up(town, "mv_pg_ok", "+22899123456")
    assert paygate.wait_idle()
    done = settled(town, movement_id)
    registered = paygate.payments[movement_id]
    assert (done.status, done.provider_reference) == (Status.COMPLETED, registered.tx_reference)
    assert done.details["receipt"]["payment_reference"].startswith("FLOOZ.")
    assert town.balance() == OPENING + 5_000
    assert paygate.deliveries.sent[-1][1] == 200  # the callback went over HTTP and was taken


def test_a_cancelled_payment_is_found_by_polling_and_credits_nothing(
        town: Served, paygate: FakePayGate) -> None:
    movement_id = top_up(town, "mv_pg_no", "+22890000001", network="TMONEY")
    assert paygate.wait_idle()
    assert paygate.payments[movement_id].status == 6  # cancelled: PayGate does not call back
    town.poll()
    failed = town.movement(movement_id)
    assert (failed.status, failed.error_code) == (Status.FAILED, "provider_failed")
    assert town.balance() == OPENING


def test_a_registration_answered_after_the_timeout_is_asked_again_with_the_same_identifier(
        town: Served, paygate: FakePayGate) -> None:
    movement_id = top_up(town, "mv_pg_slow", "+22890000004")
    pays = [path for method, path in paygate.requests if path == "/api/v1/pay"]
    assert len(pays) == 2 and len(paygate.payments) == 1  # retried, registered once ("duplicate")
    assert paygate.wait_idle()
    assert settled(town, movement_id).status is Status.COMPLETED
    assert town.balance() == OPENING + 5_000


def test_a_lost_registration_is_retried_and_goes_through(town: Served, paygate: FakePayGate) -> None:
    movement_id = top_up(town, "mv_pg_lost", "+22890000006")
    assert paygate.wait_idle()
    assert settled(town, movement_id).status is Status.COMPLETED
    assert town.balance() == OPENING + 5_000


def test_a_callback_delivered_twice_credits_once(town: Served, paygate: FakePayGate) -> None:
    movement_id = top_up(town, "mv_pg_twice", "+22890000003", amount=7_000)
    assert paygate.wait_idle()
    assert [status for _, status in paygate.deliveries.sent] == [200, 200]
    assert settled(town, movement_id).status is Status.COMPLETED
    assert town.balance() == OPENING + 7_000


def test_forged_callbacks_change_nothing(town: Served, paygate: FakePayGate) -> None:
    movement_id = top_up(town, "mv_pg_forged", "+22890000002")  # never confirmed by the customer
    forged = json.dumps({"identifier": movement_id, "tx_reference": "1", "amount": 5_000}).encode()
    without_token = town.post_callback("paygate", content=forged)
    assert (without_token.status_code, without_token.json()["code"]) == (401, "forged_callback")
    # With the token, PayGate's unsigned word is still not believed: Sika asks PayGate, which says 2.
    with_token = town.post_callback("paygate", query=f"?token={TOKEN}", content=forged)
    assert with_token.status_code == 200
    assert town.movement(movement_id).status is Status.PENDING
    assert town.balance() == OPENING


def test_paygate_reports_its_balances(town: Served, paygate: FakePayGate) -> None:
    balances, failed = town.container.purchases.providers.balances()
    assert failed == []
    assert {b.account: b.amount for b in balances} == {"PayGate Flooz": paygate.balance["flooz"],
                                                       "PayGate T-Money": paygate.balance["tmoney"]}


# Payouts ------------------------------------------------------------------------------------------


@pytest.fixture
def shop(town: Served) -> int:
    merchant, _ = town.container.merchants.create("Assigamé Market")
    approval = town.container.approvals.request_payment("ap_shop", merchant, AMA, 20_000, description="stock")
    town.container.approvals.approve(approval.id, town.customer, Pin("4827")).raise_for_failure()
    return merchant.id


def merchant_balance(town: Served, merchant_id: int) -> int:
    merchant = town.container.merchants.get(merchant_id)
    return town.container.ledger.get_account(merchant.account_id).balance


def test_a_merchant_payout_leaves_its_balance_once_paygate_pays(town: Served, paygate: FakePayGate,
                                                                 shop: int) -> None:
    before = merchant_balance(town, shop)
    merchant = town.container.merchants.get(shop)
    done = town.container.payouts.merchant_payout("mv_po_ok", merchant, msisdn="+22899123456",
                                                  network="FLOOZ", amount=10_000)
    assert done.status is Status.COMPLETED
    assert merchant_balance(town, shop) == before - 10_000
    assert [(p["reference"], p["amount"], p["phone_number"]) for p in paygate.payouts] == [
        ("mv_po_ok", 10_000, "99123456")]


def test_a_refused_payout_gives_the_balance_back(town: Served, paygate: FakePayGate, shop: int) -> None:
    before = merchant_balance(town, shop)
    merchant = town.container.merchants.get(shop)
    done = town.container.payouts.merchant_payout("mv_po_no", merchant, msisdn="+22890000001",
                                                  network="TMONEY", amount=10_000)
    assert (done.status, done.error_code) == (Status.FAILED, "provider_failed")
    assert merchant_balance(town, shop) == before and paygate.payouts == []


def test_a_payout_whose_answer_is_lost_is_never_sent_twice_and_waits_for_an_operator(
        town: Served, paygate: FakePayGate, shop: int) -> None:
    merchant = town.container.merchants.get(shop)
    before = merchant_balance(town, shop)
    held = town.container.payouts.merchant_payout("mv_po_slow", merchant, msisdn="+22890000004",
                                                  network="FLOOZ", amount=10_000)
    assert held.status is Status.PENDING and held.details["outcome_unknown"] is True
    assert len(paygate.payouts) == 1  # not retried: PayGate does not say a reference is idempotent
    town.poll()  # the poll job leaves payouts alone: no clock gives the money back
    assert town.movement(held.id).status is Status.PENDING
    done = town.container.payouts.resolve(held.id, sent=True)
    assert done.status is Status.COMPLETED and merchant_balance(town, shop) == before - 10_000
