"""What the optimistic path asks of each account (``sika.ledger.deltas``) says yes exactly when the
rules, run on the accounts as they are, accept every transfer of the batch; and then the accounts end
as the rules leave them.

The conditions are those the optimistic statement of ``sika.ledger.postgres_batches`` puts to each
row, written here in Python (``_passes``); a test on PostgreSQL runs the statement itself.
"""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from sika.ledger.deltas import Delta, deltas
from sika.ledger.engine import apply
from sika.ledger.model import (
    AMOUNT_MAX,
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
DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
CMNED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS


def _passes(account: Account, delta: Delta) -> bool:
    """The optimistic statement's WHERE for one row (``_OPTIMISTIC_ACCOUNTS``)."""
    a, d = account, delta
    flags = int(a.flags)
    return (
        not flags & int(AccountFlags.CLOSED)
        and (d.debit_peak is None or a.debits_posted + a.debits_pending + d.debit_peak <= AMOUNT_MAX)
        and (d.credit_peak is None or a.credits_posted + a.credits_pending + d.credit_peak <= AMOUNT_MAX)
        and a.debits_pending + d.debits_pending >= 0 and a.credits_pending + d.credits_pending >= 0
        and (d.debit_need is None or not flags & int(DMNEC)
             or a.credits_posted - a.debits_posted - a.debits_pending >= d.debit_need)
        and (d.credit_need is None or not flags & int(CMNED)
             or a.debits_posted - a.credits_posted - a.credits_pending >= d.credit_need)
        and (d.credit_need is None or a.balance_max is None
             or a.balance_max - a.credits_posted - a.credits_pending + a.debits_posted >= d.credit_need)
    )


def _account(account_id: int, fields: tuple[AccountFlags, int, int, int, int, int | None]) -> Account:
    flags, dp, cp, dpe, cpe, balance_max = fields
    return Account(account_id, "XOF", AccountKind.CUSTOMER_WALLET, flags, dp, cp, dpe, cpe,
                   balance_max=balance_max)


# Small amounts, where the limits bite, and amounts near the 64-bit edge, where the overflow check does.
_amounts = st.one_of(st.integers(min_value=0, max_value=3_000),
                     st.integers(min_value=AMOUNT_MAX // 2 - 3_000, max_value=AMOUNT_MAX // 2))
_accounts = st.builds(
    lambda flags, dp, cp, dpe, cpe, cap: (flags, dp, cp, dpe, cpe, cap),
    st.sampled_from([AccountFlags.NONE, DMNEC, CMNED, DMNEC | CMNED, AccountFlags.CLOSED,
                     DMNEC | AccountFlags.CLOSED, CMNED | AccountFlags.CLOSED]),
    _amounts, _amounts, _amounts, _amounts, st.one_of(st.none(), st.integers(0, 6_000)),
)
_transfers = st.lists(
    st.tuples(st.integers(1, 4), st.integers(1, 4),
              st.one_of(st.integers(1, 2_000), st.integers(AMOUNT_MAX // 4, AMOUNT_MAX // 2)),
              st.booleans(), st.booleans()),
    min_size=1, max_size=8,
)



def _plain(moves: list[tuple[int, int, int, bool, bool]]) -> list[Transfer]:
    """Plain and pending transfers, linked or not, between two different accounts."""
    return [
        Transfer(id=f"t{n}", debit_account_id=debit, credit_account_id=credit, amount=amount,
                 flags=(TransferFlags.PENDING if pending else TransferFlags.NONE)
                 | (TransferFlags.LINKED if linked else TransferFlags.NONE),
                 timeout_s=60 if pending else 0)
        for n, (debit, credit, amount, pending, linked) in enumerate(moves)
        if debit != credit
    ]


def _end_as_the_deltas_say(before: dict[int, Account], after: dict[int, Account],
                           changes: list[Delta]) -> None:
    for d in changes:
        was, now = before[d.account_id], after[d.account_id]
        assert now.debits_posted == was.debits_posted + d.debits_posted
        assert now.credits_posted == was.credits_posted + d.credits_posted
        assert now.debits_pending == was.debits_pending + d.debits_pending
        assert now.credits_pending == was.credits_pending + d.credits_pending

def _consistent(fields: tuple[AccountFlags, int, int, int, int, int | None]) -> bool:
    """A stored account never breaks its own limits (the store asserts it)."""
    flags, dp, cp, dpe, cpe, _cap = fields
    return not (flags & DMNEC and dp + dpe > cp) and not (flags & CMNED and cp + cpe > dp)


@settings(max_examples=2_000, deadline=None)
@given(st.lists(_accounts.filter(_consistent), min_size=4, max_size=4), _transfers)
def test_the_conditions_hold_exactly_when_the_rules_accept_the_whole_batch(
    fields: list[tuple[AccountFlags, int, int, int, int, int | None]],
    moves: list[tuple[int, int, int, bool, bool]],
) -> None:
    accounts = {i + 1: _account(i + 1, f) for i, f in enumerate(fields)}
    transfers = _plain(moves)
    if not transfers:
        return
    # The optimistic path is taken only when the rules accept the batch on stand-ins (open accounts
    # of one currency, without limits or money): what no account could change (an open linked
    # chain, totals past 64 bits on their own) goes by the locked path at once.
    stand_ins = {i: Account(i, "XOF", AccountKind.SUSPENSE) for i in accounts}
    if any(r is not R.OK for r in apply(transfers, accounts=stand_ins, existing={}, pendings={},
                                        now_ns=NOW_NS).results):
        return
    real = copy.deepcopy(accounts)
    outcome = apply(transfers, accounts=real, existing={}, pendings={}, now_ns=NOW_NS)
    accepted = all(result is R.OK for result in outcome.results)
    changes = deltas(transfers)
    assert [d.account_id for d in changes] == sorted({t.debit_account_id for t in transfers}
                                                     | {t.credit_account_id for t in transfers})
    assert all(_passes(accounts[d.account_id], d) for d in changes) == accepted
    if accepted:
        _end_as_the_deltas_say(accounts, real, changes)


def test_a_wallet_credited_before_it_is_debited_needs_no_room_of_its_own() -> None:
    bank, ama, kofi = 1, 2, 3
    transfers = [
        Transfer(id="in", debit_account_id=bank, credit_account_id=ama, amount=1_000),
        Transfer(id="out", debit_account_id=ama, credit_account_id=kofi, amount=1_000),
    ]
    by_id = {d.account_id: d for d in deltas(transfers)}
    assert by_id[ama].debit_need == 0 and by_id[ama].credit_need == 1_000  # empty, it passes: 0 >= 0
    assert (by_id[ama].debits_posted, by_id[ama].credits_posted) == (1_000, 1_000)
    assert by_id[bank].credit_need is None and by_id[kofi].debit_need is None  # no such step


_reservations = st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 2_000)),
                         min_size=1, max_size=2)
_resolutions = st.lists(st.tuples(st.integers(0, 1), st.booleans(), st.integers(0, 2_500)),
                        min_size=1, max_size=2)
_some_transfers = st.lists(
    st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 2_000), st.booleans(), st.booleans()),
    max_size=3,
)


@settings(max_examples=2_000, deadline=None)
@given(st.lists(_accounts.filter(_consistent), min_size=4, max_size=4), _reservations, _resolutions,
       _some_transfers, st.lists(st.integers(0, 4), min_size=2, max_size=2))
def test_with_posts_and_voids_the_conditions_never_pass_a_batch_the_rules_refuse(
    fields: list[tuple[AccountFlags, int, int, int, int, int | None]],
    held_moves: list[tuple[int, int, int]],
    resolving: list[tuple[int, bool, int]],
    moves: list[tuple[int, int, int, bool, bool]],
    places: list[int],
) -> None:
    """Reservations stored before the batch (``pendings``), posted (all or part) or voided, before and
    among plain and pending transfers: whenever every row passes, the rules accept the batch and the
    accounts end as the deltas say. The converse holds but where a resolution alone reaches a closed
    account (the rules let a post reach one; the statement leaves that to the locked path)."""
    accounts = {i + 1: _account(i + 1, f) for i, f in enumerate(fields)}
    held: dict[str, TransferRecord] = {}
    for n, (debit, credit, amount) in enumerate(held_moves):
        if debit == credit:
            continue
        accounts[debit].debits_pending += amount  # the reservation stands on both accounts
        accounts[credit].credits_pending += amount
        held[f"h{n}"] = TransferRecord(f"h{n}", debit, credit, amount, "XOF", 1, TransferFlags.PENDING,
                                       None, 60, {}, NOW_NS - 1, pending_status=PendingStatus.PENDING,
                                       expires_at_ns=NOW_NS + 60 * 10**9)
    if any(a.debits_pending > AMOUNT_MAX or a.credits_pending > AMOUNT_MAX for a in accounts.values()):
        return
    resolutions = [
        Transfer(id=f"r{n}", pending_id=f"h{which}", amount=amount if post else 0,
                 flags=TransferFlags.POST_PENDING if post else TransferFlags.VOID_PENDING)
        for n, (which, post, amount) in enumerate(resolving) if f"h{which}" in held
    ]
    if len({t.pending_id for t in resolutions}) != len(resolutions):
        return  # the path takes each reservation once
    transfers = _plain(moves)
    for resolution, place in zip(resolutions, places, strict=False):  # before, among or after them
        transfers.insert(min(place, len(transfers)), resolution)
    used = {t.pending_id: held[t.pending_id] for t in transfers if t.pending_id}
    if not transfers:
        return
    stand_ins = {i: Account(i, "XOF", AccountKind.SUSPENSE) for i in accounts}
    for record in used.values():
        stand_ins[record.debit_account_id].debits_pending += record.amount
        stand_ins[record.credit_account_id].credits_pending += record.amount
    if any(r is not R.OK for r in apply(transfers, accounts=stand_ins, existing={}, pendings=used,
                                        now_ns=NOW_NS).results):
        return
    real = copy.deepcopy(accounts)
    outcome = apply(transfers, accounts=real, existing={}, pendings=used, now_ns=NOW_NS)
    accepted = all(result is R.OK for result in outcome.results)
    changes = deltas(transfers, used)
    passes = all(_passes(accounts[d.account_id], d) for d in changes)
    if passes:
        assert accepted
        _end_as_the_deltas_say(accounts, real, changes)
    elif accepted:
        assert any(int(accounts[d.account_id].flags) & int(AccountFlags.CLOSED) for d in changes)
