"""Campaign time from the calendar: windows (relative to prayers or fixed hours) and Ramadan days in
the campaign's city, and instants written in that city's zone.

A campaign holds its compiled :class:`~sika.calendar.Schedule` (about a microsecond per question;
docs/calendar.md), kept here per campaign and rules.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sika.calendar import Calendar, Change, Schedule
from sika.promotions.eligibility import When
from sika.promotions.errors import InvalidCampaign
from sika.promotions.model import Campaign

__all__ = ["CalendarWhen", "instant_ns", "local_iso"]

_CACHE_MAX = 1_024
_NS = 1_000_000_000


class CalendarWhen(When):
    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self._schedules: dict[tuple[str, int], Schedule] = {}
        self._lock = threading.Lock()

    def schedule(self, campaign: Campaign) -> Schedule:
        key = (campaign.id, campaign.updated_at_ns)
        found = self._schedules.get(key)
        if found is None:
            found = self.calendar.schedule(campaign.rules.windows, campaign.city)
            with self._lock:
                if len(self._schedules) >= _CACHE_MAX:
                    self._schedules.clear()
                self._schedules[key] = found
        return found

    def in_windows(self, campaign: Campaign, at: datetime) -> bool:
        return not campaign.rules.windows or self.schedule(campaign).contains(at)

    def next_change(self, campaign: Campaign, at: datetime) -> Change | None:
        if not campaign.rules.windows:
            return None
        return self.schedule(campaign).next_change(at, horizon_days=60)

    def is_ramadan(self, campaign: Campaign, at: datetime) -> bool:
        return self.calendar.is_ramadan(campaign.city, self.calendar.local_date(campaign.city, at))

    def country_of(self, city: str) -> str | None:
        place = self.calendar.places.get(city)
        return None if place is None else place.country

    def local_date(self, campaign: Campaign, at: datetime) -> str:
        return self.calendar.local_date(campaign.city, at).isoformat()

    def zone(self, city: str) -> ZoneInfo:
        return self.calendar.place(city).zone


def instant_ns(text: str, zone: ZoneInfo) -> int:
    """An ISO-8601 instant; without an offset it is the city's wall clock (``2026-02-19T18:00``)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidCampaign(
            f"{text[:40]!r} is not an ISO-8601 date and time (2026-02-19T18:00+00:00)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp()) * _NS + moment.microsecond * 1_000


def local_iso(ns: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ns / _NS, UTC).astimezone(zone).isoformat(timespec="seconds")
