"""The calendar one process shares: prayer times, Ramadan and windows, for the configured cities.

Build one per process (it caches) from the settings::

    calendar = Calendar(settings.cities, prayer=settings.prayer,
                        announcements=MemoryAnnouncements(settings.ramadan))

Every method takes a city id (``lome``) and local dates or aware datetimes, and answers in the
city's zone. A hot path (a payment, a message about to go out) holds the :class:`Schedule` of its
windows rather than asking :meth:`Calendar.contains`, which looks the schedule up each time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from sika.calendar.announcements import AnnouncementStore, MemoryAnnouncements, RamadanAnnouncement
from sika.calendar.clock import PrayerClock
from sika.calendar.errors import InvalidAnnouncement
from sika.calendar.places import Place, places_of
from sika.calendar.prayers import PrayerMethod, PrayerTimes
from sika.calendar.ramadan import RamadanCalendar, RamadanSeason
from sika.calendar.schedule import HORIZON_DAYS_DEFAULT, Change, Interval, Schedule
from sika.calendar.windows import Window
from sika.rides.cities import City, UnknownCity

__all__ = ["SCHEDULES_MAX", "Calendar"]

SCHEDULES_MAX = 1_024  # compiled (windows, city) pairs kept by Calendar.schedule


class Calendar:
    def __init__(self, cities: Sequence[City], *, prayer: Mapping[str, PrayerMethod] | None = None,
                 announcements: AnnouncementStore | None = None) -> None:
        self.places: dict[str, Place] = places_of(cities, prayer or {})
        self.clock = PrayerClock()
        self.ramadan = RamadanCalendar(announcements if announcements is not None else MemoryAnnouncements())
        for announcement in self.ramadan.store.announcements():
            self._check_city(announcement)
        self._schedules: dict[tuple[tuple[Window, ...], str], Schedule] = {}
        self._lock = threading.Lock()

    def place(self, city_id: str) -> Place:
        try:
            return self.places[city_id]
        except KeyError:
            raise UnknownCity(f"no calendar for {city_id!r}: {', '.join(self.places)}") from None

    # Prayer times.

    def prayer_times(self, city_id: str, day: date) -> PrayerTimes:
        """The five prayers and sunrise in ``city_id`` on the local date ``day``."""
        return self.clock.times(self.place(city_id), day)

    def local_date(self, city_id: str, instant: datetime) -> date:
        """The date on the city's clocks at ``instant`` (an aware datetime)."""
        if instant.tzinfo is None:
            raise ValueError("a naive datetime has no time zone")
        return instant.astimezone(self.place(city_id).zone).date()

    # Ramadan.

    def is_ramadan(self, city_id: str, day: date) -> bool:
        return self.ramadan.is_ramadan(self.place(city_id), day)

    def ramadan_day(self, city_id: str, day: date) -> int | None:
        """1 to 30 on a Ramadan day in that city, None otherwise."""
        return self.ramadan.day_number(self.place(city_id), day)

    def ramadan_season(self, city_id: str, day: date) -> RamadanSeason | None:
        """The Ramadan ``day`` falls in, in that city."""
        return self.ramadan.season_of(self.place(city_id), day)

    def ramadan_seasons(self, city_id: str, year: int) -> list[RamadanSeason]:
        """The Ramadans that start in Gregorian ``year`` in that city (one, sometimes two)."""
        return self.ramadan.seasons_starting_in(self.place(city_id), year)

    def announce(self, announcement: RamadanAnnouncement) -> None:
        """Record an announced start (and end): it wins over the table from now on, in every schedule."""
        self._check_city(announcement)
        self.ramadan.store.put(announcement)

    def withdraw(self, hijri_year: int, scope: str) -> bool:
        """Forget the announcement for that year and scope (``city:lome``, ``country:TG``, ``*``)."""
        return self.ramadan.store.remove(hijri_year, scope)

    # Windows.

    def schedule(self, windows: Window | Sequence[Window], city_id: str) -> Schedule:
        """The compiled union of ``windows`` in ``city_id`` (shared: compiled once per pair)."""
        key = ((windows,) if isinstance(windows, Window) else tuple(windows), city_id)
        found = self._schedules.get(key)
        if found is None:
            found = Schedule(key[0], self.place(city_id), self.clock, self.ramadan)
            with self._lock:
                if len(self._schedules) >= SCHEDULES_MAX:
                    self._schedules.clear()
                self._schedules[key] = found
        return found

    def contains(self, windows: Window | Sequence[Window], city_id: str, instant: datetime) -> bool:
        return self.schedule(windows, city_id).contains(instant)

    def next_change(self, windows: Window | Sequence[Window], city_id: str, instant: datetime, *,
                    horizon_days: int = HORIZON_DAYS_DEFAULT) -> Change | None:
        """When the windows next open or close after ``instant`` (None: not within the horizon)."""
        return self.schedule(windows, city_id).next_change(instant, horizon_days=horizon_days)

    def occurrences(self, windows: Window | Sequence[Window], city_id: str, day: date) -> list[Interval]:
        """The windows' occurrences anchored on the local date ``day``."""
        return self.schedule(windows, city_id).occurrences(day)

    def _check_city(self, announcement: RamadanAnnouncement) -> None:
        if announcement.city is not None and announcement.city not in self.places:
            raise InvalidAnnouncement(f"Ramadan announcement for unknown city {announcement.city!r}")
