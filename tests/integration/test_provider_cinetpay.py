"""CinetPay through its adapter, over HTTP against the fake CinetPay, notifications over HTTP with
their x-token HMAC: card top-ups (and mobile money, which the adapter also speaks)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from provider_support import OPENING, Served, public_address, served, settled

from sika.payments import Status
from sika.providers import Order, ProviderRejected, ProviderStatus
from sika.providers.cinetpay import CinetPay, CinetPayConfig
from sika_fakes.behaviour import Behaviour
from sika_fakes.cinetpay import FakeCinetPay


@pytest.fixture
def cinetpay() -> Iterator[FakeCinetPay]:
    with FakeCinetPay(Behaviour.at_once(slow_answer_s=1.0)) as fake:
        yield fake


@pytest.fixture
def town(sqlite_url: str, cinetpay: FakeCinetPay) -> Iterator[Served]:
    port, _ = public_address()
    with served(sqlite_url, port, cinetpay_url=cinetpay.url, cinetpay_apikey=cinetpay.apikey,
                cinetpay_site_id=cinetpay.site_id, cinetpay_secret_key=cinetpay.secret_key) as sika:
        yield sika


def card_top_up(town: Served, movement_id: str, label: str, amount: int = 20_000, *,
                refused: bool = False) -> str:
    started = town.container.purchases.top_up(movement_id, town.customer, provider="card",
                                              product="card_topup", reference=label, amount=amount)
    # The fake pays at once: its callback can settle the top-up before the order's answer returns.
    assert started.status in ((Status.PENDING, Status.FAILED) if refused
                              else (Status.PENDING, Status.COMPLETED)), started
    return started.id


def test_a_card_top_up_sends_the_customer_to_the_card_page_and_credits_once_notified(
        town: Served, cinetpay: FakeCinetPay) -> None:
    started = town.container.purchases.top_up("mv_cp_ok", town.customer, provider="card",
                                              product="card_topup", reference="tok_visa_4242", amount=20_000)
    page = httpx.get(started.details["payment_url"], timeout=5)
    assert page.status_code == 200 and "20000" in page.text  # the page the customer pays on
    assert cinetpay.wait_idle()
    done = settled(town, "mv_cp_ok")
    assert done.status is Status.COMPLETED and done.details["receipt"]["payment_method"] == "VISAM"
    assert town.balance() == OPENING + 20_000
    assert cinetpay.deliveries.sent[-1][1] == 200


def test_a_refused_card_credits_nothing(town: Served, cinetpay: FakeCinetPay) -> None:
    movement_id = card_top_up(town, "mv_cp_no", "tok_test_000001", refused=True)
    assert cinetpay.wait_idle()
    failed = settled(town, movement_id)
    assert (failed.status, failed.error_code) == (Status.FAILED, "provider_failed")
    assert town.balance() == OPENING


def test_an_initialisation_answered_after_the_timeout_is_checked_with_the_same_transaction_id(
        town: Served, cinetpay: FakeCinetPay) -> None:
    movement_id = card_top_up(town, "mv_cp_slow", "tok_test_000004")
    initialisations = [path for _, path in cinetpay.requests if path == "/v2/payment"]
    assert len(initialisations) == 2 and list(cinetpay.payments) == [movement_id]
    assert cinetpay.wait_idle()
    assert settled(town, movement_id).status is Status.COMPLETED
    assert town.balance() == OPENING + 20_000


def test_a_notification_delivered_twice_credits_once(town: Served, cinetpay: FakeCinetPay) -> None:
    movement_id = card_top_up(town, "mv_cp_twice", "tok_test_000003")
    assert cinetpay.wait_idle()
    assert [status for _, status in cinetpay.deliveries.sent] == [200, 200]
    assert settled(town, movement_id).status is Status.COMPLETED
    assert town.balance() == OPENING + 20_000


def test_a_notification_without_its_hmac_is_refused_and_credits_nothing(
        town: Served, cinetpay: FakeCinetPay) -> None:
    movement_id = card_top_up(town, "mv_cp_forged", "tok_test_000002")  # the customer never pays
    headers, fields = cinetpay.notification(movement_id)
    form = {"content-type": "application/x-www-form-urlencoded"}
    claimed = urlencode({**fields, "cpm_error_message": "SUCCES"}).encode()  # a forger claims success
    for token in ("0" * 64, headers["x-token"]):  # a made-up token, or the token of other fields
        forged = town.post_callback("cinetpay", content=claimed, headers={**form, "x-token": token})
        assert (forged.status_code, forged.json()["code"]) == (401, "forged_callback")
    # A genuine notification is checked with CinetPay before anything is credited: still waiting.
    genuine = town.post_callback("cinetpay", content=urlencode(fields).encode(), headers={**form, **headers})
    assert genuine.status_code == 200
    assert town.movement(movement_id).status is Status.PENDING
    assert town.balance() == OPENING
    assert httpx.get(f"{town.url}/v1/providers/cinetpay/callback", timeout=5).status_code == 200


def test_card_numbers_never_reach_sika_and_amounts_go_by_fives(town: Served) -> None:
    purchases = town.container.purchases
    with pytest.raises(ProviderRejected) as number:
        purchases.top_up("mv_cp_pan", town.customer, provider="card", product="card_topup",
                         reference="4111111111111111", amount=20_000)
    with pytest.raises(ProviderRejected) as odd:
        purchases.top_up("mv_cp_odd", town.customer, provider="card", product="card_topup",
                         reference="tok_visa_4242", amount=20_003)
    assert (number.value.code, odd.value.code) == ("invalid_reference", "invalid_amount")
    assert town.container.payments.find("mv_cp_pan") is None and town.balance() == OPENING


def test_the_adapter_speaks_mobile_money_too(cinetpay: FakeCinetPay) -> None:
    adapter = CinetPay(CinetPayConfig(cinetpay.url, cinetpay.apikey, cinetpay.site_id, cinetpay.secret_key,
                                      notify_url="http://127.0.0.1:9/notify", return_url="http://127.0.0.1:9/",
                                      channels="MOBILE_MONEY"))
    try:
        pending = adapter.submit(Order("mv_cp_mm", "card", "card_topup", "tok_wallet_flooz", 1_000))
        assert pending.status is ProviderStatus.PENDING and "redirect_url" in pending.receipt
        assert cinetpay.wait_idle()
        assert adapter.status("mv_cp_mm", product="card_topup").status is ProviderStatus.SUCCEEDED
        assert adapter.status("mv_unknown", product="card_topup").error_code == "unknown_order"
    finally:
        adapter.close()
