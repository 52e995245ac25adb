"""Fares: base + distance + time, a minimum, a night surcharge, rounded up to 25 XOF.

All in integers: distances in metres, durations in seconds, rates in XOF per km and per minute, the
surcharge in basis points. Rounding is always up to the policy's step (25 XOF by default: coins of 25
exist and drivers give change in them), so the rider never pays a fraction and the quote never
undercharges by rounding.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

__all__ = ["FarePolicy", "round_up"]

_BP = 10_000
_XOF_MAX = 10_000_000


def round_up(amount: int, step: int) -> int:
    assert step > 0 and amount >= 0
    return -(-amount // step) * step


class FarePolicy(BaseModel, frozen=True):
    base: int = Field(ge=0, le=_XOF_MAX, description="XOF when the trip starts")
    per_km: int = Field(ge=0, le=_XOF_MAX, description="XOF per kilometre")
    per_min: int = Field(ge=0, le=_XOF_MAX, description="XOF per minute")
    minimum: int = Field(ge=0, le=_XOF_MAX, description="the least a trip costs")
    night_surcharge_bp: int = Field(default=0, ge=0, le=_BP, description="basis points added at night")
    night_start_hour: int = Field(default=22, ge=0, le=23, description="local hour the night begins")
    night_end_hour: int = Field(default=5, ge=0, le=23, description="local hour the night ends")
    rounding: int = Field(default=25, gt=0, le=1_000, description="fares are rounded up to this step")
    # What the platform keeps of each fare; the driver earns the rest.
    commission_bp: int = Field(default=1_500, ge=0, le=_BP)
    # A rider who cancels this long after a driver was assigned pays this (0: never).
    late_cancel_after_s: int = Field(default=180, ge=0, le=3_600)
    late_cancel_fee: int = Field(default=200, ge=0, le=_XOF_MAX)

    @model_validator(mode="after")
    def _rounded_minimum(self) -> FarePolicy:
        if self.minimum % self.rounding:
            raise ValueError("the minimum fare is a multiple of the rounding step")
        return self

    def is_night(self, local_hour: int) -> bool:
        assert 0 <= local_hour <= 23
        if self.night_start_hour == self.night_end_hour:
            return False
        if self.night_start_hour < self.night_end_hour:
            return self.night_start_hour <= local_hour < self.night_end_hour
        return local_hour >= self.night_start_hour or local_hour < self.night_end_hour

    def price(self, distance_m: int, duration_s: int, local_hour: int) -> int:
        """The fare for a trip of this length and time starting at ``local_hour``."""
        assert distance_m >= 0 and duration_s >= 0
        # Per-km and per-minute parts in thousandths and sixtieths, rounded up together at the end.
        raw = self.base * 60_000 + self.per_km * distance_m * 60 + self.per_min * duration_s * 1_000
        fare = -(-raw // 60_000)
        if self.is_night(local_hour):
            fare = -(-fare * (_BP + self.night_surcharge_bp) // _BP)
        fare = max(fare, self.minimum)
        return round_up(fare, self.rounding)

    def commission(self, fare: int) -> int:
        """The platform's share, rounded down: the driver never gets less than the rest."""
        return fare * self.commission_bp // _BP
