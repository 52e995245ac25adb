"""When windows are open in one city: membership and the next opening or closing.

A :class:`Schedule` compiles a set of windows for one city and answers for their union: a quiet
profile of six windows or a campaign's hours. ``contains`` is the hot path (promotions ask on every
payment): one dictionary lookup for the local date, then a comparison or two; the occurrences of a
date are computed once (prayer times from the clock's cache, Ramadan from the calendar's) and kept
until the Ramadan announcements change.

An occurrence belongs to the local date D its start is anchored on: from ``start`` resolved on D to
the first resolution of ``end`` (on D, D+1 or D+2) after it, end excluded. Fixed hours are local wall
clock; prayer offsets are durations.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sika.calendar.clock import PrayerClock
from sika.calendar.errors import CalendarError
from sika.calendar.places import Place
from sika.calendar.ramadan import RamadanCalendar
from sika.calendar.windows import WEEKDAYS, WINDOWS_MAX, Anchor, Window

__all__ = ["HORIZON_DAYS_DEFAULT", "HORIZON_DAYS_MAX", "Change", "Interval", "Schedule"]

# The next Ramadan is at most 355 days away; a window that opens on no day in that time never will.
HORIZON_DAYS_DEFAULT = 400
HORIZON_DAYS_MAX = 1_000
DAYS_CACHED_MAX = 4_096  # dates whose occurrences a schedule keeps; past it the cache starts again
# A prayer lies within its local date give or take this (true far beyond the XOF zone; checked), so
# with offsets of at most six hours an occurrence of date D starts within 12 h of D's bounds.
_PRAYER_SLACK_S = 6 * 3_600
_START_SLACK_S = 12 * 3_600
_CHUNK_DAYS = 8  # days added at a time while looking for the next change


@dataclass(frozen=True, slots=True)
class Interval:
    """One occurrence of a window: open from ``start`` to ``end`` (excluded), in the city's zone."""

    start: datetime
    end: datetime
    window: Window


@dataclass(frozen=True, slots=True)
class Change:
    """The next edge: at ``at`` the union of windows opens (``opens``) or closes, at ``anchor``.

    ``anchor`` is the edge as the window wrote it (``isha+15min``): what a sentence like "held
    until 19:20, after Isha" is made of.
    """

    at: datetime
    opens: bool
    anchor: Anchor
    window: Window


_Occurrence = tuple[float, float, int]  # start and end (UTC seconds), index of the window


@dataclass(frozen=True, slots=True)
class _Day:
    """A local date's bounds (UTC seconds) and the open spans that overlap it."""

    first: float
    after: float
    spans: tuple[tuple[float, float], ...]


_NO_DAY = _Day(0.0, 0.0, ())


@dataclass(slots=True)
class _Caches:
    """What a schedule computed from one revision of the Ramadan announcements, swapped whole when it
    changes: a computation that raced the change writes into the old one, never the new."""

    revision: int
    by_start_day: dict[int, tuple[_Occurrence, ...]]
    by_local_day: dict[int, _Day]
    recent: _Day = _NO_DAY  # the date asked last: most calls ask about today again


class Schedule:
    """The union of ``windows`` in ``place``: built by :meth:`sika.calendar.Calendar.schedule`."""

    def __init__(self, windows: Sequence[Window], place: Place, clock: PrayerClock,
                 ramadan: RamadanCalendar) -> None:
        if not 1 <= len(windows) <= WINDOWS_MAX:
            raise CalendarError(f"a schedule has 1 to {WINDOWS_MAX} windows, not {len(windows)}",
                                code="invalid_window")
        self.windows = tuple(windows)
        self.place = place
        self._clock = clock
        self._ramadan = ramadan
        self._needs_ramadan = any(window.days != "every_day" for window in self.windows)
        self._caches = _Caches(ramadan.revision() if self._needs_ramadan else 0, {}, {})

    def contains(self, instant: datetime) -> bool:
        """Whether ``instant`` (an aware datetime) lies in one of the windows."""
        seconds = _seconds(instant)
        caches = self._current()
        day = caches.recent
        if not day.first <= seconds < day.after:
            day = self._day(caches, instant.astimezone(self.place.zone).toordinal())
            caches.recent = day
        for start, end in day.spans:  # noqa: SIM110 (a plain loop: no generator on the hot path)
            if start <= seconds < end:
                return True
        return False

    def next_change(self, instant: datetime, *, horizon_days: int = HORIZON_DAYS_DEFAULT) -> Change | None:
        """The first instant after ``instant`` where :meth:`contains` changes, and which edge it is.

        None when nothing changes within ``horizon_days`` (a Ramadan window past the table's end, or
        windows that together never close).
        """
        if not 1 <= horizon_days <= HORIZON_DAYS_MAX:
            raise CalendarError(f"horizon_days is 1 to {HORIZON_DAYS_MAX}", code="invalid_horizon")
        caches = self._current()
        seconds = _seconds(instant)
        day = instant.astimezone(self.place.zone).toordinal()
        heap: list[_Occurrence] = []
        next_day, last = day - 3, day + horizon_days  # no date before day-3 reaches `instant`
        close, closing = seconds, None  # how far the union reaches past `instant`, and through what
        while next_day <= last:
            for anchored in range(next_day, min(next_day + _CHUNK_DAYS, last + 1)):
                for occurrence in self._occurrences(caches, anchored):
                    heapq.heappush(heap, occurrence)
            next_day = min(next_day + _CHUNK_DAYS, last + 1)
            safe = self._midnight(next_day) - _START_SLACK_S  # dates not collected yet start after this
            while heap and heap[0][0] <= close and heap[0][0] < safe:
                occurrence = heapq.heappop(heap)
                if occurrence[1] > close:
                    close, closing = occurrence[1], occurrence
            if closing is not None and close < safe and not (heap and heap[0][0] <= close):
                return self._change(close, opens=False, occurrence=closing, end=True)
            if closing is None and heap and heap[0][0] < safe:
                return self._change(heap[0][0], opens=True, occurrence=heap[0], end=False)
        return None

    def occurrences(self, day: date) -> list[Interval]:
        """The occurrences anchored on the local date ``day``, in order of start."""
        caches = self._current()
        return [Interval(datetime.fromtimestamp(start, self.place.zone),
                         datetime.fromtimestamp(end, self.place.zone), self.windows[index])
                for start, end, index in sorted(self._occurrences(caches, day.toordinal()))]

    def _change(self, at_s: float, *, opens: bool, occurrence: _Occurrence, end: bool) -> Change:
        window = self.windows[occurrence[2]]
        return Change(at=datetime.fromtimestamp(at_s, self.place.zone), opens=opens,
                      anchor=window.end if end else window.start, window=window)

    def _current(self) -> _Caches:
        caches = self._caches
        if self._needs_ramadan:
            revision = self._ramadan.revision()
            if revision != caches.revision:
                caches = _Caches(revision, {}, {})
                self._caches = caches
        return caches

    def _day(self, caches: _Caches, day: int) -> _Day:
        found = caches.by_local_day.get(day)
        if found is None:
            # Every occurrence that overlaps local date `day` starts on a date from day-3 to day+1.
            first, after = self._midnight(day), self._midnight(day + 1)
            found = _Day(first, after, tuple(
                (start, end) for anchored in range(day - 3, day + 2)
                for start, end, _ in self._occurrences(caches, anchored) if start < after and end > first))
            if len(caches.by_local_day) >= DAYS_CACHED_MAX:
                caches.by_local_day.clear()
            caches.by_local_day[day] = found
        return found

    def _occurrences(self, caches: _Caches, day: int) -> tuple[_Occurrence, ...]:
        found = caches.by_start_day.get(day)
        if found is None:
            local = date.fromordinal(day)
            found = tuple(occurrence for index, window in enumerate(self.windows)
                          if self._eligible(window, local)
                          for occurrence in self._occurrence(window, index, local))
            if len(caches.by_start_day) >= DAYS_CACHED_MAX:
                caches.by_start_day.clear()
            caches.by_start_day[day] = found
        return found

    def _eligible(self, window: Window, day: date) -> bool:
        if window.weekdays is not None and WEEKDAYS[day.weekday()] not in window.weekdays:
            return False
        if window.days == "every_day":
            return True
        return self._ramadan.is_ramadan(self.place, day) == (window.days == "ramadan")

    def _occurrence(self, window: Window, index: int, day: date) -> tuple[_Occurrence, ...]:
        start = self._resolve(window.start, day)
        for later in range(3):
            end = self._resolve(window.end, day + timedelta(days=later))
            if end > start:
                return ((start, end, index),)
        return ()  # only with anchors six hours off a prayer that moved by a day: nothing that day

    def _resolve(self, anchor: Anchor, day: date) -> float:
        midnight = self._midnight(day.toordinal())
        if anchor.minute is not None:
            wall = datetime.combine(day, time(0), tzinfo=self.place.zone) + timedelta(minutes=anchor.minute)
            return wall.timestamp()
        assert anchor.prayer is not None
        at = self._clock.times(self.place, day).at(anchor.prayer).timestamp()
        if not midnight - _PRAYER_SLACK_S <= at <= self._midnight(day.toordinal() + 1) + _PRAYER_SLACK_S:
            raise CalendarError(f"{anchor.prayer} in {self.place.name} on {day} falls outside that date: "
                                "the city's time zone does not match its longitude", code="unsupported_place")
        return at + anchor.offset_min * 60

    def _midnight(self, day: int) -> float:
        return datetime.combine(date.fromordinal(day), time(0), tzinfo=self.place.zone).timestamp()


def _seconds(instant: datetime) -> float:
    if instant.tzinfo is None:
        raise ValueError("windows are evaluated at aware datetimes (a naive one has no time zone)")
    return instant.timestamp()

