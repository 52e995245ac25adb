"""Promotions' errors, each with a stable ``code`` (problem+json on HTTP, one line in the CLI)."""

from __future__ import annotations

from sika.errors import SikaError

__all__ = [
    "CampaignStateError",
    "CodeRefused",
    "DrawStateError",
    "InvalidCampaign",
    "PromotionError",
    "UnknownCampaign",
    "UnknownDraw",
]


class PromotionError(SikaError):
    code = "promotion_error"


class InvalidCampaign(PromotionError):
    """A campaign's fields or rules do not make sense (says which and why)."""

    code = "invalid_campaign"


class UnknownCampaign(PromotionError):
    code = "unknown_campaign"


class CampaignStateError(PromotionError):
    """The campaign's state forbids this (start an ended campaign, fund an ended one, …)."""

    code = "campaign_state"


class UnknownDraw(PromotionError):
    code = "unknown_draw"


class DrawStateError(PromotionError):
    code = "draw_state"


class CodeRefused(PromotionError):
    """A promotion code (or a referral) that cannot be used: unknown, used, expired, not for you."""

    code = "invalid_code"
