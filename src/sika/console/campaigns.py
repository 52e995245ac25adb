"""What the console shows of campaigns: each one's money as the ledger holds it, how fast it burned,
a forecast of how long what is left lasts, its draws, the prizes waiting for a winner's wallet and the
latest rewards, read for a page (nothing here writes).

Campaigns are created and started through the API and ``sika campaign``; from the console an
operator pauses or ends one, an approver commits and reveals its draws (sika.console.pages.campaigns),
funding is proposed and approved (maker-checker, sika.console.actions), and anyone answers a customer
who asks where a prize or a reward went.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from sika.bootstrap import Container
from sika.promotions.campaigns import CampaignView
from sika.promotions.draws import Draw
from sika.promotions.forecast import Forecast
from sika.promotions.schema import prizes_waiting, rewards
from sika.wallet.schema import customers

__all__ = ["CAMPAIGNS_MAX", "FORECAST_DAYS", "LINES_MAX", "CampaignPage", "burn_series", "campaign_page",
           "campaign_rows", "forecast"]

CAMPAIGNS_MAX = 100  # the list's newest; older ones are opened by id (/console/campaigns/{id})
LINES_MAX = 50  # draws, waiting prizes and rewards a campaign's page lists, the newest (oldest waiting)
POINTS_MAX = 240  # the burn chart's points at most: hours over ten days, days beyond
FORECAST_DAYS = (7, 14, 30)  # the payments a forecast replays (sika.promotions.forecast)
FORECAST_KEPT_S = 300
FORECASTS_KEPT_MAX = 64
_NS = 1_000_000_000
_HOUR_NS = 3_600 * _NS
_DAY_NS = 24 * _HOUR_NS
_forecasts: dict[tuple[str, int, int], tuple[int, Forecast]] = {}  # (campaign, days, left) -> (until, it)
_forecasts_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class CampaignPage:
    view: CampaignView
    rules: dict[str, Any]  # what was set (a rule left at its default is not listed)
    draws: list[Draw]
    waiting: list[dict[str, Any]]  # prizes waiting for room in their winner's wallet, oldest first
    waiting_count: int  # all of them (at most LINES_MAX are listed)
    waiting_total: int  # what all of them come to
    latest: list[dict[str, Any]]  # rewards, newest first

    @property
    def spent_bp(self) -> int:
        """Spent and reserved, in basis points of the budget (the bar under the figures)."""
        money = self.view.money
        return min(10_000, (money.spent + money.reserved) * 10_000 // money.budget) if money.budget else 0


def campaign_rows(container: Container) -> list[CampaignView]:
    """The newest campaigns, each with its money and counts."""
    return container.promotions.campaigns.list(limit=CAMPAIGNS_MAX)


def campaign_page(container: Container, campaign_id: str) -> CampaignPage:
    """One campaign (``unknown_campaign`` when there is none)."""
    promotions = container.promotions
    view = promotions.campaigns.view(campaign_id)
    draws = promotions.draws.of_campaign(view.campaign.id, limit=LINES_MAX)
    here = (prizes_waiting.c.campaign_id == view.campaign.id, prizes_waiting.c.status == "waiting")
    with container.engine.connect() as connection:
        waiting = [dict(row) for row in connection.execute(
            select(prizes_waiting.c.id, prizes_waiting.c.draw_id, prizes_waiting.c.amount,
                   prizes_waiting.c.attempts, prizes_waiting.c.next_try_ns, prizes_waiting.c.until_ns,
                   prizes_waiting.c.created_at_ns, customers.c.msisdn)
            .join(customers, customers.c.id == prizes_waiting.c.customer_id)
            .where(*here).order_by(prizes_waiting.c.created_at_ns).limit(LINES_MAX)).mappings()]
        waiting_count, waiting_total = connection.execute(
            select(func.count(), func.coalesce(func.sum(prizes_waiting.c.amount), 0)).where(*here)).one()
        latest = [dict(row) for row in connection.execute(
            select(rewards.c.movement_id, rewards.c.kind, rewards.c.amount, rewards.c.base_amount,
                   rewards.c.status, rewards.c.clawed_back, rewards.c.owed, rewards.c.created_at_ns,
                   customers.c.msisdn)
            .join(customers, customers.c.id == rewards.c.customer_id)
            .where(rewards.c.campaign_id == view.campaign.id)
            .order_by(rewards.c.id.desc()).limit(LINES_MAX)).mappings()]
    return CampaignPage(view=view, rules=view.campaign.rules.model_dump(mode="json", exclude_defaults=True),
                        draws=draws, waiting=waiting, waiting_count=int(waiting_count),
                        waiting_total=int(waiting_total), latest=latest)


def burn_series(container: Container, view: CampaignView, now_ns: int) -> dict[str, list[Any]]:
    """The budget's burn for the chart: what rewards paid out of the budget (less what was kept back for
    an earlier reward owed; refunds' clawbacks are not subtracted here) as a running total at the start
    of each step since the campaign's start (an hour, a day beyond ten days, wider still past
    ``POINTS_MAX`` days), then at the last moment with every reward (a draw revealed after the end, a
    prize paid once a wallet had room); ``t`` in Unix seconds (to the millisecond), francs; and what the
    sponsor put in, as a line."""
    campaign = view.campaign
    start = campaign.starts_at_ns
    end = min(now_ns, campaign.ends_at_ns) if campaign.ends_at_ns else now_ns
    if end <= start:
        return {"t": [], "spent": [], "budget": []}
    step = _HOUR_NS if end - start <= 10 * _DAY_NS else _DAY_NS
    step = max(step, -(-(end - start) // POINTS_MAX))
    bucket = (rewards.c.created_at_ns - start) // step
    paid = func.sum(rewards.c.amount - rewards.c.withheld)
    with container.engine.connect() as connection:
        sums = {int(k): int(v or 0) for k, v in connection.execute(
            select(bucket, paid).where(rewards.c.campaign_id == campaign.id, rewards.c.created_at_ns >= start)
            .group_by(bucket)).all()}
        latest = connection.execute(select(func.max(rewards.c.created_at_ns))
                                    .where(rewards.c.campaign_id == campaign.id)).scalar()
    points = -(-(end - start) // step)
    running, spent = 0, []
    for k in range(points):
        spent.append(running)  # at the step's start
        running += sums.get(k, 0)
    spent.append(sum(sums.values()))  # now, every reward counted (those after the end too)
    last = max(end, int(latest or 0))  # rewards after the end: up to the last of them
    times = [round((start + k * step) / _NS, 3) for k in range(points)] + [round(last / _NS, 3)]
    put_in = max(view.money.funded, view.money.budget)
    return {"t": times, "spent": spent, "budget": [put_in] * (points + 1)}


def forecast(container: Container, view: CampaignView, days: int, now_ns: int) -> Forecast:
    """The last ``days`` days' payments replayed through the campaign's rules (``sika campaign forecast``).
    A replay reads up to half a million payments: one is kept ``FORECAST_KEPT_S`` for the campaign,
    the days and what the budget has left, so that a page reloaded or a link clicked twice replays once."""
    assert days in FORECAST_DAYS, days
    key = (view.campaign.id, days, view.money.remaining)
    with _forecasts_lock:
        kept = _forecasts.get(key)
        if kept is not None and kept[0] > now_ns:
            return kept[1]
    made = container.promotions.forecaster.forecast(view.campaign, days=days,
                                                    budget_left=view.money.remaining)
    with _forecasts_lock:
        for old in [k for k, (until, _) in _forecasts.items() if until <= now_ns]:
            del _forecasts[old]
        if len(_forecasts) >= FORECASTS_KEPT_MAX:
            _forecasts.pop(next(iter(_forecasts)))
        _forecasts[key] = (now_ns + FORECAST_KEPT_S * _NS, made)
    return made
