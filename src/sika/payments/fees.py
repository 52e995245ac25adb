"""Fees and agent commissions, from a configurable schedule.

A schedule is a list of bands per operation; the first band whose ``up_to`` covers the amount applies:
``fee = flat + ceil(amount * percent_bp / 10_000)``, then bounded by ``min`` and ``max``. Integers
throughout (XOF has no minor unit); a fraction of a franc is always rounded up, in the platform's
favour, so that fee revenue never depends on float rounding.

Agents earn a commission on cash-in (paid by the platform, ``cash_in_commission_bp`` of the amount)
and a share of the cash-out fee (``cash_out_commission_share_bp`` of the fee). Override everything with
``SIKA_FEES`` (JSON of :class:`FeeSchedule`).
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, Field, model_validator

from sika.payments.limits import AMOUNT_MAX

__all__ = ["DEFAULT_FEES", "FeeBand", "FeeSchedule", "Operation"]

_BP = 10_000


class Operation(enum.StrEnum):
    TRANSFER = "transfer"              # wallet to wallet, same country
    CROSS_BORDER = "cross_border"      # wallet to a number in another XOF country
    VOUCHER = "voucher"                # to a number without a wallet, collected with a code
    CASH_OUT = "cash_out"
    CASH_IN = "cash_in"
    BILL = "bill"
    AIRTIME = "airtime"
    MERCHANT = "merchant"              # paid by the merchant, out of the amount


class FeeBand(BaseModel, frozen=True):
    up_to: int | None = Field(default=None, gt=0, le=AMOUNT_MAX, description="None: no upper bound")
    flat: int = Field(default=0, ge=0, le=AMOUNT_MAX)
    percent_bp: int = Field(default=0, ge=0, le=_BP, description="basis points: 100 = 1%")
    min: int = Field(default=0, ge=0, le=AMOUNT_MAX)
    max: int | None = Field(default=None, ge=0, le=AMOUNT_MAX)

    def fee(self, amount: int) -> int:
        fee = self.flat + -(-amount * self.percent_bp // _BP)
        fee = max(fee, self.min)
        return fee if self.max is None else min(fee, self.max)


class FeeSchedule(BaseModel, frozen=True):
    bands: dict[Operation, list[FeeBand]]
    cash_in_commission_bp: int = Field(default=30, ge=0, le=_BP)
    cash_out_commission_share_bp: int = Field(default=4_000, ge=0, le=_BP)

    @model_validator(mode="after")
    def _ordered(self) -> FeeSchedule:
        for operation, bands in self.bands.items():
            if not bands or bands[-1].up_to is not None:
                raise ValueError(f"{operation}: the last band has no upper bound (up_to: null)")
            bounds = [band.up_to for band in bands[:-1]]
            if any(b is None for b in bounds) or bounds != sorted(bounds):  # type: ignore[type-var]
                raise ValueError(f"{operation}: bands go up in order")
        return self

    def fee(self, operation: Operation, amount: int) -> int:
        assert amount > 0
        for band in self.bands.get(operation, ()):
            if band.up_to is None or amount <= band.up_to:
                fee = band.fee(amount)
                assert fee >= 0
                return fee
        return 0

    def cash_in_commission(self, amount: int) -> int:
        return amount * self.cash_in_commission_bp // _BP

    def cash_out_commission(self, fee: int) -> int:
        # Rounded down: the agent's share never exceeds the fee it comes from.
        return fee * self.cash_out_commission_share_bp // _BP


DEFAULT_FEES = FeeSchedule(
    bands={
        # Small transfers free, as in the market; then flat fees, then 0.5 %, capped.
        Operation.TRANSFER: [
            FeeBand(up_to=5_000),
            FeeBand(up_to=20_000, flat=50),
            FeeBand(up_to=50_000, flat=100),
            FeeBand(up_to=100_000, flat=200),
            FeeBand(percent_bp=50, max=5_000),
        ],
        Operation.CROSS_BORDER: [FeeBand(percent_bp=150, min=100, max=25_000)],
        Operation.VOUCHER: [FeeBand(up_to=5_000, flat=50), FeeBand(percent_bp=100, max=10_000)],
        Operation.CASH_OUT: [FeeBand(up_to=5_000, flat=50), FeeBand(percent_bp=100, max=10_000)],
        Operation.CASH_IN: [FeeBand()],
        Operation.BILL: [FeeBand(flat=100)],
        Operation.AIRTIME: [FeeBand()],
        Operation.MERCHANT: [FeeBand(percent_bp=100)],
    }
)
