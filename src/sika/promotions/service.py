"""Promotions, wired: campaigns and their budgets, the payments hook that grants rewards, codes,
referrals, draws, forecasts, and what a customer sees (offers, rewards, entries, "why").

Built once per process by ``sika.bootstrap``; building it registers its hook with the movement runner
(:class:`sika.payments.Movements`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from sika.calendar import Calendar
from sika.ledger import Ledger
from sika.payments import Merchants, Movement, Movements
from sika.promotions.budget import Budgets
from sika.promotions.campaigns import Campaigns
from sika.promotions.codes import Codes
from sika.promotions.draws import Draws
from sika.promotions.errors import InvalidCampaign
from sika.promotions.explain import Verdict, verdicts
from sika.promotions.forecast import DAYS_MAX, Forecast, Forecaster
from sika.promotions.grants import Grants
from sika.promotions.model import Campaign
from sika.promotions.prizes import Prizes
from sika.promotions.referrals import Referrals
from sika.promotions.schema import campaigns, draws, entries, rewards
from sika.promotions.store import CampaignStore
from sika.promotions.timing import CalendarWhen
from sika.wallet import Customer, Customers

__all__ = ["EntryLine", "Promotions", "RewardLine"]

LINES_MAX = 50


@dataclass(frozen=True, slots=True)
class RewardLine:
    campaign_id: str
    campaign: str
    kind: str
    amount: int  # earned: ``withheld`` of it was kept back for an earlier reward owed, the rest paid
    status: str  # paid | clawed_back | owed | settled (owed, then kept back from later rewards)
    clawed_back: int
    owed: int  # still owed
    collected: int  # of what was owed, what later rewards kept back
    withheld: int
    movement_id: str
    at_ns: int


@dataclass(frozen=True, slots=True)
class EntryLine:
    id: str
    campaign_id: str
    campaign: str
    draw_id: str | None
    won: bool
    at_ns: int
    prize_waiting: bool = False  # won, and the prize waits for room in the wallet (sika.promotions.prizes)


class Promotions:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        customers: Customers,
        movements: Movements,
        *,
        merchants: Merchants,
        calendar: Calendar,
        code_key: bytes,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self._clock_ns = clock_ns
        self.store = CampaignStore(engine, clock_ns=clock_ns)
        self.when = CalendarWhen(calendar)
        self.budgets = Budgets(engine, ledger, movements.accounts, merchants)
        self.campaigns = Campaigns(engine, self.store, self.budgets, self.when, clock_ns=clock_ns)
        self.grants = Grants(
            engine, ledger, self.store, self.when, customers=customers, system=movements.accounts
        )
        prizes = Prizes(engine, ledger, self.store, budgets=self.budgets, movements=movements,
                        customers=customers, clock_ns=clock_ns)
        self.draws = Draws(engine, ledger, self.store, movements, customers, prizes=prizes, clock_ns=clock_ns)
        self.codes = Codes(engine, self.store, code_key, clock_ns=clock_ns)
        self.referrals = Referrals(engine, self.store, customers, movements, clock_ns=clock_ns)
        self.forecaster = Forecaster(engine, customers, self.when, clock_ns=clock_ns)
        movements.hooks.append(self.grants)

    def offers(self) -> list[Campaign]:
        """The campaigns running now, oldest first."""
        now = self._clock_ns()
        return sorted((c for c in self.store.live() if c.running(now)), key=lambda c: c.created_at_ns)

    def redeem(self, customer: Customer, typed: str) -> Campaign:
        """A code typed by a customer: a promotion code, or the number of who referred them."""
        compact = typed.strip().replace(" ", "").replace("-", "").replace(".", "")
        if compact.lstrip("+").isdigit():
            return self.referrals.refer(customer, compact)
        return self.codes.redeem(customer.id, typed)

    def why(self, movement: Movement) -> list[Verdict]:
        return verdicts(movement, self.store, self.when)

    def forecast(self, campaign_id: str, days: int = 7) -> Forecast:
        if not 0 < days <= DAYS_MAX:
            raise InvalidCampaign(f"days: 1 to {DAYS_MAX}")
        view = self.campaigns.view(campaign_id)
        return self.forecaster.forecast(view.campaign, days=days, budget_left=view.money.remaining)

    def rewards_of(self, customer_id: int, limit: int = 20) -> list[RewardLine]:
        assert 0 < limit <= LINES_MAX
        query = (
            select(rewards, campaigns.c.name)
            .join(campaigns, campaigns.c.id == rewards.c.campaign_id)
            .where(rewards.c.customer_id == customer_id)
            .order_by(rewards.c.created_at_ns.desc())
            .limit(limit)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            RewardLine(
                campaign_id=r["campaign_id"],
                campaign=r["name"],
                kind=r["kind"],
                amount=int(r["amount"]),
                status=r["status"],
                clawed_back=int(r["clawed_back"]),
                owed=int(r["owed"]),
                collected=int(r["collected"]),
                withheld=int(r["withheld"]),
                movement_id=r["movement_id"],
                at_ns=int(r["created_at_ns"]),
            )
            for r in rows
        ]

    def entries_of(self, customer_id: int, limit: int = 20) -> list[EntryLine]:
        assert 0 < limit <= LINES_MAX
        query = (
            select(entries, campaigns.c.name)
            .join(campaigns, campaigns.c.id == entries.c.campaign_id)
            .where(entries.c.customer_id == customer_id)
            .order_by(entries.c.created_at_ns.desc())
            .limit(limit)
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
            draw_ids = {r["draw_id"] for r in rows if r["draw_id"]}
            won: set[str] = set()
            for draw_id in draw_ids:
                if (
                    connection.execute(select(draws.c.status).where(draws.c.id == draw_id)).scalar()
                    == "revealed"
                ):
                    won.update(self.draws.get(draw_id).winners or ())
        prizes = self.draws.prizes.waiting_for(customer_id, LINES_MAX) if won else []
        waiting = {str(prize["entry_id"]) for prize in prizes}
        return [
            EntryLine(
                id=r["id"],
                campaign_id=r["campaign_id"],
                campaign=r["name"],
                draw_id=r["draw_id"],
                won=r["id"] in won,
                at_ns=int(r["created_at_ns"]),
                prize_waiting=r["id"] in waiting,
            )
            for r in rows
        ]
