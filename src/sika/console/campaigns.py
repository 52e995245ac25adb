"""What the console shows of campaigns: each one's money as the ledger holds it, its draws, the prizes
waiting for a winner's wallet and the latest rewards, read for a page (nothing here writes).

Campaigns are run through the API and ``sika campaign`` (create, fund, start, pause, end, draw); the
console lets operators follow them, and answer a customer who asks where a prize or a reward went.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from sika.bootstrap import Container
from sika.promotions.campaigns import CampaignView
from sika.promotions.draws import Draw
from sika.promotions.schema import prizes_waiting, rewards
from sika.wallet.schema import customers

__all__ = ["CAMPAIGNS_MAX", "LINES_MAX", "CampaignPage", "campaign_page", "campaign_rows"]

CAMPAIGNS_MAX = 100  # the list's newest; older ones are opened by id (/console/campaigns/{id})
LINES_MAX = 50  # draws, waiting prizes and rewards a campaign's page lists, the newest (oldest waiting)


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
    with container.engine.connect() as connection:
        waiting = [dict(row) for row in connection.execute(
            select(prizes_waiting.c.id, prizes_waiting.c.draw_id, prizes_waiting.c.amount,
                   prizes_waiting.c.attempts, prizes_waiting.c.next_try_ns, prizes_waiting.c.until_ns,
                   prizes_waiting.c.created_at_ns, customers.c.msisdn)
            .join(customers, customers.c.id == prizes_waiting.c.customer_id)
            .where(prizes_waiting.c.campaign_id == view.campaign.id, prizes_waiting.c.status == "waiting")
            .order_by(prizes_waiting.c.created_at_ns).limit(LINES_MAX)).mappings()]
        waiting_count, waiting_total = connection.execute(
            select(func.count(), func.coalesce(func.sum(prizes_waiting.c.amount), 0))
            .where(prizes_waiting.c.campaign_id == view.campaign.id, prizes_waiting.c.status == "waiting")
        ).one()
        latest = [dict(row) for row in connection.execute(
            select(rewards.c.movement_id, rewards.c.kind, rewards.c.amount, rewards.c.base_amount,
                   rewards.c.status, rewards.c.clawed_back, rewards.c.owed, rewards.c.created_at_ns,
                   customers.c.msisdn)
            .join(customers, customers.c.id == rewards.c.customer_id)
            .where(rewards.c.campaign_id == view.campaign.id)
            .order_by(rewards.c.id.desc()).limit(LINES_MAX)).mappings()]
    return CampaignPage(view=view, rules=view.campaign.rules.model_dump(mode="json", exclude_defaults=True),
                        draws=draws, waiting=waiting, waiting_count=int(waiting_count),
                        waiting_total=int(waiting_total),
                        latest=latest)
