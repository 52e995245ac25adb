"""Reconciliation with providers: where Sika's books and a provider's records disagree.

For each provider order of the last ``since_s`` seconds (newest first, ``ORDERS_MAX`` at most), the
provider is asked its status and the two are compared:

=====================  ==========================  =================================================
Sika                   provider                    drift
=====================  ==========================  =================================================
completed              failed, or no such order    Sika delivered or credited what the provider did
                                                   not: recover it from the customer or the provider
failed                 succeeded                   the provider delivered (or took the customer's
                                                   money) and Sika did not charge (or credit)
pending                succeeded or failed         a final answer Sika has not applied yet (the poll
                                                   job will, unless it is stuck)
any                    another amount              the amounts differ
=====================  ==========================  =================================================

Payouts are not asked (PayGate has no status for them); ``sika reconcile`` lists those whose outcome
is unknown through :meth:`sika.payments.recovery.Recovery.stuck`. Providers whose API reports a
balance (PayGate's Flooz and T-Money balances, Africa's Talking's prepaid credit, the biller
aggregator's float) have it listed, for the operator to compare with the settlement accounts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, select

from sika.payments.movements import Kind, Movement, Status
from sika.payments.schema import movements
from sika.payments.service import Payments
from sika.providers import (
    Balance,
    Outcome,
    ProviderNotConfigured,
    ProviderRejected,
    Providers,
    ProviderStatus,
    ProviderUnavailable,
)

__all__ = ["ORDERS_MAX", "Drift", "ProviderReport", "reconcile_providers"]

ORDERS_MAX = 500
SINCE_S_DEFAULT = 7 * 24 * 3600
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Drift:
    movement_id: str
    provider: str
    product: str
    amount: int
    sika: str
    at_provider: str
    provider_amount: int | None
    issue: str


@dataclass(frozen=True, slots=True)
class ProviderReport:
    drift: list[Drift]
    balances: list[Balance]
    checked: int
    # Providers that could not be asked (not configured, unavailable) and how many orders each.
    unchecked: dict[str, int]
    notes: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"drift": [asdict(d) for d in self.drift], "balances": [asdict(b) for b in self.balances],
                "checked": self.checked, "unchecked": self.unchecked, "notes": self.notes}


def reconcile_providers(
    engine: Engine, payments: Payments, providers: Providers, *, since_s: int = SINCE_S_DEFAULT,
    limit: int = ORDERS_MAX, clock_ns: Callable[[], int] = time.time_ns,
) -> ProviderReport:
    assert 0 < limit <= ORDERS_MAX, limit
    since_ns = clock_ns() - since_s * _NS
    with engine.connect() as connection:
        ids = connection.execute(
            select(movements.c.id).where(movements.c.provider.is_not(None), movements.c.kind != Kind.PAYOUT,
                                    movements.c.created_at_ns >= since_ns)
            .order_by(movements.c.created_at_ns.desc()).limit(limit)).scalars().all()
    drift: list[Drift] = []
    unchecked: dict[str, int] = {}
    checked = 0
    for movement in (payments.get(movement_id) for movement_id in ids):
        outcome = _ask(providers, movement)
        if outcome is None:
            unchecked[str(movement.provider)] = unchecked.get(str(movement.provider), 0) + 1
            continue
        checked += 1
        found = _compare(movement, outcome)
        if found is not None:
            drift.append(found)
    balances, failed = providers.balances()
    notes = [f"{len(ids)} provider order(s) since {since_s // 3600} h, {checked} checked"]
    if len(ids) == limit:
        notes.append(f"only the newest {limit} were checked: narrow --since-hours to see older ones")
    notes += [f"balance unavailable: {why}" for why in failed]
    return ProviderReport(drift, balances, checked, unchecked, notes)


def _ask(providers: Providers, movement: Movement) -> Outcome | None:
    assert movement.provider is not None and movement.product is not None
    try:
        return providers.get(movement.provider).status(
            movement.id, product=movement.product, provider_reference=movement.provider_reference)
    except (ProviderNotConfigured, ProviderUnavailable, ProviderRejected):
        return None


def _compare(movement: Movement, outcome: Outcome) -> Drift | None:
    at_provider = "unknown_order" if outcome.error_code == "unknown_order" else str(outcome.status)
    issue = None
    if movement.status is Status.COMPLETED and outcome.status is ProviderStatus.FAILED:
        issue = ("completed here, never received by the provider" if at_provider == "unknown_order"
                 else "completed here, failed at the provider: recover it")
    elif movement.status is Status.FAILED and outcome.status is ProviderStatus.SUCCEEDED:
        issue = "failed here, succeeded at the provider: charge, credit or reverse"
    elif movement.status is Status.PENDING and outcome.final and at_provider != "unknown_order":
        issue = f"pending here, {outcome.status} at the provider: the poll job applies it"
    elif outcome.amount is not None and outcome.amount != movement.amount and outcome.final:
        issue = f"amount {movement.amount} here, {outcome.amount} at the provider"
    if issue is None:
        return None
    return Drift(movement.id, str(movement.provider), str(movement.product), movement.amount,
                 str(movement.status), at_provider, outcome.amount, issue)
