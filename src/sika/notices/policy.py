"""The decision, for one message: send now, hold until T, or drop; and why, as a reason code.

Pure: it takes the customer's preferences, the category, the instant, the compiled quiet schedule of
their city and the instants of the marketing messages they were sent lately, and reads no clock and
no database. The reason is a code and its values; :mod:`sika.chat.texts.notices` makes the sentence
("held until 19:20, after Isha") in the reader's language.

Marketing is held while the quiet schedule is open and while a cap is reached (a day is the city's
calendar day, a week runs from Monday 00:00, both on the city's clocks), then sent at the first
instant that satisfies all of them; it is dropped without consent, or when that instant comes more
than ``marketing_stale_h`` after the message was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Literal

from sika.calendar import Schedule
from sika.notices.categories import Category
from sika.notices.preferences import Preferences
from sika.notices.rules import NoticeRules

__all__ = ["STEPS_MAX", "Action", "Decision", "decide"]

Action = Literal["send", "hold", "drop"]
# Quiet windows and caps alternate at most this many times before the answer is "stale" (a week of
# quiet edges, caps and nights is far fewer).
STEPS_MAX = 64
HORIZON_DAYS = 15
_Cause = tuple[str, dict[str, Any]]  # why the instant moved: a reason code and its values


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    send_at: datetime | None  # None: dropped
    reason: str  # a code: immediate, open, no_consent, quiet, cap_day, cap_week, paused, stale
    values: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "send_at": self.send_at.isoformat() if self.send_at else None,
                "reason": self.reason, **self.values}


def decide(preferences: Preferences, category: Category, now: datetime, *, rules: NoticeRules,
           quiet: Schedule | None, zone: tzinfo, sent: Sequence[datetime] = (),
           written: datetime | None = None) -> Decision:
    """When a message of ``category`` to this customer goes out. ``quiet``: their city's compiled
    quiet windows (None: profile off); ``sent``: the marketing messages they were sent lately;
    ``written``: when the message was written (staleness), ``now`` by default."""
    assert now.tzinfo is not None, "the policy needs an aware instant"
    now = now.astimezone(zone)
    if category != "marketing":
        return Decision("send", now, "immediate", {"category": category})
    if not preferences.marketing:
        return Decision("drop", None, "no_consent", {"category": category})
    paused_ns = preferences.marketing_paused_until_ns
    paused = datetime.fromtimestamp(paused_ns / 1e9, now.tzinfo) if paused_ns is not None else None
    at, cause = _first_free(now, rules=rules, quiet=quiet, zone=zone, sent=sent, paused=paused)
    deadline = (written or now) + timedelta(hours=rules.marketing_stale_h)
    if at is None or at > deadline:
        return Decision("drop", None, "stale", {"category": category, "stale_h": rules.marketing_stale_h,
                                                "until": at.isoformat() if at else None})
    if at == now:
        today = _count(sent, *_day(now, zone))
        return Decision("send", now, "open", {"category": category, "today": today,
                                              "per_day": rules.marketing_per_day})
    local = at.astimezone(zone)
    values = {"category": category, "time": local.strftime("%H:%M"), **cause[1]}
    if local.date() != now.astimezone(zone).date():
        values["date"] = local.date().isoformat()  # "held until 2026-03-02 07:00"
    return Decision("hold", at, cause[0], values)


def _first_free(now: datetime, *, rules: NoticeRules, quiet: Schedule | None, zone: tzinfo,
                sent: Sequence[datetime], paused: datetime | None) -> tuple[datetime | None, _Cause]:
    at = max(now, paused) if paused is not None else now
    cause: _Cause = ("paused", {}) if at > now else ("open", {})
    for _ in range(STEPS_MAX):
        moved = False
        if quiet is not None and quiet.contains(at):
            change = quiet.next_change(at, horizon_days=HORIZON_DAYS)
            if change is None:
                return None, cause
            anchor = change.anchor
            at, moved = change.at, True
            cause = ("quiet", {"prayer": str(anchor.prayer) if anchor.prayer is not None else None})
        start, end = _day(at, zone)
        if _count(sent, start, end) >= rules.marketing_per_day:
            at, moved = end, True
            cause = ("cap_day", {"per_day": rules.marketing_per_day})
        start, end = _week(at, zone)
        if _count(sent, start, end) >= rules.marketing_per_week:
            at, moved = end, True
            cause = ("cap_week", {"per_week": rules.marketing_per_week})
        if not moved:
            return at, cause
    return None, cause


def _day(instant: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    local = instant.astimezone(zone)
    start = datetime.combine(local.date(), time(0), tzinfo=zone)
    return start, datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)


def _week(instant: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    local = instant.astimezone(zone).date()
    monday = local - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0), tzinfo=zone)
    return start, datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)


def _count(sent: Sequence[datetime], start: datetime, end: datetime) -> int:
    return sum(1 for instant in sent if start <= instant < end)
