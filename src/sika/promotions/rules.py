"""A campaign's rules: what it rewards, how much, for whom and when. Plain data, validated once.

``rules`` is the JSON a campaign is created with (docs/promotions.md lists every field)::

    {"percent": 5, "reward_max": 500, "operations": ["transfer", "merchant"],
     "per_customer_max": 2000, "windows": [{"start": "maghrib", "end": "isha+15min"}],
     "ramadan_only": true, "stacking": "exclusive"}

Each kind needs its own fields: a cashback and an airtime bonus a ``percent`` and a ``reward_max``, a
ride discount a ``percent`` or a fixed ``amount``, a referral the amounts for ``referrer`` and
``referee``, a prize draw its ``prizes``. Money is in whole francs; percents have at most two
decimals (they become basis points, so no float touches an amount).
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sika.calendar import Window
from sika.calendar.windows import WINDOWS_MAX
from sika.payments.limits import AMOUNT_MAX
from sika.promotions.errors import InvalidCampaign

__all__ = [
    "AMOUNT_MAX",
    "PRIZES_MAX",
    "CampaignKind",
    "Operation",
    "Rules",
    "parse_rules",
]

PRIZES_MAX = 100
CITIES_MAX = 16
_BP = 10_000  # basis points in a whole


class CampaignKind(enum.StrEnum):
    CASHBACK = "cashback"
    AIRTIME_BONUS = "airtime_bonus"
    RIDE_DISCOUNT = "ride_discount"
    REFERRAL = "referral"
    PRIZE_DRAW = "prize_draw"


class Operation(enum.StrEnum):
    """What a customer does that a campaign can reward."""

    TRANSFER = "transfer"
    AIRTIME = "airtime"
    BILL = "bill"
    MERCHANT = "merchant"
    RIDE = "ride"


_Money = Field(default=None, ge=1, le=AMOUNT_MAX)
_Count = Field(default=None, ge=1, le=1_000_000)


class Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operations: tuple[Operation, ...] = Field(default=(), max_length=len(Operation))
    # The reward: a percent of the amount (capped by reward_max), or a fixed amount.
    percent: float | None = Field(default=None, gt=0, le=100)
    reward_max: int | None = _Money
    amount: int | None = _Money
    referrer_amount: int | None = Field(default=None, ge=0, le=AMOUNT_MAX)
    referee_amount: int | None = Field(default=None, ge=0, le=AMOUNT_MAX)
    prizes: tuple[int, ...] = Field(default=(), max_length=PRIZES_MAX)
    # Who and what qualifies.
    amount_min: int = Field(default=0, ge=0, le=AMOUNT_MAX)
    cities: tuple[str, ...] = Field(default=(), max_length=CITIES_MAX)
    tiers: tuple[int, ...] = Field(default=(), max_length=3)
    new_customers_days: int | None = Field(default=None, ge=1, le=3_650)
    code_required: bool = False
    referral_days: int = Field(default=30, ge=1, le=365)
    # Caps: per customer (francs, rewards), per customer and local day (rewards), for the whole
    # campaign per local day (francs), per device where the channel knows one (rewards).
    per_customer_max: int | None = _Money
    per_customer_count_max: int | None = _Count
    per_customer_day_max: int | None = _Count
    per_day_max: int | None = _Money
    per_device_max: int | None = _Count
    # When: windows in the campaign's city (relative to prayers or fixed hours), Ramadan days only.
    windows: tuple[Window, ...] = Field(default=(), max_length=WINDOWS_MAX)
    ramadan_only: bool = False
    # exclusive: of the exclusive offers a payment qualifies for, the best one pays; additive: on top.
    stacking: Literal["exclusive", "additive"] = "exclusive"

    @property
    def basis_points(self) -> int:
        return 0 if self.percent is None else round(self.percent * 100)

    def reward(self, amount: int) -> int:
        """The reward on ``amount`` francs (a percent rounded down and capped, or the fixed amount)."""
        if self.percent is not None:
            reward = amount * self.basis_points // _BP
            return reward if self.reward_max is None else min(reward, self.reward_max)
        if self.amount is not None:
            return min(self.amount, amount)
        return 0


_NEEDS: dict[CampaignKind, tuple[str, ...]] = {
    CampaignKind.CASHBACK: ("percent", "reward_max", "operations"),
    CampaignKind.AIRTIME_BONUS: ("percent", "reward_max"),
    CampaignKind.RIDE_DISCOUNT: (),
    CampaignKind.REFERRAL: (),
    CampaignKind.PRIZE_DRAW: ("prizes", "operations"),
}
_ONLY: dict[CampaignKind, tuple[Operation, ...]] = {
    CampaignKind.AIRTIME_BONUS: (Operation.AIRTIME,),
    CampaignKind.RIDE_DISCOUNT: (Operation.RIDE,),
}


def parse_rules(kind: CampaignKind, raw: Any) -> Rules:
    """Validated rules for a campaign of ``kind``, or :class:`InvalidCampaign` saying what is wrong."""
    if not isinstance(raw, dict):
        raise InvalidCampaign('rules: an object, e.g. {"percent": 5, "reward_max": 500, ...}')
    if kind in _ONLY and "operations" not in raw:
        raw = {**raw, "operations": [str(o) for o in _ONLY[kind]]}
    if kind is CampaignKind.REFERRAL and "operations" not in raw:
        raw = {**raw, "operations": [str(o) for o in Operation]}
    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "rules"
        raise InvalidCampaign(f"rules.{where}: {error['msg']}") from exc
    _check(kind, rules)
    return rules


def _check(kind: CampaignKind, rules: Rules) -> None:
    missing = [name for name in _NEEDS[kind] if not getattr(rules, name)]
    if missing:
        raise InvalidCampaign(f"a {kind} campaign needs rules.{missing[0]}")
    if rules.percent is not None and rules.basis_points / 100 != rules.percent:
        raise InvalidCampaign("rules.percent: at most two decimals (5, 2.5, 0.75)")
    if len(set(rules.operations)) != len(rules.operations):
        raise InvalidCampaign("rules.operations: each operation once")
    if kind in _ONLY and set(rules.operations) != set(_ONLY[kind]):
        raise InvalidCampaign(f"a {kind} campaign rewards {_ONLY[kind][0]} only")
    if kind is CampaignKind.RIDE_DISCOUNT and (rules.percent is None) == (rules.amount is None):
        raise InvalidCampaign("a ride_discount campaign has rules.percent or rules.amount (one of them)")
    if kind is CampaignKind.REFERRAL and not (rules.referrer_amount or rules.referee_amount):
        raise InvalidCampaign("a referral campaign needs rules.referrer_amount or rules.referee_amount")
    if any(prize < 1 or prize > AMOUNT_MAX for prize in rules.prizes):
        raise InvalidCampaign("rules.prizes: amounts of at least 1 franc")
    if rules.prizes and kind is not CampaignKind.PRIZE_DRAW:
        raise InvalidCampaign("rules.prizes: only a prize_draw campaign has prizes")
    if any(tier not in (0, 1, 2) for tier in rules.tiers):
        raise InvalidCampaign("rules.tiers: KYC tiers are 0, 1 and 2")
