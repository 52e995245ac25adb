"""What a batch does to each account, and what each account must hold for all of it to pass.

The optimistic path of :mod:`sika.ledger.postgres_batches` writes a batch of plain and pending
transfers without reading its accounts first: it adds each account's changes to what the row holds,
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
in the batch. The needs may be negative (an account credited before it is debited) and, summed over
a batch, past a 64-bit integer: PostgreSQL compares them as ``numeric``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sika.ledger.model import Transfer, TransferFlags

__all__ = ["Delta", "deltas"]

_PENDING = int(TransferFlags.PENDING)
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


def deltas(transfers: Sequence[Transfer]) -> list[Delta]:
    """Each account's :class:`Delta`, by id, for a batch of plain and pending transfers between two
    different accounts, every one of which the rules accept (the caller checked)."""
    by_id: dict[int, Delta] = {}
    for t in transfers:
        flags = int(t.flags)
        assert not flags & _TWO_PHASE and t.debit_account_id != t.credit_account_id, t
        debit = by_id.get(t.debit_account_id)
        if debit is None:
            debit = by_id[t.debit_account_id] = Delta(t.debit_account_id)
        credit = by_id.get(t.credit_account_id)
        if credit is None:
            credit = by_id[t.credit_account_id] = Delta(t.credit_account_id)
        amount = t.amount
        need = debit.debits_posted + debit.debits_pending + amount - debit.credits_posted
        if debit.debit_need is None or need > debit.debit_need:
            debit.debit_need = need
        need = credit.credits_posted + credit.credits_pending + amount - credit.debits_posted
        if credit.credit_need is None or need > credit.credit_need:
            credit.credit_need = need
        if flags & _PENDING:
            debit.debits_pending += amount
            credit.credits_pending += amount
        else:
            debit.debits_posted += amount
            credit.credits_posted += amount
    return [by_id[account_id] for account_id in sorted(by_id)]
