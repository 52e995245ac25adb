"""Why a payment earned what it earned: each campaign's verdict on it, from what the payment recorded
(the rewards in its chain, those the ledger refused, the reasons campaigns gave), with what a sentence
needs (the minimum amount, when the window opens next). The channels turn each into one short
translated sentence ("why no cashback").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sika.ledger import TransferResult
from sika.payments.movements import Code, Movement
from sika.promotions.eligibility import Reason, is_exclusive
from sika.promotions.errors import UnknownCampaign
from sika.promotions.meters import DEVICE_LEG, OWED_LEG
from sika.promotions.model import Campaign
from sika.promotions.store import CampaignStore
from sika.promotions.timing import CalendarWhen

__all__ = ["Verdict", "verdicts"]

VERDICTS_MAX = 8


@dataclass(frozen=True, slots=True)
class Verdict:
    campaign: Campaign
    reason: Reason | None  # None: rewarded
    amount: int = 0  # the reward paid, when rewarded (``params["withheld"]``: what it kept back)
    params: dict[str, Any] = field(default_factory=dict)


def verdicts(movement: Movement, store: CampaignStore, when: CalendarWhen) -> list[Verdict]:
    found: list[Verdict] = []
    for info in dict(movement.details.get("extras") or {}).values():
        campaign = _campaign(store, str(info.get("campaign", "")))
        if campaign is not None and "clawback" not in info:
            # What was paid; what was kept back for a reward owed (sika.promotions.debts) is said too.
            withheld = int(info.get("withheld") or 0)
            params = {"withheld": withheld} if withheld else {}
            found.append(Verdict(campaign, None, int(info.get("amount") or 0), params))
    rewarded = {verdict.campaign.id for verdict in found}  # a campaign says one thing of a payment
    for group, refusal in dict(movement.details.get("dropped") or {}).items():
        campaign = _campaign(store, "cp_" + group[1:]) if group.startswith("c") else None
        if campaign is not None and campaign.id not in rewarded:
            leg = str(refusal[2]) if len(refusal) > 2 else ""  # the refused leg (older rows name none)
            found.append(Verdict(campaign, _refused(int(refusal[0]), str(refusal[1]), leg)))
    at = datetime.fromtimestamp(movement.created_at_ns / 1e9, UTC)
    # "A better offer paid" only if one did: the one chosen may have been refused by the ledger since.
    better_paid = any(is_exclusive(v.campaign) for v in found if v.reason is None)
    for campaign_id, said in dict(movement.details.get("promotions") or {}).items():
        campaign = _campaign(store, campaign_id)
        if campaign is not None:
            reason = Reason(said)
            if reason is Reason.BETTER_OFFER and not better_paid:
                reason = Reason.CHOSEN_OFFER_REFUSED
            found.append(Verdict(campaign, reason, params=_params(campaign, reason, at, when)))
    return found[:VERDICTS_MAX]


def _campaign(store: CampaignStore, campaign_id: str) -> Campaign | None:
    try:
        return store.get(campaign_id)
    except UnknownCampaign:
        return None


def _refused(code: int, result: str, leg: str) -> Reason:
    if result == TransferResult.EXISTS_WITH_DIFFERENT_FIELDS:
        return Reason.ALREADY_REWARDED
    if code == Code.REWARD_METER:
        if leg.startswith(DEVICE_LEG):
            return Reason.DEVICE_CAP_REACHED
        if leg.startswith(OWED_LEG):
            return Reason.OWED_TAKEN
        return Reason.CAP_REACHED
    if result == TransferResult.EXCEEDS_BALANCE_MAX:
        return Reason.WALLET_FULL
    return Reason.BUDGET_EXHAUSTED


def _params(campaign: Campaign, reason: Reason, at: datetime, when: CalendarWhen) -> dict[str, Any]:
    if reason is Reason.AMOUNT_BELOW_MIN:
        return {"amount": campaign.rules.amount_min}
    if reason is Reason.OUTSIDE_WINDOW:
        change = when.next_change(campaign, at)
        if change is not None and change.opens:
            return {"at": change.at.astimezone(when.zone(campaign.city)).strftime("%H:%M")}
    return {}
