"""Promotions: campaigns funded in the ledger (cashback, airtime bonuses, ride discounts, referrals,
prize draws anyone can re-run), rewards paid in the same ledger batch as the payments that earn them.

Start at :class:`Promotions`; docs/promotions.md tells the whole story.
"""

from sika.promotions.campaigns import CampaignView
from sika.promotions.draws import Draw
from sika.promotions.eligibility import Reason
from sika.promotions.errors import (
    CampaignStateError,
    CodeRefused,
    DrawStateError,
    InvalidCampaign,
    PromotionError,
    UnknownCampaign,
    UnknownDraw,
)
from sika.promotions.explain import Verdict
from sika.promotions.forecast import Forecast
from sika.promotions.model import BudgetState, Campaign, Sponsor, Status
from sika.promotions.rules import CampaignKind, Operation, Rules
from sika.promotions.service import EntryLine, Promotions, RewardLine

__all__ = [
    "BudgetState",
    "Campaign",
    "CampaignKind",
    "CampaignStateError",
    "CampaignView",
    "CodeRefused",
    "Draw",
    "DrawStateError",
    "EntryLine",
    "Forecast",
    "InvalidCampaign",
    "Operation",
    "PromotionError",
    "Promotions",
    "Reason",
    "RewardLine",
    "Rules",
    "Sponsor",
    "Status",
    "UnknownCampaign",
    "UnknownDraw",
    "Verdict",
]
