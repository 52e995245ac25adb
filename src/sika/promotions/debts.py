"""Owed clawbacks, collected from the customer's later rewards of the same campaign.

A refund whose clawback the wallet could not pay leaves the reward owed (``promo_rewards.owed``,
:mod:`sika.promotions.clawbacks`). The customer's next reward from that campaign is then paid less
what is owed: its leg ``budget -> wallet`` moves the difference only, and what it keeps back never
leaves the budget. No leg takes anything from the wallet: a debt is settled from rewards, never from
the customer's own money.

Only rewards of the same campaign settle its debt: each campaign's budget is its sponsor's money (a
merchant's, an operator's, the platform's), and a reward one sponsor pays must not settle what is owed
to another.

Never twice, whatever races: each owed reward has a meter account (:mod:`sika.promotions.meters`)
whose ``balance_max`` is what was owed, and a collecting reward carries a meter leg of what it keeps
back, in the reward's own optional group (with the reward's leg, never apart from it). Two payments of
the customer planning to keep the same francs at once cannot both be paid: the ledger refuses the
second group under the meter's lock (the payment goes on without that reward; see docs/promotions.md).
An owed reward owed more since its meter was opened (a second refund) raises the meter's cap first.
What is left to collect is read from the meter, which counts collections in flight (pending) as well
as those whose outcome is not recorded yet. A held payment's collection is pending with its reward:
voided with it, the debt is owed again.

The rows say what the ledger did, once, in the transaction that records the collecting payment's
outcome (:mod:`sika.promotions.followups`): the owed row's ``owed`` goes down and its ``collected``
up (``settled`` at zero), and the collecting reward's row keeps its whole amount with ``withheld``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, literal_column, select

from sika.ledger import Ledger
from sika.promotions.meters import Meters
from sika.promotions.schema import rewards

__all__ = ["DEBTS_MAX", "Collection", "Debts", "meter_key"]

DEBTS_MAX = 4  # owed rewards one reward settles at most (oldest first; the next reward takes the rest)
REFRESH_S = 1.0
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Collection:
    """What one reward keeps back for one owed reward: ``amount`` francs, counted by ``meter``."""

    reward_id: int
    meter: int
    amount: int


def meter_key(campaign_id: str, reward_id: int) -> str:
    """The meter counting what later rewards kept back for an owed reward (``"cp_1a2b:o:17"``)."""
    return f"{campaign_id}:o:{reward_id}"


class Debts:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        meters: Meters,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._meters = meters
        self._clock_ns = clock_ns
        self._refresh_ns = int(refresh_s * _NS)
        self._owed_to: frozenset[str] = frozenset()
        self._read_ns: int | None = None
        self._lock = threading.Lock()

    def collect(self, campaign_id: str, customer_id: int, amount: int) -> list[Collection]:
        """What a reward of ``amount`` from the campaign keeps back for the customer's owed rewards of
        the same campaign (oldest first; nothing in the usual case where nothing is owed)."""
        assert amount >= 0
        if amount == 0 or campaign_id not in self._campaigns_owed():
            return []
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(rewards.c.id, rewards.c.owed, rewards.c.collected)
                .where(
                    rewards.c.customer_id == customer_id,
                    rewards.c.campaign_id == campaign_id,
                    _owed(),
                )
                .order_by(rewards.c.id)
                .limit(DEBTS_MAX)
            ).all()
        found: list[Collection] = []
        left = amount
        for row in rows:
            if left == 0:
                break
            # The meter's cap is all that was ever owed on the row; what the ledger counted since
            # (collections recorded, in flight or held) is not owed any more, whatever the row says yet.
            owed_ever = int(row.owed) + int(row.collected)
            meter = self._meters.account(meter_key(campaign_id, int(row.id)), owed_ever)
            account = self._ledger.get_account(meter)
            cap = account.balance_max
            assert cap is not None, meter
            if owed_ever > cap:
                # More was owed since the meter was opened (a second refund of the same payment): the
                # cap follows, as owed + collected only ever grows.
                account = self._ledger.raise_balance_max(meter, owed_ever)  # one way: never lowered
                assert account.balance_max is not None and account.balance_max >= owed_ever, meter
                cap = account.balance_max
            counted = account.credits_posted + account.credits_pending - account.debits_posted
            take = min(left, int(row.owed), cap - counted)
            if take > 0:
                found.append(Collection(int(row.id), meter, take))
                left -= take
        assert sum(c.amount for c in found) <= amount
        return found

    def invalidate(self) -> None:
        """Look again at once (this process has just booked an owed reward)."""
        with self._lock:
            self._read_ns = None

    def _campaigns_owed(self) -> frozenset[str]:
        """The campaigns anyone owes, read at most once a ``refresh_s``: nearly always none, and then a
        reward costs no query. An owed reward booked by another process is collected from rewards
        planned a second later at most (until then they are paid in full)."""
        now = self._clock_ns()
        read = self._read_ns
        if read is not None and now - read < self._refresh_ns:
            return self._owed_to
        with self._engine.connect() as connection:
            found = frozenset(
                str(c)
                for c in connection.execute(
                    select(rewards.c.campaign_id).where(_owed()).distinct()
                ).scalars()
            )
        with self._lock:
            self._owed_to, self._read_ns = found, now
        return found


def _owed() -> ColumnElement[bool]:
    # The value written out: a statement reaches the partial index over owed rows only so (a bound
    # value hides it from PostgreSQL's generic plans and SQLite's planner alike).
    return rewards.c.status == literal_column("'owed'")
