"""Operators' Ramadan announcements: the start (and, when known, the end) a country or city follows.

Togo, like most of West Africa, starts Ramadan on the local sighting of the new moon, often a day
after the Umm al-Qura table. An operator records what was announced, for every city, a country or
one city; the most specific announcement wins over the table. They come from ``SIKA_RAMADAN`` at
start and from an :class:`AnnouncementStore` at run time (the console writes there). The store is a
protocol so that a database-backed one can replace :class:`MemoryAnnouncements` without touching the
calendar.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError, model_validator

from sika.calendar.errors import InvalidAnnouncement
from sika.calendar.hijri import HIJRI_YEAR_MAX, HIJRI_YEAR_MIN, ramadan_table
from sika.calendar.validation import first_error

__all__ = [
    "ANNOUNCEMENTS_MAX",
    "EVERYWHERE",
    "SHIFT_DAYS_MAX",
    "AnnouncementStore",
    "MemoryAnnouncements",
    "RamadanAnnouncement",
    "parse_announcement",
]

# A sighting moves the start by a day or two from the table; three days apart is a typo (or the
# wrong Hijri year), refused rather than believed.
SHIFT_DAYS_MAX = 3
ANNOUNCEMENTS_MAX = 1_000  # a few per year and country: the bound is generous
EVERYWHERE = "*"


class RamadanAnnouncement(BaseModel, frozen=True, extra="forbid"):
    """What was announced for Ramadan ``hijri_year``, everywhere, in ``country`` or in ``city``."""

    hijri_year: int = Field(ge=HIJRI_YEAR_MIN, le=HIJRI_YEAR_MAX)
    start: date
    end: date | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    city: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{1,31}$")

    @model_validator(mode="after")
    def _consistent(self) -> RamadanAnnouncement:
        if self.country is not None and self.city is not None:
            raise ValueError("an announcement is for a country or for a city, not both")
        table_start, _ = ramadan_table(self.hijri_year)
        if abs((self.start - table_start).days) > SHIFT_DAYS_MAX:
            raise ValueError(f"Ramadan {self.hijri_year} starts on {table_start} in the Umm al-Qura table: "
                             f"{self.start} is more than {SHIFT_DAYS_MAX} days away (wrong year?)")
        if self.end is not None and not 29 <= (self.end - self.start).days + 1 <= 30:
            raise ValueError(f"Ramadan lasts 29 or 30 days: {self.start} to {self.end} is "
                             f"{(self.end - self.start).days + 1}")
        return self

    @property
    def scope(self) -> str:
        """``city:lome``, ``country:TG`` or ``*``: what the announcement covers."""
        if self.city is not None:
            return f"city:{self.city}"
        if self.country is not None:
            return f"country:{self.country}"
        return EVERYWHERE


def parse_announcement(data: dict[str, Any] | str) -> RamadanAnnouncement:
    """An announcement from the console's JSON (a dict or its text), or :class:`InvalidAnnouncement`."""
    try:
        if isinstance(data, str):
            return RamadanAnnouncement.model_validate_json(data)
        return RamadanAnnouncement.model_validate(data)
    except ValidationError as exc:
        raise InvalidAnnouncement(f"invalid Ramadan announcement: {first_error(exc)}") from exc


class AnnouncementStore(Protocol):
    """Where announcements live. ``revision`` must be cheap: the calendar asks on every lookup and
    recomputes what it cached when the number changed (a shared store may poll its database)."""

    def revision(self) -> int: ...

    def announcements(self) -> list[RamadanAnnouncement]: ...

    def put(self, announcement: RamadanAnnouncement) -> None:
        """Add, or replace the one for the same year and scope."""

    def remove(self, hijri_year: int, scope: str) -> bool:
        """Withdraw the announcement for that year and scope; False when there was none."""


class MemoryAnnouncements:
    """The in-process store (one process, or announcements from ``SIKA_RAMADAN`` only)."""

    def __init__(self, initial: Iterable[RamadanAnnouncement] = ()) -> None:
        self._lock = threading.Lock()
        self._revision = 0
        self._by_key: dict[tuple[int, str], RamadanAnnouncement] = {}
        for announcement in initial:
            key = (announcement.hijri_year, announcement.scope)
            if key in self._by_key:
                raise InvalidAnnouncement(f"two announcements for Ramadan {key[0]} in scope {key[1]}")
            self.put(announcement)

    def revision(self) -> int:
        return self._revision

    def announcements(self) -> list[RamadanAnnouncement]:
        with self._lock:
            return list(self._by_key.values())

    def put(self, announcement: RamadanAnnouncement) -> None:
        key = (announcement.hijri_year, announcement.scope)
        with self._lock:
            if key not in self._by_key and len(self._by_key) >= ANNOUNCEMENTS_MAX:
                raise InvalidAnnouncement(f"at most {ANNOUNCEMENTS_MAX} Ramadan announcements")
            self._by_key[key] = announcement
            self._revision += 1

    def remove(self, hijri_year: int, scope: str) -> bool:
        with self._lock:
            removed = self._by_key.pop((hijri_year, scope), None) is not None
            self._revision += removed
            return removed
