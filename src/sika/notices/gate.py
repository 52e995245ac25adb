"""The policy applied: one customer's decision from the database, and the outbox's gate.

:class:`Notices` looks up what :func:`sika.notices.policy.decide` needs (preferences, the city's
compiled quiet schedule, the marketing messages delivered lately) and asks it. The outbox calls
:meth:`Notices.verdict` just before each message goes: a held message waits in the queue (its
``next_attempt_ns`` moved to the instant it may go), a dropped one ends ``dropped``; both keep why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from sika import jsoncodec, phones
from sika.calendar import Calendar, Schedule
from sika.errors import SikaError
from sika.notices.categories import MARKETING_PREFIX, Category, category_of
from sika.notices.policy import Decision, decide
from sika.notices.preferences import Preferences
from sika.notices.rules import NoticeRules, quiet_windows
from sika.notices.store import PreferenceStore
from sika.payments.channels import Message, Verdict
from sika.payments.schema import outbox

__all__ = ["SENT_LOOKBACK_DAYS", "Notices"]

SENT_LOOKBACK_DAYS = 8  # a week's cap and today's, whatever the weekday
SENT_ROWS_MAX = 500


class Notices:
    def __init__(self, engine: Engine, calendar: Calendar, rules: NoticeRules | None = None, *,
                 store: PreferenceStore | None = None) -> None:
        self.engine = engine
        self.calendar = calendar
        self.rules = rules or NoticeRules()
        self.store = store or PreferenceStore(engine)

    def city_of(self, preferences: Preferences) -> str:
        """The city whose prayers apply: the one chosen, else the first of the number's country."""
        if preferences.city in self.calendar.places:
            return str(preferences.city)
        try:
            country = phones.region(preferences.msisdn)
        except (SikaError, AssertionError, ValueError):
            country = None
        for place in self.calendar.places.values():
            if place.country == country:
                return place.id
        return next(iter(self.calendar.places))

    def quiet_schedule(self, preferences: Preferences, city: str) -> Schedule | None:
        windows = quiet_windows(preferences.quiet, self.rules)
        return self.calendar.schedule(windows, city) if windows else None

    def decide(self, msisdn: str, category: Category, at: datetime, *,
               written: datetime | None = None) -> tuple[Decision, Preferences, str]:
        """The decision for a message of ``category`` to ``msisdn`` at ``at``; with the preferences
        and the city it used."""
        preferences = self.store.get(msisdn)
        city = self.city_of(preferences)
        if category != "marketing":  # goes at once, whatever the preferences: no more lookups
            return decide(preferences, category, at, rules=self.rules, quiet=None,
                          zone=self.calendar.place(city).zone), preferences, city
        decision = decide(preferences, category, at, rules=self.rules,
                          quiet=self.quiet_schedule(preferences, city),
                          zone=self.calendar.place(city).zone, sent=self.sent_marketing(msisdn, at),
                          written=written)
        return decision, preferences, city

    def sent_marketing(self, msisdn: str, at: datetime) -> Sequence[datetime]:
        """When marketing messages were delivered to ``msisdn`` in the days before ``at``."""
        since = int((at - timedelta(days=SENT_LOOKBACK_DAYS)).timestamp() * 1e9)
        c = outbox.c
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(c.delivered_at_ns).where(
                    c.msisdn == msisdn, c.status == "delivered", c.kind.startswith(MARKETING_PREFIX),
                    c.delivered_at_ns >= since).order_by(c.delivered_at_ns.desc()).limit(SENT_ROWS_MAX)).all()
        return [datetime.fromtimestamp(row[0] / 1e9, UTC) for row in rows]

    def verdict(self, message: Message, now_ns: int) -> Verdict:
        """The outbox's gate: send (now), hold (until ``send_at_ns``) or drop (``None``), and why."""
        now = datetime.fromtimestamp(now_ns / 1e9, UTC)
        written = datetime.fromtimestamp(message.created_at_ns / 1e9, UTC)
        category = category_of(message.kind)
        if category != "marketing":  # the hot path: receipts, codes and rides read nothing
            return Verdict(now_ns, jsoncodec.dumps({"reason": "immediate", "category": category}))
        decision, _, _ = self.decide(message.msisdn, category, now, written=written)
        reason = jsoncodec.dumps({"reason": decision.reason, **decision.values})[:200]
        if decision.send_at is None:
            return Verdict(None, reason)
        return Verdict(max(now_ns, int(decision.send_at.timestamp() * 1e9)), reason)
