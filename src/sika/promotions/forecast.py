"""How fast a campaign would burn its budget: the last days' payments replayed through its rules.

Each completed payment of the last ``days`` days is judged as if the campaign had been running then
(its windows and Ramadan days at the payment's own time, its minimum, tiers, cities, its caps counted
as they fill); what it would have paid is summed per local day. The average day's burn against what
the budget has left says when it would run out. Codes are assumed entered by everyone who paid (an
upper bound), and other campaigns are left out (no stacking).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Engine, select

from sika import phones
from sika.payments.movements import Kind, Status
from sika.payments.schema import movements
from sika.promotions.eligibility import Customerish, Facts, Offer, judge
from sika.promotions.model import Campaign, State
from sika.promotions.rules import Operation
from sika.promotions.timing import CalendarWhen
from sika.rides.payment_kinds import RIDE
from sika.wallet import Customers

__all__ = ["DAYS_MAX", "Forecast", "Forecaster", "Move", "replay"]

DAYS_MAX = 90
MOVES_MAX = 500_000  # payments replayed at most
HORIZON_DAYS = 36_500
_PAGE = 5_000
_NS = 1_000_000_000
_OPERATIONS: dict[Kind, Operation] = {
    Kind.TRANSFER: Operation.TRANSFER,
    Kind.VOUCHER: Operation.TRANSFER,
    Kind.AIRTIME: Operation.AIRTIME,
    Kind.BILL: Operation.BILL,
    Kind.MERCHANT_PAYMENT: Operation.MERCHANT,
    RIDE: Operation.RIDE,
}


@dataclass(frozen=True, slots=True)
class Move:
    operation: Operation
    amount: int
    customer_id: int
    at_ns: int


@dataclass(frozen=True, slots=True)
class Forecast:
    campaign_id: str
    days: int
    payments: int  # replayed
    rewarded: int
    amount: int  # francs the campaign would have paid over the days
    per_day: dict[str, tuple[int, int]]  # local date -> (rewards, francs)
    daily_average: int
    budget_left: int
    runs_out_after_days: float | None  # None: it would not burn at all
    runs_out_on: str | None  # the local date, from today

    def as_json(self) -> dict[str, object]:
        return {
            "campaign_id": self.campaign_id,
            "days": self.days,
            "payments": self.payments,
            "rewarded": self.rewarded,
            "amount": self.amount,
            "daily_average": self.daily_average,
            "budget_left": self.budget_left,
            "runs_out_after_days": self.runs_out_after_days,
            "runs_out_on": self.runs_out_on,
            "per_day": [
                {"date": day, "rewards": n, "amount": a} for day, (n, a) in sorted(self.per_day.items())
            ],
        }


def replay(
    campaign: Campaign,
    moves: Iterator[Move],
    *,
    days: int,
    budget_left: int,
    now_ns: int,
    when: CalendarWhen,
    customer: Callable[[int], Customerish],
) -> Forecast:
    running = replace(campaign, state=State.LIVE, starts_at_ns=0, ends_at_ns=None)
    rules = campaign.rules
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    given: dict[tuple[str, int], int] = defaultdict(int)  # (cap scope, customer) -> francs or count
    day_total: dict[str, int] = defaultdict(int)
    replayed = 0
    for move in moves:
        replayed += 1
        at = datetime.fromtimestamp(move.at_ns / _NS, UTC)
        facts = Facts(
            operation=move.operation,
            amount=move.amount,
            customer_id=move.customer_id,
            now_ns=move.at_ns,
            at=at,
            read_customer=partial(customer, move.customer_id),
        )
        verdict = judge(running, facts, when, claimed=lambda: True)
        if not isinstance(verdict, Offer):
            continue
        amount = (
            verdict.amount
            if rules.referee_amount is None
            else rules.referee_amount + (rules.referrer_amount or 0)
        )
        day = when.local_date(campaign, at)
        who = move.customer_id
        if (
            (rules.per_customer_max and given["c", who] + amount > rules.per_customer_max)
            or (rules.per_customer_count_max and given["n", who] + 1 > rules.per_customer_count_max)
            or (rules.per_customer_day_max and given["n" + day, who] + 1 > rules.per_customer_day_max)
            or (rules.per_day_max and day_total[day] + amount > rules.per_day_max)
        ):
            continue
        given["c", who] += amount
        given["n", who] += 1
        given["n" + day, who] += 1
        day_total[day] += amount
        per_day[day][0] += 1
        per_day[day][1] += amount
    total = sum(a for _, a in per_day.values())
    average = total // max(days, 1)
    # Beyond a century it does not run out, as far as anyone planning a campaign is concerned (and a
    # date past the year 9999 cannot be written).
    after = None if average == 0 or budget_left / average > HORIZON_DAYS else round(budget_left / average, 1)
    today = datetime.fromtimestamp(now_ns / _NS, UTC).astimezone(when.zone(campaign.city)).date()
    return Forecast(
        campaign_id=campaign.id,
        days=days,
        payments=replayed,
        rewarded=sum(n for n, _ in per_day.values()),
        amount=total,
        per_day={d: (n, a) for d, (n, a) in per_day.items()},
        daily_average=average,
        budget_left=budget_left,
        runs_out_after_days=after,
        runs_out_on=None if after is None else (today + timedelta(days=after)).isoformat(),
    )


class Forecaster:
    """Reads the payments to replay and the customers they need."""

    def __init__(
        self,
        engine: Engine,
        customers: Customers,
        when: CalendarWhen,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self._customers = customers
        self._when = when
        self._clock_ns = clock_ns

    def forecast(self, campaign: Campaign, *, days: int, budget_left: int) -> Forecast:
        assert 0 < days <= DAYS_MAX
        now = self._clock_ns()
        known: dict[int, Customerish] = {}

        def customer(customer_id: int) -> Customerish:
            if customer_id not in known:
                found = self._customers.by_id(customer_id)
                known[customer_id] = Customerish(
                    tier=found.tier, opened_at_ns=found.created_at_ns, country=phones.region(found.msisdn)
                )
            return known[customer_id]

        moves = self._moves(campaign, since_ns=now - days * 86_400 * _NS)
        return replay(
            campaign,
            moves,
            days=days,
            budget_left=budget_left,
            now_ns=now,
            when=self._when,
            customer=customer,
        )

    def _moves(self, campaign: Campaign, *, since_ns: int) -> Iterator[Move]:
        kinds = [str(k) for k, op in _OPERATIONS.items() if op in campaign.rules.operations]
        after, seen = (since_ns, ""), 0
        while seen < MOVES_MAX:
            query = (
                select(
                    movements.c.id,
                    movements.c.kind,
                    movements.c.amount,
                    movements.c.details,
                    movements.c.payer_customer_id,
                    movements.c.created_at_ns,
                )
                .where(
                    movements.c.kind.in_(kinds),
                    movements.c.status == str(Status.COMPLETED),
                    movements.c.payer_customer_id.is_not(None),
                    (movements.c.created_at_ns > after[0])
                    | ((movements.c.created_at_ns == after[0]) & (movements.c.id > after[1])),
                )
                .order_by(movements.c.created_at_ns, movements.c.id)
                .limit(_PAGE)
            )
            with self._engine.connect() as connection:
                rows = connection.execute(query).all()
            for row in rows:
                fare = json.loads(row.details).get("fare") if row.kind == RIDE else None
                yield Move(
                    operation=_OPERATIONS[Kind(row.kind)],
                    amount=int(fare or row.amount),
                    customer_id=int(row.payer_customer_id),
                    at_ns=int(row.created_at_ns),
                )
            seen += len(rows)
            if len(rows) < _PAGE:
                return
            after = (int(rows[-1].created_at_ns), str(rows[-1].id))
