"""Ramadan's dates for a city: the Umm al-Qura table, corrected by what operators announced.

For a city and a Hijri year the most specific announcement wins (the city's, else its country's,
else one for everywhere), else the table. An announced start without an end keeps the table's
length (29 or 30 days) until the end is announced too. Day 1 is the first day of fasting; the
evening before it (the first tarawih) belongs to no Ramadan day here: windows anchored to a
Ramadan date start counting on day 1.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sika.calendar.announcements import EVERYWHERE, AnnouncementStore, RamadanAnnouncement
from sika.calendar.hijri import RAMADAN, ramadan_table, to_hijri
from sika.calendar.places import Place

__all__ = ["SEASONS_MAX", "RamadanCalendar", "RamadanSeason"]

SEASONS_MAX = 4_096  # cached (city, Hijri year) seasons; past it the cache starts again


@dataclass(frozen=True, slots=True)
class RamadanSeason:
    """One Ramadan in one city: its first and last fasting days (inclusive) and where they come from."""

    hijri_year: int
    first: date
    last: date
    source: Literal["umm_al_qura", "announced"]
    scope: str | None = None  # the winning announcement's scope (city:lome, country:TG, *)
    end_announced: bool = False

    def __post_init__(self) -> None:
        assert 29 <= self.days <= 30, f"Ramadan {self.hijri_year}: {self.days} days"

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def contains(self, day: date) -> bool:
        return self.first <= day <= self.last

    def day_number(self, day: date) -> int | None:
        """1 on the first day of fasting, up to 29 or 30; None outside this Ramadan."""
        return (day - self.first).days + 1 if self.contains(day) else None

    def as_json(self) -> dict[str, Any]:
        return {"hijri_year": self.hijri_year, "first": self.first.isoformat(),
                "last": self.last.isoformat(), "days": self.days, "source": self.source,
                "scope": self.scope, "end_announced": self.end_announced}


class RamadanCalendar:
    """Seasons per (city, Hijri year), cached until the announcement store's revision changes."""

    def __init__(self, store: AnnouncementStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._state = _State(-1, {}, {})

    def revision(self) -> int:
        """Changes whenever an announcement does: what callers cache may be stale."""
        return self.store.revision()

    def season(self, place: Place, hijri_year: int) -> RamadanSeason:
        # One state per revision, swapped whole: a season computed from old announcements lands in
        # the old state's cache, never in the new one.
        state = self._refreshed()
        key = (place.id, hijri_year)
        found = state.seasons.get(key)
        if found is None:
            if len(state.seasons) >= SEASONS_MAX:
                state.seasons.clear()
            found = _compute(state.by_year.get(hijri_year, []), place, hijri_year)
            state.seasons[key] = found
        return found

    def season_of(self, place: Place, day: date) -> RamadanSeason | None:
        """The Ramadan ``day`` falls in, if any."""
        year, month, _ = to_hijri(day)
        if not RAMADAN - 1 <= month <= RAMADAN + 1:  # an announcement moves the start by days, not months
            return None
        season = self.season(place, year)
        return season if season.contains(day) else None

    def seasons_starting_in(self, place: Place, year: int) -> list[RamadanSeason]:
        """The Ramadans whose first day falls in Gregorian ``year``: one, or two (2030, 2063)."""
        first_year = to_hijri(date(year, 1, 1))[0]
        last_year = to_hijri(date(year, 12, 31))[0]
        seasons = [self.season(place, hijri_year) for hijri_year in range(first_year, last_year + 1)]
        return [season for season in seasons if season.first.year == year]

    def is_ramadan(self, place: Place, day: date) -> bool:
        return self.season_of(place, day) is not None

    def day_number(self, place: Place, day: date) -> int | None:
        season = self.season_of(place, day)
        return None if season is None else season.day_number(day)

    def _refreshed(self) -> _State:
        state = self._state
        revision = self.store.revision()
        if revision == state.revision:
            return state
        with self._lock:
            by_year: dict[int, list[RamadanAnnouncement]] = {}
            for announcement in self.store.announcements():
                by_year.setdefault(announcement.hijri_year, []).append(announcement)
            self._state = _State(revision, by_year, {})
            return self._state


@dataclass(frozen=True, slots=True)
class _State:
    revision: int
    by_year: dict[int, list[RamadanAnnouncement]]
    seasons: dict[tuple[str, int], RamadanSeason]


def _compute(candidates: list[RamadanAnnouncement], place: Place, hijri_year: int) -> RamadanSeason:
    table_first, table_last = ramadan_table(hijri_year)
    for scope in (f"city:{place.id}", f"country:{place.country}", EVERYWHERE):
        chosen = next((a for a in candidates if a.scope == scope), None)
        if chosen is not None:
            length = (table_last - table_first).days
            last = chosen.end if chosen.end is not None else chosen.start + timedelta(days=length)
            return RamadanSeason(hijri_year, chosen.start, last, "announced", scope,
                                 end_announced=chosen.end is not None)
    return RamadanSeason(hijri_year, table_first, table_last, "umm_al_qura")
