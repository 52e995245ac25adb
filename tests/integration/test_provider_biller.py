"""The biller aggregator (Sika's protocol) through its adapter, over HTTP against the fake aggregator,
signed callbacks over HTTP: CEET tokens, TdE bills, Canal+ renewals, data bundles."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from provider_support import OPENING, Served, public_address, served, settled

from sika.payments import Status
from sika.providers import ProviderRejected
from sika_fakes.behaviour import Behaviour
from sika_fakes.biller import FakeBiller

FEE = 100  # the bill fee of the default schedule at these amounts


@pytest.fixture
def biller() -> Iterator[FakeBiller]:
    with FakeBiller(Behaviour.at_once(slow_answer_s=1.0)) as fake:
        yield fake


@pytest.fixture
def town(sqlite_url: str, biller: FakeBiller) -> Iterator[Served]:
    port, _ = public_address()
    with served(sqlite_url, port, biller_url=biller.url, biller_api_key=biller.api_key,
                biller_secret=biller.secret) as sika:
        yield sika


def pay(town: Served, movement_id: str, provider: str, product: str, reference: str, *,
        amount: int | None) -> str:
    return town.container.purchases.buy(movement_id, town.customer, provider=provider, product=product,
                                        reference=reference, amount=amount).id


def test_a_ceet_token_comes_back_at_once(town: Served, biller: FakeBiller) -> None:
    done = town.movement(pay(town, "mv_b_ceet", "ceet", "electricity", "12345678903", amount=5_000))
    assert done.status is Status.COMPLETED
    assert len(done.details["receipt"]["token"].replace("-", "")) == 20
    assert town.balance() == OPENING - 5_000 - FEE
    assert biller.payments["mv_b_ceet"].amount == 5_000


def test_the_catalogue_comes_from_the_aggregator(town: Served) -> None:
    catalogue = town.container.purchases.catalogue()
    bundles = next(e for e in catalogue if e["provider"] == "moov" and e["kind"] == "data")["products"]
    assert {"product": "data:DAY250", "name": "Internet Jour 250 Mo", "price": 200, "amount_min": 200,
            "amount_max": 200, "volume_mb": 250, "validity_days": 1} in bundles
    # No airtime here: Africa's Talking is not configured in this town.
    assert {e["provider"] for e in catalogue} == {"ceet", "tde", "canal", "togocom", "moov"}


def test_a_refused_meter_never_reaches_the_aggregator_and_a_declined_bill_releases_the_hold(
        town: Served, biller: FakeBiller) -> None:
    with pytest.raises(ProviderRejected) as typo:
        pay(town, "mv_b_typo", "ceet", "electricity", "12345678904", amount=5_000)  # check digit wrong
    assert typo.value.code == "invalid_reference" and biller.requests == [("GET", "/v1/catalogue")] * len(
        biller.requests)
    declined = town.movement(pay(town, "mv_b_no", "canal", "tv:ACCESS", "10000000000001", amount=5_000))
    assert (declined.status, declined.error_code) == (Status.FAILED, "provider_failed")
    assert town.balance() == town.available() == OPENING


def test_a_payment_answered_after_the_timeout_is_asked_again_with_the_same_order_id(
        town: Served, biller: FakeBiller) -> None:
    done = town.movement(pay(town, "mv_b_slow", "tde", "water", "10000004", amount=None))
    payments = [path for method, path in biller.requests if (method, path) == ("POST", "/v1/payments")]
    assert len(payments) == 2 and list(biller.payments) == ["mv_b_slow"]
    assert done.status is Status.COMPLETED
    assert town.balance() == OPENING - biller.payments["mv_b_slow"].amount - FEE


def test_a_pending_bill_is_settled_once_by_a_callback_delivered_twice(
        town: Served, biller: FakeBiller) -> None:
    movement_id = pay(town, "mv_b_twice", "togocom", "data:J1GO", "+22890000003", amount=None)
    assert biller.wait_idle()
    assert [status for _, status in biller.deliveries.sent] == [200, 200]
    done = settled(town, movement_id)
    assert done.status is Status.COMPLETED and done.details["receipt"]["bundle"] == "J1GO"
    assert town.balance() == OPENING - 500 - done.fee


def test_forged_and_replayed_callbacks_change_nothing(town: Served, biller: FakeBiller) -> None:
    # The aggregator never answers about this card (magic 2).
    movement_id = pay(town, "mv_b_forged", "canal", "tv:ACCESS", "10000000000002", amount=5_000)
    assert town.movement(movement_id).status is Status.PENDING
    claim = {"order_id": movement_id, "status": "succeeded", "amount": 5_000, "receipt": {}}
    headers, raw = biller.signed(claim)
    forged = town.post_callback("biller", content=raw, headers={**headers, "X-Biller-Signature": "sha256=00"})
    stale_headers, stale_raw = biller.signed(claim, timestamp=str(int(time.time()) - 3_600))
    replayed = town.post_callback("biller", content=stale_raw, headers=stale_headers)
    other_body = town.post_callback("biller", content=json.dumps({**claim, "amount": 1}).encode(),
                                    headers=headers)
    assert [r.status_code for r in (forged, replayed, other_body)] == [401, 401, 401]
    assert town.movement(movement_id).status is Status.PENDING
    assert town.available() == OPENING - 5_000 - FEE
