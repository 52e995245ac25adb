"""Whether a payment earns a campaign's reward, and if not, why: plain rules over plain facts.

:func:`judge` answers an :class:`Offer` (the reward in francs; 0 for a draw entry) or a
:class:`Reason`, the stable code the channels turn into one short sentence ("why no cashback").
Checks run from the most general to the most particular, so the reason given is the first that
stands in the way. Caps and the budget are not judged here: the ledger enforces them in the payment's
batch, and a reward it refuses is explained as ``budget_exhausted`` or ``cap_reached`` afterwards.
:func:`choose` applies the stacking policy to the offers of one payment.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sika.promotions.model import Campaign
from sika.promotions.rules import CampaignKind, Operation

__all__ = ["Customerish", "Facts", "Offer", "Reason", "When", "choose", "judge"]

_DAY_NS = 86_400 * 1_000_000_000


class Reason(enum.StrEnum):
    NOT_RUNNING = "not_running"
    CODE_REQUIRED = "code_required"
    AMOUNT_BELOW_MIN = "amount_below_min"
    TIER = "tier"
    NOT_NEW = "not_new"
    CITY = "city"
    NOT_RAMADAN = "not_ramadan"
    OUTSIDE_WINDOW = "outside_window"
    TOO_SMALL = "too_small"
    NOT_REFERRED = "not_referred"
    BETTER_OFFER = "better_offer"
    # The better offer was chosen, then refused by the ledger (another payment took its budget's last
    # francs or its cap's last count in the meantime): this one was not tried in its place. An offer
    # already refusable when the payment began is passed over instead (grants.Grants._payable).
    CHOSEN_OFFER_REFUSED = "chosen_offer_refused"
    # Found when the ledger refused the reward in the payment's batch:
    BUDGET_EXHAUSTED = "budget_exhausted"
    CAP_REACHED = "cap_reached"
    DEVICE_CAP_REACHED = "device_cap_reached"  # another wallet on the same phone had it
    OWED_TAKEN = "owed_taken"  # a payment at the same moment kept back the same owed francs
    WALLET_FULL = "wallet_full"
    ALREADY_REWARDED = "already_rewarded"


@dataclass(frozen=True, slots=True)
class Offer:
    campaign: Campaign
    amount: int  # francs the budget pays (0: an entry in a draw)


@dataclass(frozen=True, slots=True)
class Customerish:
    tier: int
    opened_at_ns: int
    country: str


class Facts:
    """What a payment is, as campaigns judge it. The customer is read only if a rule needs it."""

    __slots__ = (
        "_city",
        "_customer",
        "_read",
        "_read_city",
        "amount",
        "at",
        "customer_id",
        "device",
        "now_ns",
        "operation",
    )

    def __init__(
        self,
        *,
        operation: Operation,
        amount: int,
        customer_id: int,
        now_ns: int,
        at: datetime,
        read_customer: Callable[[], Customerish],
        read_city: Callable[[], str | None] = lambda: None,
        device: str | None = None,
    ) -> None:
        self.operation = operation
        self.amount = amount
        self.customer_id = customer_id
        self.now_ns = now_ns
        self.at = at
        self.device = device
        self._read, self._read_city = read_customer, read_city
        self._customer: Customerish | None = None
        self._city: tuple[str | None] | None = None

    @property
    def customer(self) -> Customerish:
        if self._customer is None:
            self._customer = self._read()
        return self._customer

    @property
    def city(self) -> str | None:
        """Where a ride happened; None for other payments."""
        if self._city is None:
            self._city = (self._read_city(),)
        return self._city[0]


class When:
    """The calendar questions a judgement asks (answered by sika.calendar in production)."""

    def in_windows(self, campaign: Campaign, at: datetime) -> bool:
        raise NotImplementedError

    def is_ramadan(self, campaign: Campaign, at: datetime) -> bool:
        raise NotImplementedError

    def country_of(self, city: str) -> str | None:
        raise NotImplementedError


def judge(campaign: Campaign, facts: Facts, when: When, *, claimed: Callable[[], bool]) -> Offer | Reason:
    """The campaign's offer for this payment, or the first reason it has none."""
    rules = campaign.rules
    if facts.operation not in rules.operations or not campaign.running(facts.now_ns):
        return Reason.NOT_RUNNING
    if facts.amount < rules.amount_min:
        return Reason.AMOUNT_BELOW_MIN
    if rules.tiers and facts.customer.tier not in rules.tiers:
        return Reason.TIER
    if (
        rules.new_customers_days is not None
        and facts.now_ns - facts.customer.opened_at_ns > rules.new_customers_days * _DAY_NS
    ):
        return Reason.NOT_NEW
    if rules.cities and not _in_cities(rules.cities, facts, when):
        return Reason.CITY
    if rules.ramadan_only and not when.is_ramadan(campaign, facts.at):
        return Reason.NOT_RAMADAN
    if rules.windows and not when.in_windows(campaign, facts.at):
        return Reason.OUTSIDE_WINDOW
    if rules.code_required and not claimed():
        return Reason.CODE_REQUIRED
    if campaign.kind in (CampaignKind.PRIZE_DRAW, CampaignKind.REFERRAL):
        return Offer(campaign, 0)  # an entry; a referral's amounts are fixed (see grants)
    amount = rules.reward(facts.amount)
    return Offer(campaign, amount) if amount > 0 else Reason.TOO_SMALL


def _in_cities(cities: tuple[str, ...], facts: Facts, when: When) -> bool:
    if facts.city is not None:
        return facts.city in cities
    # A payment away from rides has no city: the customer's number's country stands for it.
    return facts.customer.country in {when.country_of(city) for city in cities}


_ADDITIVE_KINDS = (CampaignKind.PRIZE_DRAW, CampaignKind.REFERRAL)


def is_exclusive(campaign: Campaign) -> bool:
    """Whether the campaign's reward excludes the others' (the best exclusive offer alone pays)."""
    return campaign.rules.stacking == "exclusive" and campaign.kind not in _ADDITIVE_KINDS


def preference(offer: Offer) -> tuple[int, int, str]:
    """The order of exclusive offers, the best last: the largest reward, the older campaign on a tie
    (then the id: one order, whoever sorts)."""
    return offer.amount, -offer.campaign.created_at_ns, offer.campaign.id


def choose(offers: list[Offer]) -> tuple[list[Offer], list[Offer]]:
    """(what pays, what lost to a better offer): every additive offer and draw entry and referral,
    plus the best exclusive one (the largest reward; the older campaign on a tie)."""
    exclusive = [o for o in offers if is_exclusive(o.campaign)]
    best = max(exclusive, key=preference, default=None)
    kept = [o for o in offers if o not in exclusive or o is best]
    return kept, [o for o in exclusive if o is not best]
