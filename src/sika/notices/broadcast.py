"""A campaign announced to its customers: one marketing message each, paced, through the policy.

:func:`announce` is what a campaign (issue 12) or ``sika notifications broadcast`` calls with a list
of numbers and the campaign's text. For each number it asks the policy when a promotion would go and
queues it in the outbox for then (held ones at the instant the policy gave; the outbox asks again
when it comes due); the numbers the policy drops (no consent, stale) are not queued. Sending is
paced twice: at most ``rate_per_s`` a second, and at most ``tier`` different people in any 24 hours
(Meta's messaging tier of the number: 1,000, 10,000, 100,000 or unlimited), the rest the next day.
A campaign announced twice queues nothing new (one message per campaign and number).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from sika import phones
from sika.errors import SikaError
from sika.notices.categories import MARKETING_PREFIX
from sika.notices.gate import Notices
from sika.payments.outbox import enqueue
from sika.payments.schema import outbox

__all__ = ["RECIPIENTS_MAX", "TIERS", "BroadcastReport", "InvalidCampaign", "announce"]

RECIPIENTS_MAX = 100_000
TIERS = (1_000, 10_000, 100_000, 0)  # Meta's business-initiated messaging tiers; 0: unlimited
_CAMPAIGN = re.compile(r"^[a-z0-9_]{1,30}$")  # the kind is marketing_<campaign>, 40 characters at most
TEXT_CHARS_MAX = 900  # the template's body parameter, with room for the STOP line


class InvalidCampaign(SikaError):
    code = "invalid_campaign"


@dataclass(slots=True)
class BroadcastReport:
    queued: int = 0  # queued to go now (the outbox sends them: nothing is sent yet)
    held: int = 0  # queued for later (quiet hours, caps, pacing)
    dropped: int = 0  # not queued: the policy drops them (reasons counted)
    failed: int = 0  # not a mobile number in the zone
    already: int = 0  # queued by an earlier announcement of this campaign
    reasons: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        return {"queued": self.queued, "held": self.held, "dropped": self.dropped, "failed": self.failed,
                "already": self.already, "reasons": dict(self.reasons)}


def announce(notices: Notices, *, campaign: str, text: str, recipients: Sequence[str], now: datetime,
             tier: int = 1_000, rate_per_s: float = 20.0,
             progress: Callable[[int], None] | None = None) -> BroadcastReport:
    """Queue the campaign's promotion for each recipient; ``progress(n)`` after each n handled."""
    if not _CAMPAIGN.fullmatch(campaign):
        raise InvalidCampaign("a campaign id is 1 to 30 of a-z, 0-9 and _")
    if not text.strip() or len(text) > TEXT_CHARS_MAX:
        raise InvalidCampaign(f"a campaign's text is 1 to {TEXT_CHARS_MAX} characters")
    if len(recipients) > RECIPIENTS_MAX or tier not in TIERS or not 0 < rate_per_s <= 1_000:
        raise InvalidCampaign(f"at most {RECIPIENTS_MAX} recipients, a tier among {TIERS}, 0 < rate ≤ 1000/s")
    report = BroadcastReport()
    seen: set[str] = set()
    for index, raw in enumerate(recipients):
        try:
            msisdn = phones.normalize(raw)
        except SikaError:
            report.failed += 1
            continue
        if msisdn in seen:
            continue
        slot = now + timedelta(seconds=len(seen) / rate_per_s)
        if tier:
            slot += timedelta(days=len(seen) // tier)  # beyond the tier: the next 24 hours
        seen.add(msisdn)
        _one(notices, report, campaign=campaign, text=text, msisdn=msisdn, slot=slot, now=now)
        if progress is not None:
            progress(index + 1)
    return report


def _one(notices: Notices, report: BroadcastReport, *, campaign: str, text: str, msisdn: str,
         slot: datetime, now: datetime) -> None:
    decision, _, _ = notices.decide(msisdn, "marketing", slot, written=now)
    if decision.send_at is None:
        report.dropped += 1
        report.reasons[decision.reason] += 1
        return
    due = max(decision.send_at, slot)
    key = f"campaign:{campaign}:{msisdn}"
    with notices.engine.begin() as connection:
        queued = connection.execute(select(outbox.c.id).where(outbox.c.dedupe_key == key)).first() is None
        enqueue(connection, dedupe_key=key, msisdn=msisdn, kind=f"{MARKETING_PREFIX}{campaign}",
                params={"text": text, "campaign": campaign}, now_ns=int(now.timestamp() * 1e9),
                due_ns=int(due.timestamp() * 1e9))
    if not queued:
        report.already += 1
    elif decision.action == "send" and slot - now < timedelta(days=1):
        report.queued += 1  # now, or within the seconds the pacing spreads them over
    else:
        report.held += 1
        report.reasons[decision.reason if decision.action == "hold" else "tier"] += 1
