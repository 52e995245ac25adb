"""Customers and PINs on SQLite and PostgreSQL: opening wallets, tiers, lockout counted atomically."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from sika.errors import SikaError
from sika.ledger import AccountFlags, AccountKind, Ledger, Transfer
from sika.ledger import TransferResult as R
from sika.wallet import (
    Customers,
    InvalidPin,
    Pin,
    PinHasher,
    PinKeyMissing,
    PinKeys,
    PinLocked,
    UnknownWallet,
    WalletExists,
)
from sika.wallet.schema import customers

MINUTE_NS = 60 * 10**9


class Clock:
    def __init__(self) -> None:
        self.now_ns = 1_800_000_000 * 10**9

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wallets(engine: Engine, ledger: Ledger, clock: Clock) -> Iterator[Customers]:
    # A real argon2id hasher with small costs: the tests check behaviour, not hashing strength.
    yield Customers(engine, ledger, hasher=PinHasher(time_cost=1, memory_cost_kib=64), clock_ns=clock)


def test_opening_a_wallet_gives_a_ledger_account_that_cannot_go_below_zero(
    wallets: Customers, ledger: Ledger
) -> None:
    customer = wallets.open("90 11 22 33", "  Ama   Mensah ", pin=Pin("4827"))
    assert customer.msisdn == "+22890112233"
    assert customer.name == "Ama Mensah"
    assert customer.language == "fr"
    assert customer.tier == 0
    assert customer.has_pin
    assert customer.account_id is not None
    account = ledger.get_account(customer.account_id)
    assert account.kind is AccountKind.CUSTOMER_WALLET
    assert account.currency == "XOF"
    assert account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    assert wallets.get("+22890112233") == customer


def test_a_number_has_one_wallet(wallets: Customers) -> None:
    wallets.open("+22890112233", "Ama")
    with pytest.raises(WalletExists) as raised:
        wallets.open("90112233", "Someone else")
    assert raised.value.code == "wallet_exists"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"msisdn": "+33612345678", "name": "Jean"}, "unsupported_country"),
        ({"msisdn": "90112233", "name": "   "}, "invalid_name"),
        ({"msisdn": "90112233", "name": "x" * 81}, "invalid_name"),
        ({"msisdn": "90112233", "name": "Ama", "language": "de"}, "unsupported_language"),
        ({"msisdn": "90112233", "name": "Ama", "tier": 3}, "invalid_tier"),
        ({"msisdn": "90112233", "name": "Ama", "pin": Pin("1111")}, "weak_pin"),
    ],
)
def test_bad_openings_are_refused_with_a_code(
    wallets: Customers, fields: dict[str, object], code: str
) -> None:
    with pytest.raises(SikaError) as raised:
        wallets.open(**fields)  # type: ignore[arg-type]
    assert raised.value.code == code
    with pytest.raises(UnknownWallet):
        wallets.get("90112233")


def test_language_and_tier_can_be_changed(wallets: Customers) -> None:
    wallets.open("90112233", "Ama")
    assert wallets.set_language("90112233", "ar").language == "ar"
    assert wallets.set_tier("90112233", 1).tier == 1


def test_three_wrong_pins_lock_the_wallet_for_thirty_minutes(wallets: Customers, clock: Clock) -> None:
    wallets.open("90112233", "Ama", pin=Pin("4827"))
    for tries_left in (2, 1):
        with pytest.raises(InvalidPin) as wrong:
            wallets.verify_pin("90112233", Pin("0007"))
        assert wrong.value.tries_left == tries_left
    with pytest.raises(PinLocked):
        wallets.verify_pin("90112233", Pin("0007"))
    # Locked: even the right PIN is refused until the lock runs out.
    clock.now_ns += 29 * MINUTE_NS
    with pytest.raises(PinLocked):
        wallets.verify_pin("90112233", Pin("4827"))
    clock.now_ns += 2 * MINUTE_NS
    assert wallets.verify_pin("90112233", Pin("4827")).pin_failures == 0


def test_a_right_pin_resets_the_count_and_a_wrong_try_after_a_lock_starts_a_new_one(
    wallets: Customers, clock: Clock
) -> None:
    wallets.open("90112233", "Ama", pin=Pin("4827"))
    with pytest.raises(InvalidPin):
        wallets.verify_pin("90112233", Pin("0007"))
    wallets.verify_pin("90112233", Pin("4827"))
    for _ in range(3):
        with pytest.raises((InvalidPin, PinLocked)):
            wallets.verify_pin("90112233", Pin("0007"))
    clock.now_ns += 31 * MINUTE_NS
    with pytest.raises(InvalidPin) as wrong:
        wallets.verify_pin("90112233", Pin("0007"))
    assert wrong.value.tries_left == 2


def test_wrong_pins_racing_from_many_threads_are_all_counted_and_lock_once(
    wallets: Customers,
) -> None:
    wallets.open("90112233", "Ama", pin=Pin("4827"))
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def guess() -> None:
        barrier.wait()
        try:
            wallets.verify_pin("90112233", Pin("0007"))
        except SikaError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 8
    # Exactly three tries were counted; the third locked the wallet and everyone else found it so.
    assert outcomes.count("invalid_pin") == 2
    assert outcomes.count("pin_locked") == 6
    assert wallets.get("90112233").pin_failures == 3


def test_changing_a_pin_needs_the_old_one_and_an_agent_reset_lifts_the_lock(wallets: Customers) -> None:
    wallets.open("90112233", "Ama", pin=Pin("4827"))
    with pytest.raises(InvalidPin):
        wallets.change_pin("90112233", Pin("0007"), Pin("5938"))
    wallets.change_pin("90112233", Pin("4827"), Pin("5938"))
    wallets.verify_pin("90112233", Pin("5938"))
    for _ in range(3):
        with pytest.raises((InvalidPin, PinLocked)):
            wallets.verify_pin("90112233", Pin("0007"))
    reset = wallets.reset_pin("90112233", Pin("6049"))
    assert reset.pin_failures == 0
    assert reset.pin_locked_until_ns is None
    wallets.verify_pin("90112233", Pin("6049"))


def test_a_wallet_opened_without_a_pin_sets_one_once(wallets: Customers) -> None:
    wallets.open("90112233", "Ama")
    with pytest.raises(SikaError) as raised:
        wallets.verify_pin("90112233", Pin("4827"))
    assert raised.value.code == "pin_not_set"
    wallets.set_pin("90112233", Pin("4827"))
    with pytest.raises(SikaError) as again:
        wallets.set_pin("90112233", Pin("5938"))
    assert again.value.code == "pin_already_set"


def test_a_wallet_holds_no_more_than_its_tier_allows_and_an_upgrade_raises_the_cap(
    wallets: Customers, ledger: Ledger
) -> None:
    customer = wallets.open("90112233", "Ama")
    assert customer.account_id is not None
    bank = ledger.create_account(currency="XOF", kind=AccountKind.SETTLEMENT_BANK)
    tier0_cap = wallets.limits(customer).balance_max

    def credit(transfer_id: str, amount: int) -> R:
        (result,) = ledger.create_transfers([Transfer(
            id=transfer_id, debit_account_id=bank.id, credit_account_id=customer.account_id or 0,
            amount=amount)])
        return result

    assert credit("to-the-cap", tier0_cap) is R.OK
    assert credit("one-franc-more", 1) is R.EXCEEDS_BALANCE_MAX
    upgraded = wallets.set_tier("90112233", 1)
    assert ledger.get_account(customer.account_id).balance_max == wallets.limits(upgraded).balance_max
    assert credit("one-franc-more-on-tier-1", 1) is R.OK
    # A downgrade strands nothing: the money stays, only further credits are refused.
    wallets.set_tier("90112233", 0)
    assert ledger.get_account(customer.account_id).balance == tier0_cap + 1
    assert credit("after-downgrade", 1) is R.EXCEEDS_BALANCE_MAX


def test_an_argon2id_pin_is_rehashed_with_the_key_at_the_next_right_pin_and_not_at_a_wrong_one(
    engine: Engine, ledger: Ledger, clock: Clock
) -> None:
    argon = Customers(engine, ledger, hasher=PinHasher(time_cost=1, memory_cost_kib=64), clock_ns=clock)
    argon.open("90112233", "Ama", pin=Pin("4827"))
    keyed = Customers(engine, ledger, clock_ns=clock, hasher=PinHasher(
        keys=PinKeys.parse("k2:second-secret-0123456789,k1:first-secret-0123456789")))

    def stored() -> str:
        with engine.connect() as connection:
            value = connection.execute(select(customers.c.pin_hash)).scalar_one()
        return str(value)

    with pytest.raises(InvalidPin):
        keyed.verify_pin("90112233", Pin("0007"))
    assert stored().startswith("$argon2id$")
    assert keyed.verify_pin("90112233", Pin("4827")).pin_failures == 0
    assert stored().startswith("$sika-hmac$k2$")
    assert keyed.verify_login("90112233", Pin("4827")).msisdn == "+22890112233"
    with pytest.raises(InvalidPin):
        keyed.verify_pin("90112233", Pin("4828"))
    # Only the key opens it now: argon2id alone cannot check it, and says so rather than lock Ama out.
    with pytest.raises(PinKeyMissing):
        argon.verify_pin("90112233", Pin("4827"))
