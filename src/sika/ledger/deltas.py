"""What a batch does to each account, and what each account must hold for all of it to pass.

The optimistic path of :mod:`sika.ledger.postgres_batches` writes a batch of plain and pending
transfers (and posts and voids of reservations it holds the record of, below) without reading its
accounts first: it adds each account's changes to what the row holds,
under the row's lock, only where the row meets the conditions computed here; if any row does not,
nothing is written and the batch runs again by the locked path, whose rules give each transfer its
own result.

The rules (:mod:`sika.ledger.engine`) check each transfer against its accounts as the batch's earlier
transfers left them. Without resolving a pending transfer, a batch only adds to totals, so each limit
of an account comes down to one number, the most any step of the batch asks of it:

* limited in debits (debits posted and pending never past credits posted): before the batch,
  ``credits_posted - (debits_posted + debits_pending)`` must be at least ``debit_need``, the largest
  ``Δ(debits_posted + debits_pending) - Δcredits_posted`` over its debits, each transfer's own
  amount counted;
* limited in credits, or capped by ``balance_max``: ``debits_posted - (credits_posted +
  credits_pending)``, or ``balance_max - (credits_posted + credits_pending - debits_posted)``, at least
  ``credit_need``, the same over its credits.

Every step then passes, as each step's room is the room before the batch less what came before it
in the batch. The 64-bit check of each step comes down to ``debit_peak`` and ``credit_peak`` the
same way. The needs may be negative (an account credited before it is debited) and, summed over
a batch, past a 64-bit integer: PostgreSQL compares them as ``numeric``.

A post or void of a pending transfer whose record the caller holds (``pendings``) checks no limit:
it takes the reservation off both accounts' pending totals (and a post adds what it moves, at most
the reservation, to their posted ones), so it only gives room back, which later steps of the batch
may use. The statement writes it only if that reservation still stands as recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sika.ledger.model import Transfer, TransferFlags, TransferRecord

__all__ = ["Delta", "deltas"]

_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING)
_TWO_PHASE = int(TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING)


@dataclass(slots=True)
class Delta:
    """One account's changes over a batch, and the room it needs on each side (None: no such step)."""

    account_id: int
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0
    debit_need: int | None = None
    credit_need: int | None = None
    # The most Δ(debits_posted + debits_pending) reaches after a step debiting it (each step's own
    # amount counted), and the same for credits: what the 64-bit check of that step needs. A resolved
    # reservation lowers a total, so the batch's end is not always its peak.
    debit_peak: int | None = None
    credit_peak: int | None = None


def deltas(transfers: Sequence[Transfer],
           pendings: Mapping[str, TransferRecord] | None = None) -> list[Delta]:
    """Each account's :class:`Delta`, by id, for a batch of transfers every one of which the rules
    accept (the caller checked): plain and pending ones between two different accounts, and posts and
    voids of the pending transfers in ``pendings`` (each stored before the batch, resolved once)."""
    by_id: dict[int, Delta] = {}
    for t in transfers:
        flags = int(t.flags)
        if flags & _TWO_PHASE:
            assert pendings is not None and t.pending_id is not None, t
            _resolve(by_id, pendings[t.pending_id], t.amount if flags & _POST else None)
            continue
        assert t.debit_account_id != t.credit_account_id, t
        debit, credit = _pair(by_id, t.debit_account_id, t.credit_account_id)
        amount = t.amount
        peak = debit.debits_posted + debit.debits_pending + amount
        if debit.debit_peak is None or peak > debit.debit_peak:
            debit.debit_peak = peak
        need = peak - debit.credits_posted
        if debit.debit_need is None or need > debit.debit_need:
            debit.debit_need = need
        peak = credit.credits_posted + credit.credits_pending + amount
        if credit.credit_peak is None or peak > credit.credit_peak:
            credit.credit_peak = peak
        need = peak - credit.debits_posted
        if credit.credit_need is None or need > credit.credit_need:
            credit.credit_need = need
        if flags & _PENDING:
            debit.debits_pending += amount
            credit.credits_pending += amount
        else:
            debit.debits_posted += amount
            credit.credits_posted += amount
    return [by_id[account_id] for account_id in sorted(by_id)]


def _resolve(by_id: dict[int, Delta], pending: TransferRecord, posted: int | None) -> None:
    """A reservation taken off both accounts; ``posted`` (a post's amount, 0 for all of it) moved."""
    debit, credit = _pair(by_id, pending.debit_account_id, pending.credit_account_id)
    debit.debits_pending -= pending.amount
    credit.credits_pending -= pending.amount
    if posted is not None:
        moved = posted or pending.amount
        assert 0 < moved <= pending.amount
        debit.debits_posted += moved
        credit.credits_posted += moved


def _pair(by_id: dict[int, Delta], debit_id: int, credit_id: int) -> tuple[Delta, Delta]:
    """The two accounts' deltas, made on first sight."""
    debit = by_id.get(debit_id)
    if debit is None:
        debit = by_id[debit_id] = Delta(debit_id)
    credit = by_id.get(credit_id)
    if credit is None:
        credit = by_id[credit_id] = Delta(credit_id)
    return debit, credit
