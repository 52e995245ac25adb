"""Applies a batch of transfers to accounts held in memory: the ledger's rules, free of any database.

The store loads (and locks) every account a batch touches, every stored transfer whose id the batch
reuses and every pending transfer it resolves, calls :func:`apply`, then writes back what changed, all
in one database transaction. Keeping the rules here means one place decides every result code, and the
same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from sika.ledger.model import (
    AMOUNT_MAX,
    CODE_MAX,
    ID_LENGTH_MAX,
    METADATA_BYTES_MAX,
    TIMEOUT_S_MAX,
    Account,
    AccountFlags,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferRecord,
)
from sika.ledger.model import TransferResult as R

__all__ = ["Outcome", "apply", "referenced_account_ids"]

# Plain ints: IntFlag arithmetic builds a new enum member per operation, which showed up as a fifth
# of a batch's Python time in profiles.
_LINKED = int(TransferFlags.LINKED)
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING)
_VOID = int(TransferFlags.VOID_PENDING)
_TWO_PHASE = _POST | _VOID
_CLOSED = int(AccountFlags.CLOSED)
_DEBITS_LIMITED = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CREDITS_LIMITED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_NS_PER_S = 1_000_000_000
_PENDING_STATUS = PendingStatus.PENDING
_new_record = TransferRecord._make


@dataclass(slots=True)
class Outcome:
    results: list[R]
    new_records: list[TransferRecord] = field(default_factory=list)
    # Pending transfer id -> its new status, for pending transfers created earlier.
    resolved: dict[str, PendingStatus] = field(default_factory=dict)
    touched_account_ids: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _State:
    accounts: dict[int, Account]
    existing: dict[str, TransferRecord]
    pendings: dict[str, TransferRecord]
    now_ns: int
    outcome: Outcome
    # Undo log of the open linked chain: restoring it rolls the chain back in memory.
    undo_accounts: list[tuple[Account, int, int, int, int]] = field(default_factory=list)
    undo_pendings: list[tuple[str, TransferRecord | None, PendingStatus | None]] = field(
        default_factory=list
    )
    undo_records: int = 0
    in_chain: bool = False


def referenced_account_ids(transfers: Sequence[Transfer]) -> set[int]:
    ids: set[int] = set()
    for t in transfers:
        if t.debit_account_id:
            ids.add(t.debit_account_id)
        if t.credit_account_id:
            ids.add(t.credit_account_id)
    return ids


def apply(
    transfers: Sequence[Transfer],
    *,
    accounts: dict[int, Account],
    existing: dict[str, TransferRecord],
    pendings: dict[str, TransferRecord],
    now_ns: int,
    segments: Sequence[int] | None = None,
    expire_ids: Sequence[str] = (),
) -> Outcome:
    """Apply ``transfers`` in order, mutating ``accounts``; return a result for each.

    ``segments`` splits the batch into independent requests (group commit): a linked chain never
    crosses a segment's end. ``expire_ids`` names pending transfers to release first if their
    timeout has passed (the expiry sweep); referenced pending transfers past their timeout are
    released too, before anything else, so an expiry never depends on a chain's fate.
    """
    outcome = Outcome(results=[R.OK] * len(transfers))
    state = _State(accounts, existing, dict(pendings), now_ns, outcome)
    for pending_id in [*expire_ids, *(t.pending_id for t in transfers if t.pending_id)]:
        _expire_if_due(state, pending_id)

    bounds = list(segments) if segments is not None else [len(transfers)]
    assert sum(bounds) == len(transfers), "segments must cover the batch"
    start = 0
    for length in bounds:
        _apply_segment(state, transfers, start, start + length)
        start += length
    return outcome


def _apply_segment(state: _State, transfers: Sequence[Transfer], start: int, end: int) -> None:
    results = state.outcome.results
    index = start
    while index < end:
        if not int(transfers[index].flags) & _LINKED:
            results[index] = _apply_one(state, transfers[index])
            index += 1
            continue
        # A chain runs to the first transfer without LINKED; one still open at the segment's end
        # fails as a whole.
        last = index
        while last < end - 1 and int(transfers[last].flags) & _LINKED:
            last += 1
        chain_open = bool(int(transfers[last].flags) & _LINKED)
        _begin_chain(state)
        failed: int | None = None
        for position in range(index, last + 1):
            if chain_open and position == last:
                result = R.LINKED_EVENT_CHAIN_OPEN
            else:
                result = _apply_one(state, transfers[position])
            results[position] = result
            if result not in (R.OK, R.EXISTS):
                failed = position
                break
        if failed is not None:
            _rollback_chain(state)
            for position in range(index, last + 1):
                if position != failed:
                    results[position] = R.LINKED_EVENT_FAILED
        _end_chain(state)
        index = last + 1


def _begin_chain(state: _State) -> None:
    state.in_chain = True
    state.undo_accounts.clear()
    state.undo_pendings.clear()
    state.undo_records = len(state.outcome.new_records)


def _end_chain(state: _State) -> None:
    state.in_chain = False
    state.undo_accounts.clear()
    state.undo_pendings.clear()


def _rollback_chain(state: _State) -> None:
    for account, dp, cp, dpe, cpe in reversed(state.undo_accounts):
        account.debits_posted = dp
        account.credits_posted = cp
        account.debits_pending = dpe
        account.credits_pending = cpe
    for pending_id, record, status in reversed(state.undo_pendings):
        if record is None:
            state.pendings.pop(pending_id, None)
        else:
            state.pendings[pending_id] = record
        if status is None:
            state.outcome.resolved.pop(pending_id, None)
        else:
            state.outcome.resolved[pending_id] = status
    for record in state.outcome.new_records[state.undo_records :]:
        state.existing.pop(record.id, None)
    del state.outcome.new_records[state.undo_records :]
    state.undo_accounts.clear()
    state.undo_pendings.clear()


def _remember(state: _State, account: Account) -> None:
    # Only a linked chain can be rolled back, so only a chain keeps an undo log.
    if state.in_chain:
        state.undo_accounts.append(
            (
                account,
                account.debits_posted,
                account.credits_posted,
                account.debits_pending,
                account.credits_pending,
            )
        )
    state.outcome.touched_account_ids.add(account.id)


def _set_pending(state: _State, record: TransferRecord) -> None:
    if state.in_chain:
        state.undo_pendings.append(
            (record.id, state.pendings.get(record.id), state.outcome.resolved.get(record.id))
        )
    state.pendings[record.id] = record
    assert record.pending_status is not None
    if record.pending_status is not PendingStatus.PENDING:
        state.outcome.resolved[record.id] = record.pending_status


def _expire_if_due(state: _State, pending_id: str) -> None:
    pending = state.pendings.get(pending_id)
    if pending is None or pending.pending_status is not PendingStatus.PENDING:
        return
    if pending.expires_at_ns is None or pending.expires_at_ns > state.now_ns:
        return
    debit = state.accounts[pending.debit_account_id]
    credit = state.accounts[pending.credit_account_id]
    state.outcome.touched_account_ids.update((debit.id, credit.id))
    debit.debits_pending -= pending.amount
    credit.credits_pending -= pending.amount
    assert debit.debits_pending >= 0 and credit.credits_pending >= 0
    state.pendings[pending_id] = _with_status(pending, PendingStatus.EXPIRED)
    state.outcome.resolved[pending_id] = PendingStatus.EXPIRED


def _validate(t: Transfer) -> R:
    if not t.id or len(t.id) > ID_LENGTH_MAX or not t.id.isprintable():
        return R.ID_INVALID
    phase = int(t.flags) & (_PENDING | _TWO_PHASE)
    if phase not in (0, _PENDING, _POST, _VOID):
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if phase & _TWO_PHASE:
        if not t.pending_id:
            return R.PENDING_ID_REQUIRED
        if t.pending_id == t.id:
            return R.PENDING_ID_MUST_BE_DIFFERENT
    elif t.pending_id is not None:
        return R.PENDING_ID_MUST_BE_EMPTY
    if t.timeout_s and not phase & _PENDING:
        return R.TIMEOUT_RESERVED_FOR_PENDING
    if not 0 <= t.timeout_s <= TIMEOUT_S_MAX:
        return R.TIMEOUT_TOO_LARGE
    if t.amount < 0 or (t.amount == 0 and not phase & _TWO_PHASE):
        return R.AMOUNT_MUST_BE_POSITIVE
    if t.amount > AMOUNT_MAX:
        return R.AMOUNT_TOO_LARGE
    if not 0 <= t.code <= CODE_MAX:
        return R.CODE_INVALID
    if t.metadata and len(json.dumps(t.metadata).encode()) > METADATA_BYTES_MAX:
        return R.METADATA_TOO_LARGE
    if not phase & _TWO_PHASE and t.debit_account_id == t.credit_account_id:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    return R.OK


def _apply_one(state: _State, t: Transfer) -> R:
    result = _validate(t)
    if result is not R.OK:
        return result
    stored = state.existing.get(t.id)
    if stored is not None:
        return R.EXISTS if _same_fields(t, stored) else R.EXISTS_WITH_DIFFERENT_FIELDS
    flags = int(t.flags)
    if flags & _TWO_PHASE:
        return _resolve_pending(state, t)
    debit = state.accounts.get(t.debit_account_id)
    if debit is None:
        return R.DEBIT_ACCOUNT_NOT_FOUND
    credit = state.accounts.get(t.credit_account_id)
    if credit is None:
        return R.CREDIT_ACCOUNT_NOT_FOUND
    if debit.currency != credit.currency:
        return R.CURRENCY_MISMATCH
    if int(debit.flags) & _CLOSED:
        return R.DEBIT_ACCOUNT_CLOSED
    if int(credit.flags) & _CLOSED:
        return R.CREDIT_ACCOUNT_CLOSED
    amount = t.amount
    pending = bool(flags & _PENDING)
    refused = _exceeds_limits(debit, credit, amount)
    if refused is not None:
        return refused
    _remember(state, debit)
    _remember(state, credit)
    if pending:
        debit.debits_pending += amount
        credit.credits_pending += amount
    else:
        debit.debits_posted += amount
        credit.credits_posted += amount
    # Positionally, in TransferRecord's field order: the hot path of every batch.
    record = _new_record((
        t.id, debit.id, credit.id, amount, debit.currency, t.code, t.flags, None, t.timeout_s,
        t.metadata, state.now_ns, 0, _PENDING_STATUS if pending else None,
        state.now_ns + t.timeout_s * _NS_PER_S if pending and t.timeout_s else None,
    ))
    _record(state, record)
    if pending:
        _set_pending(state, record)
    return R.OK


def _exceeds_limits(debit: Account, credit: Account, amount: int) -> R | None:
    """Why moving ``amount`` would take either account past a limit, or None if it would not."""
    if (
        debit.debits_posted + debit.debits_pending + amount > AMOUNT_MAX
        or credit.credits_posted + credit.credits_pending + amount > AMOUNT_MAX
    ):
        return R.OVERFLOWS
    if (
        int(debit.flags) & _DEBITS_LIMITED
        and debit.debits_posted + debit.debits_pending + amount > debit.credits_posted
    ):
        return R.EXCEEDS_CREDITS
    if (
        int(credit.flags) & _CREDITS_LIMITED
        and credit.credits_posted + credit.credits_pending + amount > credit.debits_posted
    ):
        return R.EXCEEDS_DEBITS
    if (
        credit.balance_max is not None
        and credit.credits_posted + credit.credits_pending + amount - credit.debits_posted
        > credit.balance_max
    ):
        return R.EXCEEDS_BALANCE_MAX
    return None


def _resolve_pending(state: _State, t: Transfer) -> R:
    assert t.pending_id is not None
    pending = state.pendings.get(t.pending_id)
    if pending is None:
        # A single-phase transfer stored earlier in this batch is not pending, as it is once stored.
        if t.pending_id in state.existing:
            return R.PENDING_TRANSFER_NOT_PENDING
        return R.PENDING_TRANSFER_NOT_FOUND
    if pending.pending_status is None:
        return R.PENDING_TRANSFER_NOT_PENDING
    if (t.debit_account_id and t.debit_account_id != pending.debit_account_id) or (
        t.credit_account_id and t.credit_account_id != pending.credit_account_id
    ):
        return R.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS
    status = pending.pending_status
    if status is PendingStatus.POSTED:
        return R.PENDING_TRANSFER_ALREADY_POSTED
    if status is PendingStatus.VOIDED:
        return R.PENDING_TRANSFER_ALREADY_VOIDED
    if status is PendingStatus.EXPIRED:
        return R.PENDING_TRANSFER_EXPIRED
    posting = bool(int(t.flags) & _POST)
    amount = t.amount or pending.amount
    if amount > pending.amount or (not posting and amount != pending.amount):
        return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
    debit = state.accounts[pending.debit_account_id]
    credit = state.accounts[pending.credit_account_id]
    _remember(state, debit)
    _remember(state, credit)
    debit.debits_pending -= pending.amount
    credit.credits_pending -= pending.amount
    if posting:
        debit.debits_posted += amount
        credit.credits_posted += amount
    assert debit.debits_pending >= 0 and credit.credits_pending >= 0
    _set_pending(
        state, _with_status(pending, PendingStatus.POSTED if posting else PendingStatus.VOIDED)
    )
    _record(
        state,
        TransferRecord(
            id=t.id,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount=amount,
            currency=debit.currency,
            code=t.code or pending.code,
            flags=t.flags,
            pending_id=pending.id,
            timeout_s=0,
            metadata=t.metadata,
            created_at_ns=state.now_ns,
        ),
    )
    return R.OK


def _record(state: _State, record: TransferRecord) -> None:
    state.outcome.new_records.append(record)
    state.existing[record.id] = record


def _with_status(record: TransferRecord, status: PendingStatus) -> TransferRecord:
    return record._replace(pending_status=status)


def _same_fields(t: Transfer, stored: TransferRecord) -> bool:
    """Whether a retried request matches the stored transfer; zero means "as resolved"."""
    if int(t.flags) & _TWO_PHASE:
        return (
            t.debit_account_id in (0, stored.debit_account_id)
            and t.credit_account_id in (0, stored.credit_account_id)
            and t.amount in (0, stored.amount)
            and t.code in (0, stored.code)
            and t.flags == stored.flags
            and t.pending_id == stored.pending_id
            and t.metadata == stored.metadata
        )
    return (
        t.debit_account_id == stored.debit_account_id
        and t.credit_account_id == stored.credit_account_id
        and t.amount == stored.amount
        and t.code == stored.code
        and t.flags == stored.flags
        and t.pending_id == stored.pending_id
        and t.timeout_s == stored.timeout_s
        and t.metadata == stored.metadata
    )
