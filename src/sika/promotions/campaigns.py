"""Campaigns over their life: create, fund, start, pause, end (sika.promotions.model has the states).

Every change of state is one conditional UPDATE (``WHERE state IN (...)``), so two operators, or an
operator and the closing job, cannot both apply one; money moves in the ledger by transfers whose ids
are derived from the campaign and the request, so a retried funding or return moves it once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from sika.promotions.budget import Budgets
from sika.promotions.errors import CampaignStateError, InvalidCampaign
from sika.promotions.model import BudgetState, Campaign, Sponsor, State, Status
from sika.promotions.rules import AMOUNT_MAX, CampaignKind, parse_rules
from sika.promotions.schema import entries, rewards
from sika.promotions.store import PAGE_MAX, CampaignStore, new_campaign_id
from sika.promotions.timing import CalendarWhen, instant_ns

__all__ = ["CampaignView", "Campaigns"]

log = logging.getLogger(__name__)

NAME_CHARS_MAX = 80
CLOSING_SWEEP_MAX = 100
_NS = 1_000_000_000
# Ended campaigns are swept for money a voided reservation freed after the end for this long.
_SWEEP_AFTER_END_NS = 30 * 86_400 * _NS


@dataclass(frozen=True, slots=True)
class CampaignView:
    """A campaign as operators see it: its fields, where it stands, its money."""

    campaign: Campaign
    status: Status
    money: BudgetState
    rewards: int
    entries: int


class Campaigns:
    def __init__(
        self,
        engine: Engine,
        store: CampaignStore,
        budgets: Budgets,
        when: CalendarWhen,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self.store = store
        self.budgets = budgets
        self._when = when
        self._clock_ns = clock_ns

    def create(
        self,
        *,
        name: str,
        kind: str,
        budget: int,
        rules: Any,
        starts_at: str | None = None,
        ends_at: str | None = None,
        sponsor: str = "platform",
        city: str = "lome",
    ) -> Campaign:
        """A draft campaign with its budget account (empty until funded or started)."""
        name = " ".join(str(name).split())
        if not 0 < len(name) <= NAME_CHARS_MAX or not name.isprintable():
            raise InvalidCampaign(f"name: 1 to {NAME_CHARS_MAX} printable characters")
        try:
            campaign_kind = CampaignKind(kind)
        except ValueError:
            raise InvalidCampaign(f"kind: one of {', '.join(k.value for k in CampaignKind)}") from None
        if isinstance(budget, bool) or not isinstance(budget, int) or not 0 <= budget <= AMOUNT_MAX:
            raise InvalidCampaign("budget: a whole number of francs, 0 or more")
        if city not in self._when.calendar.places:
            raise InvalidCampaign(f"city: one of {', '.join(self._when.calendar.places)}")
        parsed = parse_rules(campaign_kind, rules)
        if parsed.cities and not set(parsed.cities) <= set(self._when.calendar.places):
            raise InvalidCampaign(f"rules.cities: among {', '.join(self._when.calendar.places)}")
        zone = self._when.zone(city)
        now = self._clock_ns()
        starts = now if starts_at is None else instant_ns(starts_at, zone)
        ends = None if ends_at is None else instant_ns(ends_at, zone)
        if ends is not None and ends <= starts:
            raise InvalidCampaign("ends_at: after starts_at")
        if sum(parsed.prizes) > budget and campaign_kind is CampaignKind.PRIZE_DRAW:
            raise InvalidCampaign("budget: at least the sum of the prizes")
        campaign_id = new_campaign_id()
        campaign = Campaign(
            id=campaign_id,
            name=name,
            kind=campaign_kind,
            state=State.DRAFT,
            sponsor=Sponsor.parse(sponsor),
            city=city,
            planned=budget,
            account_id=self.budgets.open_account(campaign_id),
            starts_at_ns=starts,
            ends_at_ns=ends,
            rules=parsed,
            created_at_ns=now,
            updated_at_ns=now,
        )
        self.budgets.sponsor_account(campaign.sponsor)  # an unknown merchant fails here, not at start
        self.store.insert(campaign)
        return campaign

    def fund(self, campaign_id: str, amount: int, *, key: str, source: str | None = None) -> CampaignView:
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= AMOUNT_MAX:
            raise InvalidCampaign("amount: a positive whole number of francs")
        campaign = self.store.get(campaign_id)
        self.budgets.fund(campaign, amount, key=key, source=None if source is None else Sponsor.parse(source))
        return self.view(campaign_id)

    def start(self, campaign_id: str) -> CampaignView:
        """Run (or resume) the campaign, topping its budget up to the planned figure from the sponsor."""
        campaign = self.store.get(campaign_id)
        now = self._clock_ns()
        if campaign.state is State.LIVE and campaign.status(now) is not Status.ENDED:
            return self.view(campaign_id)
        if campaign.state not in (State.DRAFT, State.PAUSED) or campaign.status(now) is Status.ENDED:
            raise CampaignStateError(f"a campaign that is {campaign.status(now)} cannot start")
        if campaign.ends_at_ns is not None and campaign.ends_at_ns <= now:
            raise CampaignStateError("this campaign's end is past: it cannot start")
        funded = self.budgets.state(campaign, now).funded
        if funded < campaign.planned:
            self.budgets.fund(campaign, campaign.planned - funded, key="start")
        if not self.store.set_state(campaign_id, before=(State.DRAFT, State.PAUSED), after=State.LIVE):
            return self._refused(campaign_id, "start")
        return self.view(campaign_id)

    def pause(self, campaign_id: str) -> CampaignView:
        if not self.store.set_state(campaign_id, before=(State.LIVE,), after=State.PAUSED):
            current = self.store.get(campaign_id)
            if current.state is State.PAUSED:
                return self.view(campaign_id)
            return self._refused(campaign_id, "pause")
        return self.view(campaign_id)

    def end(self, campaign_id: str) -> CampaignView:
        """End the campaign now and return its unspent budget to the sponsor (again later for money a
        reservation frees once it is voided: the closing job sweeps)."""
        campaign = self.store.get(campaign_id)
        self.store.set_state(campaign_id, before=(State.DRAFT, State.LIVE, State.PAUSED), after=State.ENDED)
        self.budgets.give_back(self.store.get(campaign.id))
        return self.view(campaign_id)

    def close_due(self, limit: int = CLOSING_SWEEP_MAX) -> int:
        """The closing job: end live campaigns whose end has passed; return what ended ones got back."""
        now = self._clock_ns()
        handled = 0
        for campaign in self.store.list(limit=min(limit, PAGE_MAX), states=(State.LIVE, State.ENDED)):
            if campaign.state is State.LIVE and campaign.status(now) is Status.ENDED:
                self.end(campaign.id)
                handled += 1
            elif campaign.state is State.ENDED and now - campaign.updated_at_ns < _SWEEP_AFTER_END_NS:
                try:
                    handled += int(self.budgets.give_back(campaign) > 0)
                except CampaignStateError:  # (its returns ran out: logged, and the others still swept)
                    log.exception("campaign %s: what came back could not be returned", campaign.id)
        return handled

    def view(self, campaign_id: str) -> CampaignView:
        campaign = self.store.get(campaign_id)
        now = self._clock_ns()
        with self._engine.connect() as connection:
            count = connection.execute(
                select(func.count()).select_from(rewards).where(rewards.c.campaign_id == campaign.id)
            ).scalar_one()
            entered = connection.execute(
                select(func.count()).select_from(entries).where(entries.c.campaign_id == campaign.id)
            ).scalar_one()
        return CampaignView(
            campaign=campaign,
            status=campaign.status(now),
            money=self.budgets.state(campaign, now),
            rewards=int(count),
            entries=int(entered),
        )

    def list(self, limit: int = 50) -> list[CampaignView]:
        return [self.view(c.id) for c in self.store.list(limit=limit)]

    def _refused(self, campaign_id: str, action: str) -> CampaignView:
        current = self.store.get(campaign_id)
        raise CampaignStateError(f"a campaign that is {current.status(self._clock_ns())} cannot {action}")
