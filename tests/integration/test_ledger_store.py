"""The ledger against a real database, once on SQLite and once on PostgreSQL.

Every test here that uses the ``engine`` fixture ends with ``audit.check(engine) == []`` (see
``conftest.py``); the audit tests that corrupt the database use an engine of their own.
"""

from __future__ import annotations

import base64
import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from ledger_support import DMNEC, FakeClock, open_bank, open_wallet, totals
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from sika.db import create_db_engine
from sika.ledger import (
    BATCH_MAX,
    PAGE_LIMIT_MAX,
    AccountFlags,
    AccountKind,
    AccountNotFound,
    Ledger,
    LedgerError,
    PendingStatus,
    Transfer,
    TransferFlags,
    audit,
)
from sika.ledger import TransferResult as R
from sika.migration import upgrade

LINKED = TransferFlags.LINKED
PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING
VOID = TransferFlags.VOID_PENDING


def move(tid: str, debit: int, credit: int, amount: int, **fields: object) -> Transfer:
    return Transfer(id=tid, debit_account_id=debit, credit_account_id=credit, amount=amount,
                    **fields)  # type: ignore[arg-type]


@pytest.fixture
def timed_ledger(engine: Engine, clock: FakeClock) -> Iterator[Ledger]:
    """A ledger whose clock moves only when the test says so."""
    book = Ledger(engine, clock_ns=clock)
    yield book
    book.close()


def balances(ledger: Ledger, *account_ids: int) -> list[int]:
    found = ledger.get_accounts(account_ids)
    return [found[i].balance for i in account_ids]


def stored_transfer_count(engine: Engine) -> int:
    with engine.connect() as connection:
        count: int = connection.execute(text("SELECT COUNT(*) FROM ledger_transfers")).scalar_one()
    return count


# Accounts ---------------------------------------------------------------------------------------


def test_a_new_account_starts_empty_with_its_fields(ledger: Ledger) -> None:
    account = ledger.create_account(
        currency="XOF", kind=AccountKind.MERCHANT, flags=DMNEC, metadata={"name": "Kossi"}
    )

    stored = ledger.get_account(account.id)
    assert (stored.currency, stored.kind, stored.flags, stored.metadata) == (
        "XOF", AccountKind.MERCHANT, DMNEC, {"name": "Kossi"}
    )
    assert totals(stored) == (0, 0, 0, 0)


def test_creating_an_account_with_its_id_again_returns_it(ledger: Ledger) -> None:
    first = ledger.create_account(currency="XOF", kind=AccountKind.AGENT_FLOAT, flags=DMNEC,
                                  metadata={"agent": "A7"}, account_id=4_242)

    again = ledger.create_account(currency="XOF", kind=AccountKind.AGENT_FLOAT, flags=DMNEC,
                                  metadata={"agent": "A7"}, account_id=4_242)

    assert first.id == again.id == 4_242
    assert again == first


def test_creating_an_account_with_its_id_and_other_fields_is_refused(ledger: Ledger) -> None:
    original: dict[str, Any] = {"currency": "XOF", "kind": AccountKind.AGENT_FLOAT,
                                "flags": DMNEC, "metadata": {"agent": "A7"}}
    ledger.create_account(**original, account_id=7)
    changes: list[dict[str, Any]] = [
        {"currency": "EUR"},
        {"kind": AccountKind.MERCHANT},
        {"flags": AccountFlags.NONE},
        {"metadata": {"agent": "B1"}},
        {"metadata": {}},
    ]

    codes = []
    for change in changes:
        with pytest.raises(LedgerError) as refused:
            ledger.create_account(**(original | change), account_id=7)
        codes.append(refused.value.code)

    assert codes == ["exists_with_different_fields"] * len(changes)
    assert ledger.get_account(7).kind == AccountKind.AGENT_FLOAT


def test_accounts_created_with_and_without_an_id_live_side_by_side(ledger: Ledger) -> None:
    chosen = ledger.create_account(currency="XOF", kind=AccountKind.EQUITY, account_id=1)

    assigned = ledger.create_account(currency="XOF", kind=AccountKind.EQUITY)

    assert assigned.id != chosen.id
    assert ledger.get_account(assigned.id).id == assigned.id


def test_an_invalid_account_is_refused_with_its_code(ledger: Ledger, engine: Engine) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"currency": "XYZ"}, "currency_invalid"),
        ({"currency": "xof"}, "currency_invalid"),
        ({"flags": DMNEC | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS},
         "flags_are_mutually_exclusive"),
        ({"metadata": {"note": "x" * 2_100}}, "metadata_too_large"),
        ({"account_id": 0}, "id_invalid"),
        ({"account_id": -3}, "id_invalid"),
    ]

    codes = []
    for fields, _ in cases:
        with pytest.raises(LedgerError) as refused:
            ledger.create_account(**({"currency": "XOF", "kind": AccountKind.MERCHANT} | fields))
        codes.append(refused.value.code)

    assert codes == [code for _, code in cases]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM ledger_accounts")).scalar_one() == 0


def test_an_account_of_an_unknown_kind_is_refused_with_its_code(ledger: Ledger) -> None:
    with pytest.raises(LedgerError) as refused:
        ledger.create_account(currency="XOF", kind="piggy_bank")  # type: ignore[arg-type]

    assert refused.value.code == "kind_invalid"


def test_an_unknown_account_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(AccountNotFound) as missing:
        ledger.get_account(12_345)

    assert missing.value.code == "unknown_account"
    assert ledger.get_accounts([12_345]) == {}
    assert ledger.get_accounts([]) == {}


def test_reading_too_many_accounts_at_once_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError) as refused:
        ledger.get_accounts(range(1, BATCH_MAX + 2))

    assert refused.value.code == "too_many"


def test_a_closed_account_refuses_transfers_on_either_side(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)

    closed = ledger.close_account(wallet.id)

    assert closed.flags & AccountFlags.CLOSED
    assert ledger.create_transfers([
        move("out", wallet.id, bank.id, 10),
        move("in", bank.id, wallet.id, 10),
    ]) == [R.DEBIT_ACCOUNT_CLOSED, R.CREDIT_ACCOUNT_CLOSED]
    assert ledger.get_account(wallet.id).balance == 1_000


def test_an_account_with_a_reservation_cannot_be_closed(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)
    ledger.create_transfers([move("hold", wallet.id, bank.id, 10, flags=PENDING)])

    with pytest.raises(LedgerError) as refused:
        ledger.close_account(wallet.id)

    assert refused.value.code == "account_has_pending"
    assert not ledger.get_account(wallet.id).flags & AccountFlags.CLOSED


def test_closing_an_unknown_account_is_refused(ledger: Ledger) -> None:
    with pytest.raises(AccountNotFound):
        ledger.close_account(999)


# Transfers and idempotency ----------------------------------------------------------------------


def test_a_transfer_moves_money_and_is_stored_as_sent(ledger: Ledger, engine: Engine) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)
    shop = open_wallet(ledger)

    results = ledger.create_transfers([
        move("pay-1", wallet.id, shop.id, 400, code=12, metadata={"order": "A-17", "n": 3}),
    ])

    assert results == [R.OK]
    assert balances(ledger, bank.id, wallet.id, shop.id) == [-1_000, 600, 400]
    record = ledger.get_transfer("pay-1")
    assert record is not None
    assert (record.debit_account_id, record.credit_account_id, record.amount, record.currency,
            record.code, record.flags, record.metadata, record.pending_status) == (
        wallet.id, shop.id, 400, "XOF", 12, TransferFlags.NONE, {"order": "A-17", "n": 3}, None
    )
    assert stored_transfer_count(engine) == 2


def test_an_unknown_transfer_reads_as_none(ledger: Ledger) -> None:
    assert ledger.get_transfer("nope") is None


def test_a_retried_transfer_with_the_same_fields_exists_and_moves_nothing(
    ledger: Ledger, engine: Engine
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)
    shop = open_wallet(ledger)
    payment = move("pay-1", wallet.id, shop.id, 400, code=12, metadata={"order": "A-17"})
    assert ledger.create_transfers([payment]) == [R.OK]

    assert ledger.create_transfers([payment]) == [R.EXISTS]
    assert ledger.submit([payment]) == [R.EXISTS]

    assert balances(ledger, wallet.id, shop.id) == [600, 400]
    assert stored_transfer_count(engine) == 2


def test_a_retried_transfer_with_other_fields_is_refused_and_moves_nothing(
    ledger: Ledger, engine: Engine
) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)
    shop = open_wallet(ledger)
    other = open_wallet(ledger)
    original = move("pay-1", wallet.id, shop.id, 400, code=12, metadata={"order": "A-17"})
    assert ledger.create_transfers([original]) == [R.OK]

    retries = [
        dataclasses.replace(original, amount=401),
        dataclasses.replace(original, credit_account_id=other.id),
        dataclasses.replace(original, debit_account_id=bank.id),
        dataclasses.replace(original, code=13),
        dataclasses.replace(original, metadata={"order": "A-18"}),
        dataclasses.replace(original, metadata={}),
        dataclasses.replace(original, flags=PENDING),
        dataclasses.replace(original, flags=PENDING, timeout_s=60),
    ]

    assert ledger.create_transfers(retries) == [R.EXISTS_WITH_DIFFERENT_FIELDS] * len(retries)
    assert balances(ledger, wallet.id, shop.id, other.id) == [600, 400, 0]
    assert stored_transfer_count(engine) == 2


def test_a_batch_gives_every_transfer_its_own_result(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    euros = open_bank(ledger, "EUR")
    alice = open_wallet(ledger, bank, 1_000)
    bob = open_wallet(ledger)

    results = ledger.create_transfers([
        move("t1", alice.id, bob.id, 300),
        move("t2", alice.id, bob.id, 800),
        move("t3", alice.id, 987_654, 1),
        move("t4", bob.id, euros.id, 1),
        move("t5", alice.id, alice.id, 1),
        move("t6", bob.id, alice.id, 50),
        move("t1", alice.id, bob.id, 300),
    ])

    assert results == [R.OK, R.EXCEEDS_CREDITS, R.CREDIT_ACCOUNT_NOT_FOUND, R.CURRENCY_MISMATCH,
                       R.ACCOUNTS_MUST_BE_DIFFERENT, R.OK, R.EXISTS]
    assert balances(ledger, alice.id, bob.id) == [750, 250]
    assert ledger.get_transfer("t2") is None


def test_an_empty_batch_does_nothing(ledger: Ledger) -> None:
    assert ledger.create_transfers([]) == []
    assert ledger.submit([]) == []


def test_a_payment_with_its_fee_and_commission_moves_all_or_nothing(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    customer = open_wallet(ledger, bank, 1_050)
    merchant = open_wallet(ledger)
    fees = ledger.create_account(currency="XOF", kind=AccountKind.FEE_REVENUE)
    commissions = ledger.create_account(currency="XOF", kind=AccountKind.COMMISSION_EXPENSE)
    agent = open_wallet(ledger)

    def payment(prefix: str, amount: int) -> list[Transfer]:
        return [
            move(f"{prefix}-pay", customer.id, merchant.id, amount, flags=LINKED),
            move(f"{prefix}-fee", customer.id, fees.id, 50, flags=LINKED),
            move(f"{prefix}-commission", commissions.id, agent.id, 20),
        ]

    refused = ledger.create_transfers(payment("a", 1_001))
    assert refused == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.LINKED_EVENT_FAILED]
    assert balances(ledger, customer.id, merchant.id, fees.id, commissions.id, agent.id) == [
        1_050, 0, 0, 0, 0
    ]
    assert ledger.get_transfer("a-pay") is None

    accepted = ledger.create_transfers(payment("b", 1_000))
    assert accepted == [R.OK, R.OK, R.OK]
    assert balances(ledger, customer.id, merchant.id, fees.id, commissions.id, agent.id) == [
        0, 1_000, 50, -20, 20
    ]


def test_a_linked_chain_left_open_fails_without_touching_the_next_request(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    alice = open_wallet(ledger, bank, 1_000)
    bob = open_wallet(ledger)

    assert ledger.create_transfers([move("a", alice.id, bob.id, 10, flags=LINKED)]) == [
        R.LINKED_EVENT_CHAIN_OPEN
    ]
    assert ledger.create_transfers([move("b", alice.id, bob.id, 10)]) == [R.OK]
    assert balances(ledger, alice.id, bob.id) == [990, 10]


def test_a_batch_larger_than_the_limit_is_refused_whole(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    wallet = open_wallet(ledger)
    batch = [move(f"t{i}", bank.id, wallet.id, 1) for i in range(BATCH_MAX + 1)]

    for send in (ledger.create_transfers, ledger.submit):
        with pytest.raises(LedgerError) as refused:
            send(batch)
        assert refused.value.code == "batch_too_large"
    assert ledger.get_account(wallet.id).balance == 0


def test_a_request_larger_than_a_smaller_group_is_refused(engine: Engine) -> None:
    book = Ledger(engine, group_max=3)
    try:
        with pytest.raises(LedgerError) as refused:
            book.submit([Transfer(id=f"t{i}", amount=1) for i in range(4)])
    finally:
        book.close()

    assert refused.value.code == "batch_too_large"


def test_a_full_batch_is_stored_in_one_go(ledger: Ledger, engine: Engine) -> None:
    bank = open_bank(ledger)
    wallets = [open_wallet(ledger) for _ in range(3)]
    batch = [move(f"t{i}", bank.id, wallets[i % 3].id, 1 + i % 7) for i in range(BATCH_MAX)]

    results = ledger.create_transfers(batch)

    assert results == [R.OK] * BATCH_MAX
    assert ledger.create_transfers(batch[-2:]) == [R.EXISTS, R.EXISTS]
    assert sum(balances(ledger, *(w.id for w in wallets))) == sum(t.amount for t in batch)
    assert stored_transfer_count(engine) == BATCH_MAX


def test_requests_submitted_from_many_threads_each_get_their_own_results(
    ledger: Ledger, engine: Engine
) -> None:
    bank = open_bank(ledger)
    payers = [open_wallet(ledger, bank, 100) for _ in range(12)]
    shop = open_wallet(ledger)
    start = threading.Barrier(len(payers))

    def pay(index: int) -> list[R]:
        payer = payers[index].id
        start.wait()
        results: list[R] = []
        for n in range(10):
            results += ledger.submit([
                move(f"p{index}-{n}", payer, shop.id, 15, flags=LINKED),
                move(f"f{index}-{n}", payer, bank.id, 1),
            ])
        results += ledger.submit([move(f"p{index}-0", payer, shop.id, 15, flags=LINKED),
                                  move(f"f{index}-0", payer, bank.id, 1)])
        return results

    with ThreadPoolExecutor(max_workers=len(payers)) as pool:
        outcomes = list(pool.map(pay, range(len(payers))))

    # 100 XOF pays for six payments of 15 and their fee of 1 (96); the seventh fails whole.
    expected = [R.OK, R.OK] * 6 + [R.EXCEEDS_CREDITS, R.LINKED_EVENT_FAILED] * 4 + [
        R.EXISTS, R.EXISTS
    ]
    assert outcomes == [expected] * len(payers)
    assert balances(ledger, *(p.id for p in payers)) == [4] * len(payers)
    assert ledger.get_account(shop.id).balance == 12 * 6 * 15
    assert stored_transfer_count(engine) == len(payers) + 12 * 6 * 2


# Two-phase transfers and timeouts ---------------------------------------------------------------


def test_posting_part_of_a_reservation_moves_it_and_returns_the_rest(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    rider = open_wallet(ledger, bank, 2_000)
    driver = open_wallet(ledger)
    assert ledger.create_transfers([move("fare", rider.id, driver.id, 1_500, flags=PENDING)]) == [
        R.OK
    ]
    assert totals(ledger.get_account(rider.id)) == (0, 2_000, 1_500, 0)
    assert ledger.get_account(rider.id).available == 500

    results = ledger.create_transfers([
        Transfer(id="fare-final", pending_id="fare", amount=1_200, flags=POST),
    ])

    assert results == [R.OK]
    assert totals(ledger.get_account(rider.id)) == (1_200, 2_000, 0, 0)
    assert totals(ledger.get_account(driver.id)) == (0, 1_200, 0, 0)
    pending = ledger.get_transfer("fare")
    posted = ledger.get_transfer("fare-final")
    assert pending is not None and posted is not None
    assert pending.pending_status is PendingStatus.POSTED
    assert (posted.debit_account_id, posted.credit_account_id, posted.amount, posted.pending_id) == (
        rider.id, driver.id, 1_200, "fare"
    )


def test_a_reservation_resolves_once(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    rider = open_wallet(ledger, bank, 2_000)
    driver = open_wallet(ledger)
    ledger.create_transfers([
        move("fare-1", rider.id, driver.id, 500, flags=PENDING),
        move("fare-2", rider.id, driver.id, 700, flags=PENDING),
    ])

    results = ledger.create_transfers([
        Transfer(id="void-1", pending_id="fare-1", flags=VOID),
        Transfer(id="post-1", pending_id="fare-1", flags=POST),
        Transfer(id="post-2", pending_id="fare-2", amount=701, flags=POST),
        Transfer(id="post-2", pending_id="fare-2", flags=POST),
        Transfer(id="post-2b", pending_id="fare-2", flags=POST),
        Transfer(id="void-1", pending_id="fare-1", flags=VOID),
        Transfer(id="post-3", pending_id="fare-3", flags=POST),
    ])

    assert results == [R.OK, R.PENDING_TRANSFER_ALREADY_VOIDED, R.EXCEEDS_PENDING_TRANSFER_AMOUNT,
                       R.OK, R.PENDING_TRANSFER_ALREADY_POSTED, R.EXISTS,
                       R.PENDING_TRANSFER_NOT_FOUND]
    assert totals(ledger.get_account(rider.id)) == (700, 2_000, 0, 0)
    assert ledger.create_transfers([Transfer(id="void-2", pending_id="fare-2", flags=VOID)]) == [
        R.PENDING_TRANSFER_ALREADY_POSTED
    ]


def test_a_reservation_created_and_posted_in_one_batch_is_stored_posted(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    rider = open_wallet(ledger, bank, 2_000)
    driver = open_wallet(ledger)

    results = ledger.create_transfers([
        move("fare", rider.id, driver.id, 1_500, flags=PENDING, timeout_s=60),
        Transfer(id="fare-final", pending_id="fare", amount=1_000, flags=POST),
    ])

    assert results == [R.OK, R.OK]
    record = ledger.get_transfer("fare")
    assert record is not None
    assert record.pending_status is PendingStatus.POSTED
    assert totals(ledger.get_account(rider.id)) == (1_000, 2_000, 0, 0)


def test_a_reservation_expires_in_the_sweep_once_its_timeout_passes(
    timed_ledger: Ledger, clock: FakeClock
) -> None:
    bank = open_bank(timed_ledger)
    rider = open_wallet(timed_ledger, bank, 2_000)
    driver = open_wallet(timed_ledger)
    timed_ledger.create_transfers([
        move("soon", rider.id, driver.id, 500, flags=PENDING, timeout_s=30),
        move("later", rider.id, driver.id, 700, flags=PENDING, timeout_s=90),
        move("never", rider.id, driver.id, 100, flags=PENDING),
    ])
    record = timed_ledger.get_transfer("soon")
    assert record is not None
    assert record.expires_at_ns == clock.now_ns + 30 * 10**9

    clock.advance(29)
    assert timed_ledger.expire_pending() == 0
    clock.advance(1)
    assert timed_ledger.expire_pending() == 1

    assert totals(timed_ledger.get_account(rider.id)) == (0, 2_000, 800, 0)
    soon = timed_ledger.get_transfer("soon")
    assert soon is not None
    assert soon.pending_status is PendingStatus.EXPIRED
    assert timed_ledger.create_transfers([
        Transfer(id="late-post", pending_id="soon", flags=POST),
        Transfer(id="post-later", pending_id="later", flags=POST),
    ]) == [R.PENDING_TRANSFER_EXPIRED, R.OK]
    clock.advance(10_000)
    assert timed_ledger.expire_pending() == 0
    assert totals(timed_ledger.get_account(rider.id)) == (700, 2_000, 100, 0)


def test_a_reservation_past_its_timeout_expires_when_posted_before_the_sweep(
    timed_ledger: Ledger, clock: FakeClock
) -> None:
    bank = open_bank(timed_ledger)
    rider = open_wallet(timed_ledger, bank, 2_000)
    driver = open_wallet(timed_ledger)
    timed_ledger.create_transfers([move("fare", rider.id, driver.id, 500, flags=PENDING,
                                        timeout_s=5)])
    clock.advance(5)

    assert timed_ledger.create_transfers([
        Transfer(id="fare-final", pending_id="fare", flags=POST),
    ]) == [R.PENDING_TRANSFER_EXPIRED]

    record = timed_ledger.get_transfer("fare")
    assert record is not None
    assert record.pending_status is PendingStatus.EXPIRED
    assert totals(timed_ledger.get_account(rider.id)) == (0, 2_000, 0, 0)
    assert timed_ledger.expire_pending() == 0


def test_the_expiry_sweep_takes_at_most_its_limit_at_a_time(
    timed_ledger: Ledger, clock: FakeClock
) -> None:
    bank = open_bank(timed_ledger)
    rider = open_wallet(timed_ledger, bank, 2_000)
    driver = open_wallet(timed_ledger)
    timed_ledger.create_transfers([
        move(f"hold-{i}", rider.id, driver.id, 10, flags=PENDING, timeout_s=1 + i)
        for i in range(5)
    ])
    clock.advance(60)

    assert [timed_ledger.expire_pending(limit=2) for _ in range(4)] == [2, 2, 1, 0]
    assert totals(timed_ledger.get_account(rider.id)) == (0, 2_000, 0, 0)


def test_a_voided_reservation_returns_everything(timed_ledger: Ledger, clock: FakeClock) -> None:
    bank = open_bank(timed_ledger)
    rider = open_wallet(timed_ledger, bank, 2_000)
    driver = open_wallet(timed_ledger)
    timed_ledger.create_transfers([move("fare", rider.id, driver.id, 500, flags=PENDING,
                                        timeout_s=5)])

    assert timed_ledger.create_transfers([Transfer(id="cancel", pending_id="fare", flags=VOID)]) == [
        R.OK
    ]
    clock.advance(60)

    assert timed_ledger.expire_pending() == 0
    record = timed_ledger.get_transfer("fare")
    assert record is not None
    assert record.pending_status is PendingStatus.VOIDED
    assert totals(timed_ledger.get_account(rider.id)) == (0, 2_000, 0, 0)


# Reading an account's transfers -----------------------------------------------------------------


def test_an_accounts_transfers_come_newest_first_a_page_at_a_time(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    alice = open_wallet(ledger, bank, 1_000)
    bob = open_wallet(ledger, bank, 1_000)
    carol = open_wallet(ledger, bank, 1_000)
    ids = []
    for n in range(6):
        ledger.create_transfers([
            move(f"ab-{n}", alice.id, bob.id, 1),
            move(f"bc-{n}", bob.id, carol.id, 1),
            move(f"ca-{n}", carol.id, alice.id, 1),
        ])
        ids += [f"ab-{n}", f"ca-{n}"]
    expected = [*ids[::-1], f"fund-{alice.id}"]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = ledger.account_transfers(alice.id, limit=5, cursor=cursor)
        seen += [t.id for t in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == expected
    assert pages == 3
    assert ledger.account_transfers(alice.id, limit=PAGE_LIMIT_MAX).next_cursor is None
    assert [t.id for t in ledger.account_transfers(alice.id, limit=1).items] == [expected[0]]


def test_a_page_that_ends_exactly_at_the_last_transfer_has_no_next_cursor(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    alice = open_wallet(ledger, bank, 1_000)
    ledger.create_transfers([move(f"t{i}", alice.id, bank.id, 1) for i in range(3)])

    page = ledger.account_transfers(alice.id, limit=4)

    assert len(page.items) == 4
    assert page.next_cursor is None


def test_an_account_without_transfers_has_an_empty_page(ledger: Ledger) -> None:
    wallet = open_wallet(ledger)

    page = ledger.account_transfers(wallet.id)

    assert page.items == []
    assert page.next_cursor is None


def test_new_transfers_do_not_shift_the_pages_already_handed_out(ledger: Ledger) -> None:
    bank = open_bank(ledger)
    alice = open_wallet(ledger, bank, 1_000)
    ledger.create_transfers([move(f"old-{i}", alice.id, bank.id, 1) for i in range(4)])
    first = ledger.account_transfers(alice.id, limit=2)
    ledger.create_transfers([move(f"new-{i}", alice.id, bank.id, 1) for i in range(3)])

    second = ledger.account_transfers(alice.id, limit=2, cursor=first.next_cursor)

    assert [t.id for t in first.items] == ["old-3", "old-2"]
    assert [t.id for t in second.items] == ["old-1", "old-0"]


def test_a_page_size_outside_its_bounds_is_refused(ledger: Ledger) -> None:
    codes = []
    for limit in (0, -1, PAGE_LIMIT_MAX + 1):
        with pytest.raises(LedgerError) as refused:
            ledger.account_transfers(1, limit=limit)
        codes.append(refused.value.code)

    assert codes == ["validation_error"] * 3


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_a_cursor_this_api_did_not_give_is_refused(ledger: Ledger) -> None:
    cursors = [
        "not a cursor!",
        "a",
        "żółw",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _cursor("seq:abc"),
        _cursor("page:5"),
        _cursor("seq:0"),
        _cursor("seq:-4"),
    ]

    codes = {}
    for cursor in cursors:
        with pytest.raises(LedgerError) as refused:
            ledger.account_transfers(1, cursor=cursor)
        codes[cursor] = refused.value.code

    assert codes == dict.fromkeys(cursors, "invalid_cursor")


def test_a_cursor_past_the_largest_sequence_number_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError) as refused:
        ledger.account_transfers(1, cursor=_cursor(f"seq:{2**63}"))

    assert refused.value.code == "invalid_cursor"


# The audit and the database's own checks --------------------------------------------------------


@pytest.fixture
def unaudited_engine(database_url: str) -> Iterator[Engine]:
    """An engine for tests that corrupt the database on purpose (the autouse audit skips it)."""
    db = create_db_engine(database_url)
    upgrade(db)
    yield db
    db.dispose()


def test_the_audit_finds_a_balance_changed_behind_the_ledgers_back(
    unaudited_engine: Engine,
) -> None:
    ledger = Ledger(unaudited_engine)
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)
    assert audit.check(unaudited_engine) == []

    with unaudited_engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_accounts SET credits_posted = credits_posted + 500 WHERE id = :id"),
            {"id": wallet.id},
        )

    found = {v.check for v in audit.check(unaudited_engine)}
    assert found == {"unbalanced_currency", "account_totals_disagree_with_transfers"}


def test_the_audit_finds_a_reservation_released_behind_the_ledgers_back(
    unaudited_engine: Engine,
) -> None:
    ledger = Ledger(unaudited_engine)
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)
    ledger.create_transfers([move("hold", wallet.id, bank.id, 300, flags=PENDING)])

    with unaudited_engine.begin() as connection:
        connection.execute(text("UPDATE ledger_pending SET status = 'posted'"))

    found = {v.check for v in audit.check(unaudited_engine)}
    assert found == {"account_totals_disagree_with_transfers", "resolved_pending_without_resolution"}


def test_the_audit_finds_a_transfer_whose_currency_is_not_its_accounts(
    unaudited_engine: Engine,
) -> None:
    ledger = Ledger(unaudited_engine)
    bank = open_bank(ledger)
    open_wallet(ledger, bank, 1_000)

    with unaudited_engine.begin() as connection:
        connection.execute(text("UPDATE ledger_transfers SET currency = 'EUR'"))

    assert {v.check for v in audit.check(unaudited_engine)} == {"transfer_currency_mismatch"}


def test_the_database_refuses_to_overdraw_a_flagged_account(unaudited_engine: Engine) -> None:
    ledger = Ledger(unaudited_engine)
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)

    with pytest.raises(IntegrityError), unaudited_engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_accounts SET debits_posted = 1001 WHERE id = :id"),
            {"id": wallet.id},
        )
    with pytest.raises(IntegrityError), unaudited_engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_accounts SET debits_pending = 1 WHERE id = :id"),
            {"id": wallet.id},
        )
        connection.execute(
            text("UPDATE ledger_accounts SET debits_posted = 1000 WHERE id = :id"),
            {"id": wallet.id},
        )

    assert ledger.get_account(wallet.id).balance == 1_000
    assert audit.check(unaudited_engine) == []


def test_the_database_refuses_negative_totals_and_amounts(unaudited_engine: Engine) -> None:
    ledger = Ledger(unaudited_engine)
    bank = open_bank(ledger)
    wallet = open_wallet(ledger, bank, 1_000)

    with pytest.raises(IntegrityError), unaudited_engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_accounts SET credits_posted = -1 WHERE id = :id"), {"id": bank.id}
        )
    with pytest.raises(IntegrityError), unaudited_engine.begin() as connection:
        connection.execute(text("UPDATE ledger_transfers SET amount = 0"))
    with pytest.raises(IntegrityError), unaudited_engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_transfers SET debit_account_id = :id"), {"id": wallet.id}
        )

    assert audit.check(unaudited_engine) == []


def test_the_audit_copes_with_totals_that_add_up_past_64_bits(unaudited_engine: Engine) -> None:
    # Each account stays within a signed 64-bit total, as the rules demand; only their sum does not.
    ledger = Ledger(unaudited_engine)
    sources = [open_bank(ledger) for _ in range(3)]
    sinks = [open_bank(ledger) for _ in range(3)]

    results = ledger.create_transfers([
        move(f"big-{i}", source.id, sink.id, 2**62)
        for i, (source, sink) in enumerate(zip(sources, sinks, strict=True))
    ])

    assert results == [R.OK] * 3
    assert audit.check(unaudited_engine) == []


def test_a_cap_raised_is_never_lowered_nor_set_where_there_is_none(ledger: Ledger) -> None:
    """``raise_balance_max``: two raisers with values read at different moments end at the higher."""
    capped = ledger.create_account(currency="XOF", kind=AccountKind.SUSPENSE, balance_max=100)
    free = ledger.create_account(currency="XOF", kind=AccountKind.SUSPENSE)
    assert ledger.raise_balance_max(capped.id, 200).balance_max == 200
    assert ledger.raise_balance_max(capped.id, 150).balance_max == 200  # the stale raiser lowers nothing
    assert ledger.raise_balance_max(free.id, 500).balance_max is None  # no cap is above every cap
    with pytest.raises(AccountNotFound):
        ledger.raise_balance_max(10**9, 1)
