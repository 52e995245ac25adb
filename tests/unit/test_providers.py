"""Provider sandboxes: validation, receipts, idempotency, and the magic references that misbehave."""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import TypeVar

import pytest

from sika.providers import (
    CANAL_PACKAGES,
    MOOV_BUNDLES,
    TOGOCOM_BUNDLES,
    CanalSandbox,
    CardSandbox,
    CeetSandbox,
    Magic,
    MoovSandbox,
    Order,
    Outcome,
    PayGateSandbox,
    PayGateStatus,
    ProviderRejected,
    ProviderStatus,
    ProviderUnavailable,
    SandboxBehaviour,
    SandboxProvider,
    TdeSandbox,
    TogocomSandbox,
    operator_hint,
    outcome_from_paygate,
    sandbox_providers,
)
from sika.providers.sandbox import magic_of

S = TypeVar("S", bound=SandboxProvider)
Build = Callable[..., SandboxProvider]
INSTANT = SandboxBehaviour.instant()
_ids = itertools.count()


def order_id() -> str:
    return f"ord-{next(_ids)}"


class Calls:
    """A callback that remembers what it was told."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Outcome]] = []
        self._lock = threading.Lock()
        self.first = threading.Event()

    def __call__(self, order_id: str, outcome: Outcome) -> None:
        with self._lock:
            self.received.append((order_id, outcome))
        self.first.set()


@pytest.fixture
def sandbox() -> Iterator[Build]:
    """Builds sandboxes (instant by default) and closes them after the test."""
    built: list[SandboxProvider] = []

    def build(kind: type[S], behaviour: SandboxBehaviour = INSTANT, **options: int) -> S:
        provider = kind(behaviour, **options)
        built.append(provider)
        return provider

    yield build
    for provider in built:
        provider.close()


def reject_code(call: Callable[[], object]) -> str:
    with pytest.raises(ProviderRejected) as raised:
        call()
    return raised.value.code


# Operators.


@pytest.mark.parametrize(("msisdn", "operator"), [
    ("+22890112233", "togocom"), ("+22870112233", "togocom"), ("+22893112233", "togocom"),
    ("+22899112233", "moov"), ("+22896112233", "moov"), ("+22879112233", "moov"),
    ("+22822212233", None), ("+22507112233", None), ("90112233", None), ("", None),
])
def test_the_operator_hint_reads_the_togolese_prefix(msisdn: str, operator: str | None) -> None:
    assert operator_hint(msisdn) == operator


@pytest.mark.parametrize(("amount", "code"), [
    (99, "amount_below_minimum"), (100_001, "amount_above_maximum"), (None, "amount_required"),
])
def test_airtime_amounts_are_bounded(sandbox: Build, amount: int | None,
                                     code: str) -> None:
    togocom = sandbox(TogocomSandbox)
    assert reject_code(lambda: togocom.quote("airtime", "+22890112233", amount)) == code
    assert togocom.quote("airtime", "+22890112233", 100).amount == 100
    assert togocom.quote("airtime", "+22890112233", 100_000).amount == 100_000


def test_airtime_limits_are_configurable(sandbox: Build) -> None:
    moov = sandbox(MoovSandbox, airtime_amount_min=500, airtime_amount_max=50_000)
    assert reject_code(lambda: moov.quote("airtime", "+22899112233", 400)) == "amount_below_minimum"
    assert reject_code(lambda: moov.quote("airtime", "+22899112233", 50_001)) == "amount_above_maximum"


@pytest.mark.parametrize("reference", ["90112233", "+228 90 11 22 33", "+22822212233", "+2250700000000", "x"])
def test_operators_take_togolese_mobile_numbers_in_e164(sandbox: Build,
                                                        reference: str) -> None:
    togocom = sandbox(TogocomSandbox)
    assert reject_code(lambda: togocom.quote("airtime", reference, 500)) == "invalid_reference"


def test_a_ported_number_is_topped_up_by_the_operator_the_customer_picked(
    sandbox: Build,
) -> None:
    moov = sandbox(MoovSandbox)
    outcome = moov.submit(Order(order_id(), "moov", "airtime", "+22890112233", 1_000))
    assert outcome.status is ProviderStatus.SUCCEEDED


def test_a_data_bundle_costs_its_catalogue_price(sandbox: Build) -> None:
    togocom = sandbox(TogocomSandbox)
    bundle = TOGOCOM_BUNDLES[1]
    quote = togocom.quote(f"data:{bundle.code}", "+22890112233", None)
    assert quote.amount == bundle.price
    assert quote.details["volume_mb"] == str(bundle.volume_mb)
    assert togocom.quote(f"data:{bundle.code}", "+22890112233", bundle.price).amount == bundle.price
    assert reject_code(lambda: togocom.quote(f"data:{bundle.code}", "+22890112233", bundle.price + 1)) \
        == "amount_mismatch"


@pytest.mark.parametrize("product", ["data:NOPE", f"data:{MOOV_BUNDLES[0].code}", "data:", "voice", "x" * 99])
def test_an_unknown_bundle_or_product_is_refused(sandbox: Build, product: str) -> None:
    togocom = sandbox(TogocomSandbox)
    assert reject_code(lambda: togocom.quote(product, "+22890112233", None)) == "unknown_product"


def test_a_bundle_receipt_names_the_bundle(sandbox: Build) -> None:
    moov = sandbox(MoovSandbox)
    bundle = MOOV_BUNDLES[2]
    outcome = moov.submit(Order(order_id(), "moov", f"data:{bundle.code}", "+22899112233", bundle.price))
    assert outcome.status is ProviderStatus.SUCCEEDED
    assert outcome.receipt["bundle"] == bundle.code
    assert outcome.receipt["validity_days"] == str(bundle.validity_days)


# CEET.


@pytest.mark.parametrize("meter", ["12345678901", "1234567890", "123456789012", "1234567890a", ""])
def test_a_mistyped_meter_is_refused(sandbox: Build, meter: str) -> None:
    # 12345678903 is the valid one: every other last digit fails the check.
    ceet = sandbox(CeetSandbox)
    assert reject_code(lambda: ceet.quote("electricity", meter, 5_000)) == "invalid_reference"


def test_a_cash_power_token_is_twenty_digits_in_groups_of_four(sandbox: Build) -> None:
    ceet = sandbox(CeetSandbox)
    quote = ceet.quote("electricity", "12345678903", 5_000)
    assert quote.amount == 5_000
    assert quote.details["units_kwh"] == "44.6"
    outcome = ceet.submit(Order(order_id(), "ceet", "electricity", "12345678903", 5_000))
    assert outcome.status is ProviderStatus.SUCCEEDED
    assert re.fullmatch(r"\d{4}(-\d{4}){4}", outcome.receipt["token"])
    assert len(outcome.receipt["token"].replace("-", "")) == 20
    assert outcome.receipt["units_kwh"] == "44.6"


@pytest.mark.parametrize(("amount", "code"), [
    (499, "amount_below_minimum"), (500_001, "amount_above_maximum"),
])
def test_electricity_amounts_are_bounded(sandbox: Build, amount: int, code: str) -> None:
    ceet = sandbox(CeetSandbox)
    assert reject_code(lambda: ceet.quote("electricity", "12345678903", amount)) == code


# TdE.


def test_a_water_bill_is_paid_exactly_and_once(sandbox: Build) -> None:
    tde = sandbox(TdeSandbox)
    quote = tde.quote("water", "12345678", None)
    assert quote.amount > 0
    assert re.fullmatch(r"\d{4}-\d{2}", quote.details["period"])
    assert reject_code(lambda: tde.quote("water", "12345678", quote.amount - 50)) == "amount_mismatch"

    short = tde.submit(Order(order_id(), "tde", "water", "12345678", quote.amount - 50))
    assert (short.status, short.error_code) == (ProviderStatus.FAILED, "amount_mismatch")

    paid = tde.submit(Order(order_id(), "tde", "water", "12345678", quote.amount))
    assert paid.status is ProviderStatus.SUCCEEDED
    assert reject_code(lambda: tde.quote("water", "12345678", None)) == "nothing_due"
    again = tde.submit(Order(order_id(), "tde", "water", "12345678", quote.amount))
    assert (again.status, again.error_code) == (ProviderStatus.FAILED, "nothing_due")


@pytest.mark.parametrize(("reference", "code"), [
    ("1234567", "invalid_reference"), ("01234567", "invalid_reference"), ("12345600", "nothing_due"),
])
def test_water_references_are_looked_up(sandbox: Build, reference: str,
                                        code: str) -> None:
    tde = sandbox(TdeSandbox)
    assert reject_code(lambda: tde.quote("water", reference, None)) == code


# Canal+.


def test_a_canal_package_is_paid_by_the_month(sandbox: Build) -> None:
    canal = sandbox(CanalSandbox)
    evasion = next(p for p in CANAL_PACKAGES if p.code == "EVASION")
    quote = canal.quote("tv:EVASION", "12345678901234", None)
    assert (quote.amount, quote.description) == (evasion.monthly_price, "Canal+ Evasion, 1 month")
    assert canal.quote("tv:EVASION", "12345678901234", 3 * evasion.monthly_price).details["months"] == "3"
    for amount in (evasion.monthly_price + 1, 13 * evasion.monthly_price):
        assert reject_code(partial(canal.quote, "tv:EVASION", "12345678901234", amount)) == "amount_mismatch"


@pytest.mark.parametrize(("product", "reference", "code"), [
    ("tv:EVASION", "1234567890123", "invalid_reference"),
    ("tv:EVASION", "1234567890123a", "invalid_reference"),
    ("tv:PREMIUM", "12345678901234", "unknown_product"),
    ("airtime", "12345678901234", "unknown_product"),
])
def test_a_bad_canal_card_or_package_is_refused(sandbox: Build, product: str,
                                                reference: str, code: str) -> None:
    canal = sandbox(CanalSandbox)
    assert reject_code(lambda: canal.quote(product, reference, None)) == code


# Card.


@pytest.mark.parametrize("reference", ["4242424242424241", "42424242", "tok_", "tok_a b c", "card"])
def test_a_bad_card_is_refused(sandbox: Build, reference: str) -> None:
    card = sandbox(CardSandbox)
    assert reject_code(lambda: card.quote("card_topup", reference, 5_000)) == "invalid_reference"


def test_a_card_quote_shows_the_last_four_digits_only(sandbox: Build) -> None:
    card = sandbox(CardSandbox)
    quote = card.quote("card_topup", "4242424242424242", 5_000)
    assert quote.details == {"brand": "visa", "last4": "4242"}
    assert "424242424242" not in quote.description


def test_a_card_payment_is_pending_until_the_callback(sandbox: Build) -> None:
    card = sandbox(CardSandbox)
    calls = Calls()
    order = Order(order_id(), "card", "card_topup", "5555555555554444", 10_000)
    pending = card.submit(order, calls)
    assert pending.status is ProviderStatus.PENDING
    assert pending.receipt["redirect_url"].startswith("https://")
    assert calls.first.wait(5)
    assert card.wait_for_callbacks()
    [(called_id, outcome)] = calls.received
    assert called_id == order.id
    assert outcome.status is ProviderStatus.SUCCEEDED
    assert outcome.provider_reference == pending.provider_reference
    assert outcome.receipt["brand"] == "mastercard"
    assert re.fullmatch(r"\d{6}", outcome.receipt["authorization_code"])
    assert card.status(order.id) == outcome


def test_a_declined_card_is_told_by_callback(sandbox: Build) -> None:
    card = sandbox(CardSandbox)
    calls = Calls()
    order = Order(order_id(), "card", "card_topup", card.magic_reference(Magic.DECLINED), 10_000)
    assert card.submit(order, calls).status is ProviderStatus.PENDING
    assert card.wait_for_callbacks()
    [(_, outcome)] = calls.received
    assert (outcome.status, outcome.error_code) == (ProviderStatus.FAILED, "declined")


def test_a_saved_card_token_pays(sandbox: Build) -> None:
    card = sandbox(CardSandbox)
    order = Order(order_id(), "card", "card_topup", "tok_sandbox_7f3a", 2_000)
    assert card.submit(order).status is ProviderStatus.PENDING
    assert card.wait_for_callbacks()
    assert card.status(order.id).status is ProviderStatus.SUCCEEDED


# PayGate.


def test_a_paygate_payment_is_found_by_polling(sandbox: Build) -> None:
    paygate = sandbox(PayGateSandbox)
    order = Order(order_id(), "paygate", "wallet_topup:FLOOZ", "+22899112233", 25_000)
    pending = paygate.submit(order)
    assert pending.status is ProviderStatus.PENDING
    assert pending.receipt["paygate_status"] == "2"
    assert paygate.wait_for_callbacks()
    outcome = paygate.status(order.id)
    assert outcome.status is ProviderStatus.SUCCEEDED
    assert outcome.receipt["paygate_status"] == "0"
    assert outcome.receipt["network"] == "FLOOZ"
    assert outcome.provider_reference == pending.provider_reference


def test_paygate_refuses_other_networks(sandbox: Build) -> None:
    paygate = sandbox(PayGateSandbox)
    for product in ("wallet_topup:MTN", "wallet_topup", "airtime"):
        assert reject_code(partial(paygate.quote, product, "+22890112233", 1_000)) == "unknown_product"


@pytest.mark.parametrize(("code", "status", "error_code"), [
    (PayGateStatus.SUCCEEDED, ProviderStatus.SUCCEEDED, None),
    (PayGateStatus.IN_PROGRESS, ProviderStatus.PENDING, None),
    (PayGateStatus.EXPIRED, ProviderStatus.FAILED, "expired"),
    (PayGateStatus.CANCELLED, ProviderStatus.FAILED, "declined"),
    (7, ProviderStatus.PENDING, None),
])
def test_paygate_status_codes_map_to_outcomes(code: int, status: ProviderStatus,
                                              error_code: str | None) -> None:
    outcome = outcome_from_paygate(code, tx_reference="123", network="TMONEY")
    assert (outcome.status, outcome.error_code) == (status, error_code)
    assert outcome.provider_reference == "123"


# Idempotency, unknown orders, currencies.


def test_submitting_an_order_twice_charges_once(sandbox: Build) -> None:
    tde = sandbox(TdeSandbox)
    due = tde.quote("water", "87654321", None).amount
    order = Order(order_id(), "tde", "water", "87654321", due)
    first = tde.submit(order)
    assert first.status is ProviderStatus.SUCCEEDED
    assert tde.submit(order) == first
    assert tde.status(order.id) == first


def test_reusing_an_order_id_for_another_order_is_refused(sandbox: Build) -> None:
    togocom = sandbox(TogocomSandbox)
    first = Order(order_id(), "togocom", "airtime", "+22890112233", 500)
    togocom.submit(first)
    other = Order(first.id, "togocom", "airtime", "+22890112233", 600)
    assert reject_code(lambda: togocom.submit(other)) == "order_conflict"


def test_a_concurrent_retry_storm_makes_one_order(sandbox: Build) -> None:
    tde = sandbox(TdeSandbox)
    due = tde.quote("water", "11223344", None).amount
    order = Order(order_id(), "tde", "water", "11223344", due)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: tde.submit(order), range(32)))
    assert {outcome.status for outcome in outcomes} == {ProviderStatus.SUCCEEDED}
    assert len({outcome.provider_reference for outcome in outcomes}) == 1


def test_concurrent_orders_each_get_one_callback(sandbox: Build) -> None:
    paygate = sandbox(PayGateSandbox)
    calls = Calls()
    orders = [Order(order_id(), "paygate", "wallet_topup:FLOOZ", "+22899112233", 1_000) for _ in range(64)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda order: paygate.submit(order, calls), orders))
    assert {answer.status for answer in answers} == {ProviderStatus.PENDING}
    assert paygate.wait_for_callbacks()
    assert sorted(called_id for called_id, _ in calls.received) == sorted(order.id for order in orders)
    assert {outcome.status for _, outcome in calls.received} == {ProviderStatus.SUCCEEDED}


def test_an_order_never_received_is_unknown(sandbox: Build) -> None:
    ceet = sandbox(CeetSandbox)
    outcome = ceet.status("never-sent")
    assert (outcome.status, outcome.error_code) == (ProviderStatus.FAILED, "unknown_order")


def test_an_invalid_order_fails_and_is_remembered(sandbox: Build) -> None:
    ceet = sandbox(CeetSandbox)
    order = Order(order_id(), "ceet", "electricity", "12345678901", 5_000)
    outcome = ceet.submit(order)
    assert (outcome.status, outcome.error_code) == (ProviderStatus.FAILED, "invalid_reference")
    assert ceet.status(order.id) == outcome


def test_only_xof_is_taken(sandbox: Build) -> None:
    togocom = sandbox(TogocomSandbox)
    outcome = togocom.submit(Order(order_id(), "togocom", "airtime", "+22890112233", 500, currency="EUR"))
    assert (outcome.status, outcome.error_code) == (ProviderStatus.FAILED, "unsupported_currency")


@pytest.mark.parametrize(("order_id_", "amount"), [("", 500), ("x" * 65, 500), ("a b", 500), ("ok", 0)])
def test_an_order_states_its_invariants(order_id_: str, amount: int) -> None:
    with pytest.raises(ValueError, match="order"):
        Order(order_id_, "togocom", "airtime", "+22890112233", amount)


def test_the_oldest_orders_are_forgotten_past_the_limit(sandbox: Build) -> None:
    togocom = sandbox(TogocomSandbox, replace(INSTANT, orders_max=3))
    ids = [order_id() for _ in range(4)]
    for id_ in ids:
        togocom.submit(Order(id_, "togocom", "airtime", "+22890112233", 500))
    assert togocom.status(ids[0]).error_code == "unknown_order"
    assert togocom.status(ids[3]).status is ProviderStatus.SUCCEEDED


# Magic references.


@pytest.mark.parametrize(("digits", "magic"), [
    ("22890000001", Magic.DECLINED), ("100000002", Magic.NEVER_ANSWERS),
    ("000006", Magic.UNAVAILABLE_ONCE_NOT_RECEIVED),
    ("22890000007", None), ("22890000000", None), ("22890100001", None), ("00001", None), ("", None),
])
def test_magic_is_read_from_the_last_significant_digits(digits: str, magic: Magic | None) -> None:
    assert magic_of(digits) is magic


ALL_SANDBOXES = [
    TogocomSandbox, MoovSandbox, CeetSandbox, TdeSandbox, CanalSandbox, CardSandbox, PayGateSandbox,
]


def _order_for(provider: SandboxProvider, magic: Magic) -> Order:
    """A valid order for ``provider`` whose reference behaves as ``magic`` says."""
    reference = provider.magic_reference(magic)
    product = {
        "togocom": "airtime", "moov": "airtime", "ceet": "electricity", "tde": "water",
        "canal": "tv:ACCESS", "card": "card_topup", "paygate": "wallet_topup:TMONEY",
    }[provider.name]
    amount = provider.quote(product, reference, None if provider.name in {"tde", "canal"} else 1_000).amount
    return Order(order_id(), provider.name, product, reference, amount)


@pytest.mark.parametrize("kind", ALL_SANDBOXES)
def test_every_magic_reference_passes_the_quote(sandbox: Build,
                                                kind: type[SandboxProvider]) -> None:
    provider = sandbox(kind)
    references = {_order_for(provider, magic).reference for magic in Magic}
    assert len(references) == len(Magic)


@pytest.mark.parametrize("kind", ALL_SANDBOXES)
def test_a_magic_declined_reference_always_fails(sandbox: Build,
                                                 kind: type[SandboxProvider]) -> None:
    provider = sandbox(kind)
    calls = Calls()
    order = _order_for(provider, Magic.DECLINED)
    answer = provider.submit(order, calls)
    assert answer.status is (ProviderStatus.PENDING if provider.asynchronous else ProviderStatus.FAILED)
    assert provider.wait_for_callbacks()
    outcome = provider.status(order.id)
    assert (outcome.status, outcome.error_code) == (ProviderStatus.FAILED, "declined")
    assert [o for _, o in calls.received] == ([outcome] if provider.asynchronous else [])


@pytest.mark.parametrize("kind", ALL_SANDBOXES)
def test_a_magic_silent_reference_stays_pending_without_callback(sandbox: Build,
                                                                 kind: type[SandboxProvider]) -> None:
    provider = sandbox(kind)
    calls = Calls()
    order = _order_for(provider, Magic.NEVER_ANSWERS)
    assert provider.submit(order, calls).status is ProviderStatus.PENDING
    assert provider.wait_for_callbacks()
    assert provider.status(order.id).status is ProviderStatus.PENDING
    assert provider.submit(order).status is ProviderStatus.PENDING
    assert calls.received == []


@pytest.mark.parametrize("kind", ALL_SANDBOXES)
def test_a_magic_reference_can_call_back_twice(sandbox: Build,
                                               kind: type[SandboxProvider]) -> None:
    provider = sandbox(kind)
    calls = Calls()
    order = _order_for(provider, Magic.CALLS_BACK_TWICE)
    assert provider.submit(order, calls).status is ProviderStatus.PENDING
    assert provider.wait_for_callbacks()
    final = provider.status(order.id)
    assert final.status is ProviderStatus.SUCCEEDED
    assert calls.received == [(order.id, final), (order.id, final)]


@pytest.mark.parametrize("kind", ALL_SANDBOXES)
def test_a_magic_pending_reference_succeeds_by_callback(sandbox: Build,
                                                        kind: type[SandboxProvider]) -> None:
    provider = sandbox(kind)
    calls = Calls()
    order = _order_for(provider, Magic.PENDING_THEN_SUCCEEDS)
    assert provider.submit(order, calls).status is ProviderStatus.PENDING
    assert calls.first.wait(5)
    assert provider.wait_for_callbacks()
    [(_, outcome)] = calls.received
    assert outcome.status is ProviderStatus.SUCCEEDED
    assert provider.status(order.id) == outcome


@pytest.mark.parametrize("kind", ALL_SANDBOXES)
def test_an_unavailable_provider_may_still_have_received_the_order(sandbox: Build,
                                                                   kind: type[SandboxProvider]) -> None:
    provider = sandbox(kind)
    calls = Calls()
    order = _order_for(provider, Magic.UNAVAILABLE_BUT_RECEIVED)
    with pytest.raises(ProviderUnavailable) as raised:
        provider.submit(order, calls)
    assert raised.value.code == "provider_unavailable"
    assert raised.value.status == 503
    assert provider.wait_for_callbacks()
    outcome = provider.status(order.id)
    assert outcome.status is ProviderStatus.SUCCEEDED
    assert provider.submit(order) == outcome
    assert [o for _, o in calls.received] == ([outcome] if provider.asynchronous else [])


@pytest.mark.parametrize("kind", ALL_SANDBOXES)
def test_an_order_lost_on_the_way_can_be_retried(sandbox: Build,
                                                 kind: type[SandboxProvider]) -> None:
    provider = sandbox(kind)
    order = _order_for(provider, Magic.UNAVAILABLE_ONCE_NOT_RECEIVED)
    with pytest.raises(ProviderUnavailable):
        provider.submit(order)
    assert provider.status(order.id).error_code == "unknown_order"
    provider.submit(order)
    assert provider.wait_for_callbacks()
    assert provider.status(order.id).status is ProviderStatus.SUCCEEDED


# Random behaviour, callbacks, closing.


def test_ratios_draw_the_same_fates_from_the_same_seed(sandbox: Build) -> None:
    behaviour = SandboxBehaviour(latency_s_min=0, latency_s_max=0, callback_delay_s_min=0,
                                 callback_delay_s_max=0, fail_ratio=0.3, pending_ratio=0.3,
                                 never_answer_ratio=0.1, unavailable_ratio=0.1, seed=7)

    def run() -> list[str]:
        togocom = sandbox(TogocomSandbox, behaviour)
        seen = []
        for n in range(40):
            order = Order(f"seeded-{n}", "togocom", "airtime", "+22890112233", 500)
            try:
                seen.append(togocom.submit(order).status.value)
            except ProviderUnavailable:
                seen.append("unavailable")
        return seen

    first = run()
    assert first == run()
    assert {"succeeded", "failed", "pending", "unavailable"} <= set(first)


def test_a_fail_ratio_of_one_declines_everything(sandbox: Build) -> None:
    behaviour = SandboxBehaviour(latency_s_min=0, latency_s_max=0, fail_ratio=1.0, pending_ratio=0,
                                 never_answer_ratio=0, unavailable_ratio=0)
    canal = sandbox(CanalSandbox, behaviour)
    for _ in range(5):
        outcome = canal.submit(Order(order_id(), "canal", "tv:ACCESS", "12345678901234", 5_000))
        assert outcome.error_code == "declined"


def test_a_raising_callback_is_logged_and_deliveries_go_on(sandbox: Build,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    card = sandbox(CardSandbox)
    calls = Calls()

    def broken(order_id: str, outcome: Outcome) -> None:
        raise RuntimeError("receiver down")

    with caplog.at_level(logging.ERROR, logger="sika.providers._deliveries"):
        card.submit(Order(order_id(), "card", "card_topup", "4242424242424242", 1_000), broken)
        card.submit(Order(order_id(), "card", "card_topup", "4242424242424242", 1_000), calls)
        assert card.wait_for_callbacks()
    assert len(calls.received) == 1
    assert "a scheduled delivery raised" in caplog.text


def test_closing_stops_callbacks_and_threads() -> None:
    card = CardSandbox(replace(INSTANT, callback_delay_s_min=60, callback_delay_s_max=60))
    calls = Calls()
    card.submit(Order(order_id(), "card", "card_topup", "4242424242424242", 1_000), calls)
    assert any(t.name == "sandbox-card" for t in threading.enumerate())
    card.close()
    assert not any(t.name == "sandbox-card" for t in threading.enumerate())
    assert calls.received == []
    with pytest.raises(ProviderUnavailable):
        card.submit(Order(order_id(), "card", "card_topup", "4242424242424242", 1_000))


# The registry.


def test_the_registry_finds_providers_by_name() -> None:
    with sandbox_providers(INSTANT) as providers:
        assert providers.names() == ["togocom", "moov", "ceet", "tde", "canal", "card", "paygate"]
        assert providers.get("ceet").name == "ceet"
        assert "canal" in providers
        assert reject_code(lambda: providers.get("orange")) == "unknown_provider"


def test_the_catalogue_lists_every_kind_and_quotes_its_prices() -> None:
    with sandbox_providers(INSTANT) as providers:
        catalogue = providers.catalogue()
        assert {entry["kind"] for entry in catalogue} == {
            "airtime", "data", "electricity", "water", "tv", "card", "mobile_money",
        }
        references = {"togocom": "+22890112233", "moov": "+22899112233", "canal": "12345678901234"}
        for entry in catalogue:
            for product in entry["products"]:
                assert product["amount_min"] <= product["amount_max"]
                if product["price"] is not None:
                    provider = providers.get(entry["provider"])
                    quote = provider.quote(product["product"], references[entry["provider"]], None)
                    assert quote.amount == product["price"]
        data = next(e for e in catalogue if (e["provider"], e["kind"]) == ("togocom", "data"))
        assert data["products"][0]["volume_mb"] == TOGOCOM_BUNDLES[0].volume_mb


def test_closing_the_registry_closes_every_sandbox() -> None:
    providers = sandbox_providers(INSTANT)
    calls = Calls()
    providers.get("paygate").submit(Order(order_id(), "paygate", "wallet_topup:TMONEY", "+22890112233", 500),
                                    calls)
    assert providers.wait_for_callbacks()
    assert len(calls.received) == 1
    providers.close()
    assert not any(t.name.startswith("sandbox-") for t in threading.enumerate())
