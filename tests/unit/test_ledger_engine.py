"""The ledger's rules (``sika.ledger.engine.apply``) on accounts held in memory: no database.

``Book`` is a small fake of the store: it keeps accounts and stored transfers from one batch to
the next, hands the rules what the store would load, and folds each outcome back as the store
writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sika.ledger.engine import Outcome, apply
from sika.ledger.model import (
    AMOUNT_MAX,
    CODE_MAX,
    ID_LENGTH_MAX,
    METADATA_BYTES_MAX,
    TIMEOUT_S_MAX,
    Account,
    AccountFlags,
    AccountKind,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferRecord,
)
from sika.ledger.model import TransferResult as R

NOW_NS = 1_700_000_000 * 10**9
S_NS = 10**9

LINKED = TransferFlags.LINKED
PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING
VOID = TransferFlags.VOID_PENDING
DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
CMNED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS

# Account ids of the standard book.
BANK = 1  # no limits: where money comes from
ALICE = 2  # wallet holding 1,000 XOF
BOB = 3  # empty wallet
BUDGET = 4  # credits must not exceed debits: 500 XOF of room
EURO = 5  # a EUR account
SHUT = 6  # closed
MISSING = 99


class Book:
    """Accounts and stored transfers carried from one batch to the next, as the store keeps them."""

    def __init__(self, accounts: Sequence[Account]) -> None:
        self.accounts = {a.id: a for a in accounts}
        # Every stored transfer; a pending one with its current status.
        self.existing: dict[str, TransferRecord] = {}
        self.now_ns = NOW_NS

    def run(
        self,
        *transfers: Transfer,
        segments: Sequence[int] | None = None,
        expire_ids: Sequence[str] = (),
    ) -> list[R]:
        return self.outcome(*transfers, segments=segments, expire_ids=expire_ids).results

    def outcome(
        self,
        *transfers: Transfer,
        segments: Sequence[int] | None = None,
        expire_ids: Sequence[str] = (),
    ) -> Outcome:
        # Like the store: every stored transfer the batch resolves or sweeps is handed over.
        referenced = {t.pending_id for t in transfers if t.pending_id} | set(expire_ids)
        pendings = {i: self.existing[i] for i in referenced if i in self.existing}
        outcome = apply(
            transfers,
            accounts=self.accounts,
            existing=self.existing,
            pendings=pendings,
            now_ns=self.now_ns,
            segments=segments,
            expire_ids=expire_ids,
        )
        for pending_id, status in outcome.resolved.items():
            self.existing[pending_id] = self.existing[pending_id]._replace(pending_status=status)
        return outcome

    def totals(self, account_id: int) -> tuple[int, int, int, int]:
        a = self.accounts[account_id]
        return (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)

    def balance(self, account_id: int) -> int:
        return self.accounts[account_id].balance

    def status(self, pending_id: str) -> PendingStatus | None:
        return self.existing[pending_id].pending_status

    def advance(self, seconds: int) -> None:
        self.now_ns += seconds * S_NS


def xof(account_id: int, flags: AccountFlags = AccountFlags.NONE, **totals: int) -> Account:
    return Account(id=account_id, currency="XOF", kind=AccountKind.CUSTOMER_WALLET, flags=flags,
                   **totals)


@pytest.fixture
def book() -> Book:
    return Book([
        xof(BANK, debits_posted=1_000),
        xof(ALICE, DMNEC, credits_posted=1_000),
        xof(BOB, DMNEC),
        xof(BUDGET, CMNED, debits_posted=500),
        Account(id=EURO, currency="EUR", kind=AccountKind.CUSTOMER_WALLET),
        xof(SHUT, AccountFlags.CLOSED),
    ])


def move(tid: str, debit: int = ALICE, credit: int = BOB, amount: int = 100, **fields: object
         ) -> Transfer:
    return Transfer(id=tid, debit_account_id=debit, credit_account_id=credit, amount=amount,
                    **fields)  # type: ignore[arg-type]


def hold(tid: str, debit: int = ALICE, credit: int = BOB, amount: int = 100, *, timeout_s: int = 0,
         flags: TransferFlags = TransferFlags.NONE) -> Transfer:
    return Transfer(id=tid, debit_account_id=debit, credit_account_id=credit, amount=amount,
                    flags=PENDING | flags, timeout_s=timeout_s)


def post(tid: str, pending_id: str, amount: int = 0, *, flags: TransferFlags = TransferFlags.NONE
         ) -> Transfer:
    return Transfer(id=tid, pending_id=pending_id, amount=amount, flags=POST | flags)


def void(tid: str, pending_id: str, amount: int = 0, *, flags: TransferFlags = TransferFlags.NONE
         ) -> Transfer:
    return Transfer(id=tid, pending_id=pending_id, amount=amount, flags=VOID | flags)


# Single-phase transfers -------------------------------------------------------------------------


def test_a_transfer_moves_money_from_the_debit_to_the_credit_account(book: Book) -> None:
    outcome = book.outcome(move("t1", amount=300))

    assert outcome.results == [R.OK]
    assert book.balance(ALICE) == 700
    assert book.balance(BOB) == 300
    assert outcome.touched_account_ids == {ALICE, BOB}
    [record] = outcome.new_records
    assert (record.id, record.amount, record.currency, record.created_at_ns) == (
        "t1", 300, "XOF", NOW_NS
    )


def test_a_new_record_holds_every_field_in_its_place(book: Book) -> None:
    """Records are made positionally on the hot path: each field lands under its own name."""
    outcome = book.outcome(move("t1", amount=300, code=7, metadata={"why": "rent"}),
                           hold("h1", amount=50, timeout_s=30))
    plain, held = outcome.new_records
    assert plain == TransferRecord(
        id="t1", debit_account_id=ALICE, credit_account_id=BOB, amount=300, currency="XOF", code=7,
        flags=TransferFlags.NONE, pending_id=None, timeout_s=0, metadata={"why": "rent"},
        created_at_ns=NOW_NS, seq=0, pending_status=None, expires_at_ns=None)
    assert held == TransferRecord(
        id="h1", debit_account_id=ALICE, credit_account_id=BOB, amount=50, currency="XOF", code=0,
        flags=PENDING, pending_id=None, timeout_s=30, metadata={}, created_at_ns=NOW_NS, seq=0,
        pending_status=PendingStatus.PENDING, expires_at_ns=NOW_NS + 30 * S_NS)


@pytest.mark.parametrize(
    ("transfer", "expected"),
    [
        pytest.param(move(""), R.ID_INVALID, id="empty id"),
        pytest.param(move("x" * (ID_LENGTH_MAX + 1)), R.ID_INVALID, id="id too long"),
        pytest.param(move("tab\tid"), R.ID_INVALID, id="id not printable"),
        pytest.param(move("t", flags=PENDING | POST, pending_id="p"), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
                     id="pending and post"),
        pytest.param(move("t", flags=POST | VOID, pending_id="p"), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
                     id="post and void"),
        pytest.param(post("t", ""), R.PENDING_ID_REQUIRED, id="post without pending id"),
        pytest.param(void("t", ""), R.PENDING_ID_REQUIRED, id="void without pending id"),
        pytest.param(post("t", "t"), R.PENDING_ID_MUST_BE_DIFFERENT, id="post of itself"),
        pytest.param(move("t", pending_id="p"), R.PENDING_ID_MUST_BE_EMPTY,
                     id="pending id on a plain transfer"),
        pytest.param(Transfer(id="t", debit_account_id=ALICE, credit_account_id=BOB, amount=1,
                              flags=PENDING, pending_id="p"),
                     R.PENDING_ID_MUST_BE_EMPTY, id="pending id on a pending transfer"),
        pytest.param(move("t", timeout_s=10), R.TIMEOUT_RESERVED_FOR_PENDING,
                     id="timeout on a plain transfer"),
        pytest.param(hold("t", timeout_s=TIMEOUT_S_MAX + 1), R.TIMEOUT_TOO_LARGE,
                     id="timeout too large"),
        pytest.param(hold("t", timeout_s=-1), R.TIMEOUT_TOO_LARGE, id="negative timeout"),
        pytest.param(move("t", amount=0), R.AMOUNT_MUST_BE_POSITIVE, id="zero amount"),
        pytest.param(move("t", amount=-5), R.AMOUNT_MUST_BE_POSITIVE, id="negative amount"),
        pytest.param(hold("t", amount=0), R.AMOUNT_MUST_BE_POSITIVE, id="zero pending amount"),
        pytest.param(move("t", amount=AMOUNT_MAX + 1), R.AMOUNT_TOO_LARGE, id="amount too large"),
        pytest.param(move("t", code=-1), R.CODE_INVALID, id="negative code"),
        pytest.param(move("t", code=CODE_MAX + 1), R.CODE_INVALID, id="code too large"),
        pytest.param(move("t", metadata={"note": "x" * METADATA_BYTES_MAX}),
                     R.METADATA_TOO_LARGE, id="metadata too large"),
        pytest.param(move("t", debit=ALICE, credit=ALICE), R.ACCOUNTS_MUST_BE_DIFFERENT,
                     id="same account"),
        pytest.param(move("t", debit=MISSING), R.DEBIT_ACCOUNT_NOT_FOUND, id="unknown debit"),
        pytest.param(move("t", credit=MISSING), R.CREDIT_ACCOUNT_NOT_FOUND, id="unknown credit"),
        pytest.param(move("t", debit=0, credit=BOB), R.DEBIT_ACCOUNT_NOT_FOUND,
                     id="debit left at zero"),
        pytest.param(move("t", credit=EURO), R.CURRENCY_MISMATCH, id="XOF to EUR"),
        pytest.param(move("t", debit=SHUT, credit=BANK), R.DEBIT_ACCOUNT_CLOSED,
                     id="closed debit"),
        pytest.param(move("t", debit=BANK, credit=SHUT), R.CREDIT_ACCOUNT_CLOSED,
                     id="closed credit"),
        pytest.param(move("t", amount=1_001), R.EXCEEDS_CREDITS, id="wallet overdrawn"),
        pytest.param(move("t", debit=BOB, credit=ALICE, amount=1), R.EXCEEDS_CREDITS,
                     id="empty wallet"),
        pytest.param(hold("t", amount=1_001), R.EXCEEDS_CREDITS, id="reservation too large"),
        pytest.param(move("t", debit=BANK, credit=BUDGET, amount=501), R.EXCEEDS_DEBITS,
                     id="budget over-credited"),
        pytest.param(hold("t", debit=BANK, credit=BUDGET, amount=501), R.EXCEEDS_DEBITS,
                     id="budget over-reserved"),
    ],
)
def test_a_refused_transfer_gets_its_code_and_moves_nothing(
    book: Book, transfer: Transfer, expected: R
) -> None:
    before = {i: book.totals(i) for i in book.accounts}

    outcome = book.outcome(transfer)

    assert outcome.results == [expected]
    assert outcome.new_records == []
    assert {i: book.totals(i) for i in book.accounts} == before


@pytest.mark.parametrize(
    "transfer",
    [
        pytest.param(move("x" * ID_LENGTH_MAX), id="longest id"),
        pytest.param(move("t", amount=1_000), id="whole wallet"),
        pytest.param(move("t", code=CODE_MAX), id="largest code"),
        pytest.param(hold("t", timeout_s=TIMEOUT_S_MAX), id="longest timeout"),
        pytest.param(move("t", debit=BANK, credit=BUDGET, amount=500), id="budget filled"),
        pytest.param(move("t", metadata={"note": "é" * 100}), id="small metadata"),
    ],
)
def test_a_transfer_at_a_limit_is_accepted(book: Book, transfer: Transfer) -> None:
    assert book.run(transfer) == [R.OK]


def test_a_transfer_that_would_overflow_the_debit_total_is_refused() -> None:
    book = Book([xof(1, debits_posted=AMOUNT_MAX - 5), xof(2)])

    assert book.run(move("t", debit=1, credit=2, amount=6)) == [R.OVERFLOWS]
    assert book.run(move("u", debit=1, credit=2, amount=5)) == [R.OK]
    assert book.totals(1) == (AMOUNT_MAX, 0, 0, 0)


def test_a_transfer_that_would_overflow_the_credit_total_with_reservations_is_refused() -> None:
    book = Book([xof(1), xof(2, credits_posted=AMOUNT_MAX - 10, credits_pending=5)])

    assert book.run(move("t", debit=1, credit=2, amount=6)) == [R.OVERFLOWS]
    assert book.totals(2) == (0, AMOUNT_MAX - 10, 0, 5)


def test_reservations_count_against_what_a_wallet_can_spend(book: Book) -> None:
    assert book.run(hold("p", amount=800)) == [R.OK]

    assert book.run(move("t1", amount=201)) == [R.EXCEEDS_CREDITS]
    assert book.run(move("t2", amount=200)) == [R.OK]
    assert book.accounts[ALICE].available == 0


def test_transfers_in_one_batch_see_each_others_effects(book: Book) -> None:
    results = book.run(
        move("t1", debit=ALICE, credit=BOB, amount=600),
        move("t2", debit=BOB, credit=BANK, amount=600),
        move("t3", debit=ALICE, credit=BOB, amount=401),
        move("t4", debit=BOB, credit=BANK, amount=1),
    )

    assert results == [R.OK, R.OK, R.EXCEEDS_CREDITS, R.EXCEEDS_CREDITS]
    assert (book.balance(ALICE), book.balance(BOB)) == (400, 0)


# Idempotency ------------------------------------------------------------------------------------


def test_a_retried_transfer_with_the_same_fields_exists_and_moves_nothing(book: Book) -> None:
    transfer = move("t1", amount=250, code=7, metadata={"order": "A-1"})
    assert book.run(transfer) == [R.OK]

    outcome = book.outcome(transfer)

    assert outcome.results == [R.EXISTS]
    assert outcome.new_records == []
    assert book.balance(BOB) == 250


@pytest.mark.parametrize(
    "retry",
    [
        pytest.param(move("t1", amount=251, code=7), id="amount"),
        pytest.param(move("t1", debit=BANK, amount=250, code=7), id="debit account"),
        pytest.param(move("t1", credit=BANK, amount=250, code=7), id="credit account"),
        pytest.param(move("t1", amount=250, code=8), id="code"),
        pytest.param(move("t1", amount=250, code=7, metadata={"order": "B"}), id="metadata"),
        pytest.param(hold("t1", amount=250), id="flags"),
    ],
)
def test_a_retried_transfer_with_other_fields_is_refused(book: Book, retry: Transfer) -> None:
    assert book.run(move("t1", amount=250, code=7)) == [R.OK]

    assert book.run(retry) == [R.EXISTS_WITH_DIFFERENT_FIELDS]
    assert book.balance(BOB) == 250


def test_the_same_id_twice_in_one_batch_is_stored_once(book: Book) -> None:
    outcome = book.outcome(move("t1"), move("t1"), move("t1", amount=5))

    assert outcome.results == [R.OK, R.EXISTS, R.EXISTS_WITH_DIFFERENT_FIELDS]
    assert [r.id for r in outcome.new_records] == ["t1"]
    assert book.balance(BOB) == 100


def test_a_refused_transfer_is_not_stored_so_its_id_can_be_used_again(book: Book) -> None:
    assert book.run(move("t1", amount=5_000)) == [R.EXCEEDS_CREDITS]

    assert book.run(move("t1", amount=500)) == [R.OK]


# Linked chains ----------------------------------------------------------------------------------


def test_a_linked_chain_succeeds_as_a_whole(book: Book) -> None:
    results = book.run(
        move("pay", debit=ALICE, credit=BOB, amount=500, flags=LINKED),
        move("fee", debit=ALICE, credit=BANK, amount=20, flags=LINKED),
        move("back", debit=BOB, credit=BANK, amount=100),
    )

    assert results == [R.OK, R.OK, R.OK]
    assert (book.balance(ALICE), book.balance(BOB)) == (480, 400)


def test_a_failure_in_a_chain_rolls_back_its_earlier_members(book: Book) -> None:
    before = {i: book.totals(i) for i in book.accounts}

    outcome = book.outcome(
        move("pay", debit=ALICE, credit=BOB, amount=900, flags=LINKED),
        move("fee", debit=BOB, credit=BANK, amount=10, flags=LINKED),
        move("tax", debit=ALICE, credit=BANK, amount=200, flags=LINKED),
        move("tip", debit=ALICE, credit=BANK, amount=1),
    )

    assert outcome.results == [
        R.LINKED_EVENT_FAILED, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.LINKED_EVENT_FAILED,
    ]
    assert outcome.new_records == []
    assert {i: book.totals(i) for i in book.accounts} == before
    assert book.existing == {}


def test_a_chain_failing_at_its_first_member_fails_the_rest(book: Book) -> None:
    results = book.run(
        move("pay", debit=BOB, credit=ALICE, amount=1, flags=LINKED),
        move("fee", debit=ALICE, credit=BANK, amount=10),
    )

    assert results == [R.EXCEEDS_CREDITS, R.LINKED_EVENT_FAILED]
    assert book.balance(BANK) == -1_000


def test_a_failed_chain_leaves_the_transfers_around_it_alone(book: Book) -> None:
    results = book.run(
        move("before", amount=100),
        move("pay", amount=100, flags=LINKED),
        move("fee", debit=BOB, credit=EURO, amount=1),
        move("after", amount=100),
    )

    assert results == [R.OK, R.LINKED_EVENT_FAILED, R.CURRENCY_MISMATCH, R.OK]
    assert book.balance(BOB) == 200


def test_a_chain_still_open_at_the_end_of_the_batch_fails(book: Book) -> None:
    outcome = book.outcome(
        move("a", amount=10, flags=LINKED),
        move("b", amount=10, flags=LINKED),
    )

    assert outcome.results == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN]
    assert outcome.new_records == []
    assert book.balance(BOB) == 0


def test_a_lone_linked_transfer_is_an_open_chain(book: Book) -> None:
    assert book.run(move("a", flags=LINKED)) == [R.LINKED_EVENT_CHAIN_OPEN]


def test_a_chain_never_crosses_the_end_of_a_segment(book: Book) -> None:
    results = book.run(
        move("a1", amount=10, flags=LINKED),
        move("a2", amount=10, flags=LINKED),
        move("b1", amount=20),
        segments=[2, 1],
    )

    assert results == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN, R.OK]
    assert book.balance(BOB) == 20


def test_segments_keep_each_requests_chains_and_results_apart(book: Book) -> None:
    results = book.run(
        move("a1", amount=10, flags=LINKED),
        move("a2", amount=10),
        move("b1", amount=10, flags=LINKED),
        move("b2", debit=BOB, credit=BANK, amount=5_000),
        move("c1", amount=30),
        segments=[2, 2, 1],
    )

    assert results == [R.OK, R.OK, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.OK]
    assert book.balance(BOB) == 50


def test_segments_must_cover_the_whole_batch(book: Book) -> None:
    with pytest.raises(AssertionError):
        book.run(move("a"), move("b"), segments=[1])


def test_a_stored_transfer_inside_a_chain_counts_as_a_success(book: Book) -> None:
    assert book.run(move("pay", amount=100)) == [R.OK]

    results = book.run(move("pay", amount=100, flags=LINKED), move("fee", amount=10))

    assert results == [R.EXISTS_WITH_DIFFERENT_FIELDS, R.LINKED_EVENT_FAILED]
    results = book.run(
        move("pay2", amount=100, flags=LINKED),
        move("pay2", amount=100, flags=LINKED),
        move("fee", amount=10),
    )
    assert results == [R.OK, R.EXISTS, R.OK]
    assert book.balance(BOB) == 210


def test_a_failed_chain_keeps_the_stored_transfer_it_retried(book: Book) -> None:
    assert book.run(move("pay", amount=100, flags=LINKED), move("fee", amount=10)) == [R.OK, R.OK]

    results = book.run(move("pay", amount=100, flags=LINKED), move("tip", amount=5_000))

    assert results == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert "pay" in book.existing
    assert book.balance(BOB) == 110


# Two-phase transfers ----------------------------------------------------------------------------


def test_a_pending_transfer_reserves_without_moving(book: Book) -> None:
    outcome = book.outcome(hold("p", amount=300))

    assert outcome.results == [R.OK]
    assert book.totals(ALICE) == (0, 1_000, 300, 0)
    assert book.totals(BOB) == (0, 0, 0, 300)
    assert book.status("p") is PendingStatus.PENDING
    assert book.existing["p"].expires_at_ns is None


def test_posting_in_full_moves_the_reserved_amount(book: Book) -> None:
    book.run(hold("p", amount=300))

    outcome = book.outcome(post("q", "p"))

    assert outcome.results == [R.OK]
    assert outcome.resolved == {"p": PendingStatus.POSTED}
    assert book.totals(ALICE) == (300, 1_000, 0, 0)
    assert book.totals(BOB) == (0, 300, 0, 0)
    [record] = outcome.new_records
    assert (record.debit_account_id, record.credit_account_id, record.amount) == (ALICE, BOB, 300)


def test_posting_part_of_a_reservation_returns_the_rest(book: Book) -> None:
    book.run(hold("p", amount=300))

    assert book.run(post("q", "p", amount=120)) == [R.OK]

    assert book.totals(ALICE) == (120, 1_000, 0, 0)
    assert book.totals(BOB) == (0, 120, 0, 0)
    assert book.accounts[ALICE].available == 880
    assert book.status("p") is PendingStatus.POSTED


def test_voiding_returns_the_whole_reservation(book: Book) -> None:
    book.run(hold("p", amount=300))

    outcome = book.outcome(void("v", "p"))

    assert outcome.results == [R.OK]
    assert outcome.resolved == {"p": PendingStatus.VOIDED}
    assert book.totals(ALICE) == (0, 1_000, 0, 0)
    assert book.totals(BOB) == (0, 0, 0, 0)


def test_voiding_may_name_the_reserved_amount_and_accounts(book: Book) -> None:
    book.run(hold("p", amount=300))

    void_named = Transfer(id="v", debit_account_id=ALICE, credit_account_id=BOB, amount=300,
                          flags=VOID, pending_id="p")
    assert book.run(void_named) == [R.OK]


def test_posting_more_than_was_reserved_is_refused(book: Book) -> None:
    book.run(hold("p", amount=300))

    assert book.run(post("q", "p", amount=301)) == [R.EXCEEDS_PENDING_TRANSFER_AMOUNT]
    assert book.run(void("v", "p", amount=100)) == [R.EXCEEDS_PENDING_TRANSFER_AMOUNT]
    assert book.status("p") is PendingStatus.PENDING
    assert book.totals(ALICE) == (0, 1_000, 300, 0)


def test_a_pending_transfer_is_posted_once(book: Book) -> None:
    book.run(hold("p", amount=300))
    assert book.run(post("q", "p", amount=100)) == [R.OK]

    assert book.run(post("q2", "p", amount=100)) == [R.PENDING_TRANSFER_ALREADY_POSTED]
    assert book.run(void("v", "p")) == [R.PENDING_TRANSFER_ALREADY_POSTED]
    assert book.run(post("q", "p", amount=100)) == [R.EXISTS]
    assert book.run(post("q", "p")) == [R.EXISTS]
    assert book.run(post("q", "p", amount=99)) == [R.EXISTS_WITH_DIFFERENT_FIELDS]
    assert book.totals(ALICE) == (100, 1_000, 0, 0)


def test_a_voided_transfer_cannot_be_posted(book: Book) -> None:
    book.run(hold("p", amount=300))
    book.run(void("v", "p"))

    assert book.run(post("q", "p")) == [R.PENDING_TRANSFER_ALREADY_VOIDED]
    assert book.run(void("v2", "p")) == [R.PENDING_TRANSFER_ALREADY_VOIDED]
    assert book.totals(ALICE) == (0, 1_000, 0, 0)


def test_resolving_an_unknown_transfer_is_refused(book: Book) -> None:
    assert book.run(post("q", "nope")) == [R.PENDING_TRANSFER_NOT_FOUND]
    assert book.run(void("v", "nope")) == [R.PENDING_TRANSFER_NOT_FOUND]


def test_resolving_a_single_phase_transfer_is_refused(book: Book) -> None:
    book.run(move("t", amount=10))

    assert book.run(post("q", "t")) == [R.PENDING_TRANSFER_NOT_PENDING]


def test_resolving_a_single_phase_transfer_of_the_same_batch_is_refused_as_not_pending(
    book: Book,
) -> None:
    # Same request as above, in one batch: the code must not depend on how requests were batched.
    assert book.run(move("t", amount=10), post("q", "t")) == [
        R.OK, R.PENDING_TRANSFER_NOT_PENDING,
    ]


def test_resolving_with_other_accounts_is_refused(book: Book) -> None:
    book.run(hold("p", amount=300))

    other_debit = Transfer(id="q", debit_account_id=BANK, amount=0, flags=POST, pending_id="p")
    other_credit = Transfer(id="q", credit_account_id=BANK, amount=0, flags=POST, pending_id="p")
    assert book.run(other_debit) == [R.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS]
    assert book.run(other_credit) == [R.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS]
    assert book.status("p") is PendingStatus.PENDING


def test_a_pending_transfer_created_and_posted_in_one_batch(book: Book) -> None:
    outcome = book.outcome(hold("p", amount=300), post("q", "p", amount=200))

    assert outcome.results == [R.OK, R.OK]
    assert outcome.resolved == {"p": PendingStatus.POSTED}
    assert [r.id for r in outcome.new_records] == ["p", "q"]
    assert book.totals(ALICE) == (200, 1_000, 0, 0)
    assert book.totals(BOB) == (0, 200, 0, 0)


def test_a_pending_transfer_created_and_voided_in_one_batch(book: Book) -> None:
    outcome = book.outcome(hold("p", amount=300), void("v", "p"), post("q", "p"))

    assert outcome.results == [R.OK, R.OK, R.PENDING_TRANSFER_ALREADY_VOIDED]
    assert outcome.resolved == {"p": PendingStatus.VOIDED}
    assert book.totals(ALICE) == (0, 1_000, 0, 0)


def test_posting_before_the_reservation_in_the_batch_finds_nothing(book: Book) -> None:
    assert book.run(post("q", "p"), hold("p", amount=300)) == [
        R.PENDING_TRANSFER_NOT_FOUND, R.OK,
    ]


def test_a_failed_chain_undoes_the_reservation_it_made_and_posted(book: Book) -> None:
    before = {i: book.totals(i) for i in book.accounts}

    outcome = book.outcome(
        hold("p", amount=300, flags=LINKED),
        post("q", "p", flags=LINKED),
        move("fee", amount=5_000),
    )

    assert outcome.results == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert outcome.new_records == []
    assert outcome.resolved == {}
    assert {i: book.totals(i) for i in book.accounts} == before


def test_a_failed_chain_leaves_a_stored_reservation_pending(book: Book) -> None:
    book.run(hold("p", amount=300))

    outcome = book.outcome(
        post("q", "p", flags=LINKED),
        move("fee", amount=5_000),
        post("q2", "p", amount=100),
    )

    assert outcome.results == [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.OK]
    assert outcome.resolved == {"p": PendingStatus.POSTED}
    assert [r.id for r in outcome.new_records] == ["q2"]
    assert book.totals(ALICE) == (100, 1_000, 0, 0)


def test_a_reservation_carries_its_expiry_time(book: Book) -> None:
    book.run(hold("p", timeout_s=30))

    assert book.existing["p"].expires_at_ns == NOW_NS + 30 * S_NS


def test_a_reservation_can_be_posted_until_its_timeout(book: Book) -> None:
    book.run(hold("p", amount=300, timeout_s=30))
    book.now_ns += 30 * S_NS - 1

    assert book.run(post("q", "p")) == [R.OK]


def test_a_reservation_past_its_timeout_expires_when_someone_posts_it(book: Book) -> None:
    book.run(hold("p", amount=300, timeout_s=30))
    book.advance(30)

    outcome = book.outcome(post("q", "p"))

    assert outcome.results == [R.PENDING_TRANSFER_EXPIRED]
    assert outcome.resolved == {"p": PendingStatus.EXPIRED}
    assert outcome.touched_account_ids == {ALICE, BOB}
    assert book.totals(ALICE) == (0, 1_000, 0, 0)
    assert book.totals(BOB) == (0, 0, 0, 0)
    assert book.run(void("v", "p")) == [R.PENDING_TRANSFER_EXPIRED]


def test_an_expiry_stands_even_when_the_chain_that_found_it_fails(book: Book) -> None:
    book.run(hold("p", amount=300, timeout_s=1))
    book.advance(5)

    outcome = book.outcome(move("pay", amount=10, flags=LINKED), void("v", "p"))

    assert outcome.results == [R.LINKED_EVENT_FAILED, R.PENDING_TRANSFER_EXPIRED]
    assert outcome.resolved == {"p": PendingStatus.EXPIRED}
    assert book.totals(ALICE) == (0, 1_000, 0, 0)


def test_the_expiry_sweep_releases_only_what_is_due(book: Book) -> None:
    book.run(hold("soon", amount=100, timeout_s=10), hold("late", amount=200, timeout_s=60),
             hold("never", amount=300))
    book.advance(10)

    outcome = book.outcome(expire_ids=["soon", "late", "never"])

    assert outcome.results == []
    assert outcome.resolved == {"soon": PendingStatus.EXPIRED}
    assert book.totals(ALICE) == (0, 1_000, 500, 0)
    assert book.status("late") is PendingStatus.PENDING


def test_the_expiry_sweep_skips_what_was_resolved_meanwhile(book: Book) -> None:
    book.run(hold("p", amount=100, timeout_s=10))
    book.run(post("q", "p"))
    book.advance(60)

    outcome = book.outcome(expire_ids=["p", "unknown"])

    assert outcome.resolved == {}
    assert book.status("p") is PendingStatus.POSTED
    assert book.totals(ALICE) == (100, 1_000, 0, 0)



def test_a_credit_past_the_accounts_balance_max_is_refused_counting_pending_credits() -> None:
    capped = Account(id=10, currency="XOF", kind=AccountKind.CUSTOMER_WALLET, balance_max=1_000)
    source = Account(id=11, currency="XOF", kind=AccountKind.SETTLEMENT_BANK)
    accounts = {10: capped, 11: source}
    outcome = apply(
        [
            Transfer(id="hold", debit_account_id=11, credit_account_id=10, amount=600, flags=PENDING),
            Transfer(id="over", debit_account_id=11, credit_account_id=10, amount=401),
            Transfer(id="fits", debit_account_id=11, credit_account_id=10, amount=400),
            # Money leaving the capped account is never limited by the cap.
            Transfer(id="out", debit_account_id=10, credit_account_id=11, amount=300),
        ],
        accounts=accounts, existing={}, pendings={}, now_ns=NOW_NS,
    )
    assert outcome.results == [R.OK, R.EXCEEDS_BALANCE_MAX, R.OK, R.OK]
    assert capped.credits_posted - capped.debits_posted + capped.credits_pending == 700
