"""Campaigns: who pays, with what budget, when, and where their life stands.

A campaign's life::

    draft ──start──▶ scheduled ──(starts_at)──▶ active ──pause──▶ paused ──start──▶ scheduled|active
      │                  │                        │                  │
      └──────────────────┴──────end, or ends_at passed (the closing job)─┴──────▶ ended

- **draft**: created, not running; its budget is the planned figure until money is put in.
- **scheduled**: started before ``starts_at``; nothing is rewarded yet.
- **active**: started and between ``starts_at`` and ``ends_at``: payments are rewarded.
- **paused**: stopped by an operator; ``start`` resumes it.
- **ended**: by ``end`` or once ``ends_at`` has passed. What the budget has not spent or reserved goes
  back to the sponsor (again for anything a voided reservation frees later); nothing restarts it.

Stored are draft, live, paused and ended; scheduled and active are a live campaign before and after
``starts_at`` (and a live one past ``ends_at`` already shows as ended, until the closing job returns
its money). Starting tops the budget up to the planned figure from the sponsor, so a running
campaign is always backed by money in its ledger account.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sika.promotions.errors import InvalidCampaign
from sika.promotions.rules import CampaignKind, Rules

__all__ = ["BudgetState", "Campaign", "Sponsor", "State", "Status"]


class State(enum.StrEnum):
    """What is stored."""

    DRAFT = "draft"
    LIVE = "live"
    PAUSED = "paused"
    ENDED = "ended"


class Status(enum.StrEnum):
    """What people see (the module's docstring has the life of a campaign)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Sponsor:
    """Who pays for a campaign: ``platform``, ``merchant:<id>`` or ``operator:<provider>``."""

    kind: str
    ref: str = ""

    @classmethod
    def parse(cls, text: str) -> Sponsor:
        kind, _, ref = text.strip().partition(":")
        if kind == "platform" and not ref:
            return cls("platform")
        if kind == "merchant" and ref.isdigit() and 0 < len(ref) <= 18:
            return cls("merchant", ref)
        if kind == "operator" and ref.isascii() and ref.replace("_", "").isalnum() and len(ref) <= 32:
            return cls("operator", ref)
        raise InvalidCampaign(f"sponsor: 'platform', 'merchant:<id>' or 'operator:<name>', not {text[:40]!r}")

    def __str__(self) -> str:
        return self.kind if not self.ref else f"{self.kind}:{self.ref}"


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    kind: CampaignKind
    state: State
    sponsor: Sponsor
    city: str
    planned: int  # the budget it was created with; starting tops the account up to it
    account_id: int  # the budget: a ledger account that may not go below zero
    starts_at_ns: int
    ends_at_ns: int | None
    rules: Rules
    created_at_ns: int
    updated_at_ns: int

    def status(self, now_ns: int) -> Status:
        if self.state is State.LIVE:
            if self.ends_at_ns is not None and now_ns >= self.ends_at_ns:
                return Status.ENDED
            return Status.ACTIVE if now_ns >= self.starts_at_ns else Status.SCHEDULED
        return Status(str(self.state))

    def running(self, now_ns: int) -> bool:
        return self.status(now_ns) is Status.ACTIVE


@dataclass(frozen=True, slots=True)
class BudgetState:
    """Where a campaign's money stands; always ``spent + reserved + remaining == budget``.

    ``budget`` is what the sponsor put in less what went back (``funded - returned``), or the planned
    figure while a draft has less; ``spent`` what rewards and prizes paid less what refunds clawed
    back; ``reserved`` what rewards of payments still in flight hold; ``remaining`` what is left.
    """

    budget: int
    spent: int
    reserved: int
    remaining: int
    funded: int
    returned: int
    clawed_back: int

    def __post_init__(self) -> None:
        assert (
            min(self.spent, self.reserved, self.remaining, self.funded, self.returned, self.clawed_back) >= 0
        ), self
        assert self.spent + self.reserved + self.remaining == self.budget, self
