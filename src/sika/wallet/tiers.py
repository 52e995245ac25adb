"""KYC tiers and their limits, in XOF (no minor unit), configurable per tier.

Defaults follow BCEAO instruction 008-05-2015: an identified customer (tier 1, ID recorded by an
agent) holds at most 2,000,000 XOF and reloads at most 10,000,000 XOF a month. Tier 0 (self-registered
from a phone, no ID) gets low limits; tier 2 (fully verified: merchants, agents' own wallets) more.
Override with ``SIKA_TIERS``, JSON: ``{"0": {"balance_max": 200000, ...}, ...}``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

__all__ = ["DEFAULT_TIERS", "TIER_MAX", "TierLimits"]

TIER_MAX = 2
# A sanity bound on configured limits: sika.payments.limits.AMOUNT_MAX, restated because the wallet sits
# below payments and cannot import it (tests/unit/test_limits.py keeps the two equal).
_XOF_MAX = 10**12


class TierLimits(BaseModel, frozen=True):
    balance_max: int = Field(gt=0, le=_XOF_MAX, description="most a wallet may hold")
    transaction_max: int = Field(gt=0, le=_XOF_MAX, description="largest single movement")
    inflow_month_max: int = Field(gt=0, le=_XOF_MAX, description="most received in a calendar month")

    @model_validator(mode="after")
    def _coherent(self) -> TierLimits:
        if self.transaction_max > self.inflow_month_max:
            raise ValueError("transaction_max cannot exceed inflow_month_max")
        return self


DEFAULT_TIERS: dict[int, TierLimits] = {
    0: TierLimits(balance_max=200_000, transaction_max=100_000, inflow_month_max=500_000),
    1: TierLimits(balance_max=2_000_000, transaction_max=1_000_000, inflow_month_max=10_000_000),
    2: TierLimits(balance_max=10_000_000, transaction_max=5_000_000, inflow_month_max=50_000_000),
}
