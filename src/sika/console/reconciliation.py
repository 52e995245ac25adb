"""The reconciliation queue: what ``sika reconcile`` lists, with the reason an operator reads.

:func:`queue` asks the same services the command does (``Payments.stuck``, ``Callbacks.undelivered``);
when reconciliation grows a function of its own (providers' statements), this is the one place to
point at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sika.bootstrap import Container
from sika.console.i18n import N_
from sika.payments import Movement, Status
from sika.rides.payment_kinds import RIDE

__all__ = ["JOBS", "Item", "queue"]

# The background jobs an operator may run now rather than wait for: (job, label msgid).
JOBS = {
    "recover": N_("Finish interrupted movements now"),
    "poll": N_("Ask the providers about pending payments now"),
    "callbacks": N_("Retry merchant callbacks now"),
}


@dataclass(frozen=True, slots=True)
class Item:
    movement: Movement
    issue: str  # a msgid


def _issue(m: Movement) -> str:
    if m.details.get("late_outcome"):
        return N_("The provider succeeded after the hold was released: charge or reverse with the provider.")
    if m.kind is RIDE and m.status is Status.FAILED:
        return N_("The card refused a completed ride's fare: collect it from the rider, pay the driver.")
    if m.details.get("refund_required"):
        return N_("Paid at the provider but refused by our limits: refund at the provider.")
    if m.status is Status.PROCESSING:
        return N_("Interrupted: the recovery job finishes it.")
    return N_("Past its deadline: the polling job gives it up.")


def queue(container: Container) -> tuple[list[Item], list[dict[str, Any]]]:
    stuck = container.payments.stuck()
    callbacks = container.callbacks.undelivered()
    return [Item(m, _issue(m)) for m in stuck], callbacks


def run_job(container: Container, job: str) -> int:
    """Run one background job once; returns how many items it handled."""
    if job == "recover":
        return container.payments.recover()
    if job == "poll":
        return container.purchases.poll()
    if job == "callbacks":
        return container.callbacks.deliver_due()
    raise AssertionError(job)
