"""Umm al-Qura dates from hijridate: the one module that imports it.

The Umm al-Qura calendar is Saudi Arabia's official table, computed in advance; it is the best
prediction of Ramadan's dates, not the moon sighting West African countries follow (an operator's
announcement corrects it: :mod:`sika.calendar.announcements`).
"""

from __future__ import annotations

from datetime import date

from hijridate import Gregorian, Hijri

from sika.calendar.errors import DateOutOfRange

__all__ = ["HIJRI_YEAR_MAX", "HIJRI_YEAR_MIN", "RAMADAN", "HijriDate", "ramadan_table", "to_hijri"]

RAMADAN = 9  # the ninth month
# hijridate's table: 1 Muharram 1343 (1 August 1924) to the end of 1500 (16 November 2077).
HIJRI_YEAR_MIN = 1343
HIJRI_YEAR_MAX = 1500
_FIRST = date(1924, 8, 1)
_LAST = date(2077, 11, 16)

HijriDate = tuple[int, int, int]  # year, month, day


def to_hijri(day: date) -> HijriDate:
    """The Umm al-Qura date of a Gregorian date."""
    if not _FIRST <= day <= _LAST:
        raise DateOutOfRange(f"{day} is outside the Umm al-Qura table ({_FIRST} to {_LAST})")
    hijri = Gregorian(day.year, day.month, day.day).to_hijri()
    return hijri.year, hijri.month, hijri.day


def ramadan_table(hijri_year: int) -> tuple[date, date]:
    """First and last day of Ramadan ``hijri_year`` in the Umm al-Qura table (29 or 30 days)."""
    if not HIJRI_YEAR_MIN <= hijri_year <= HIJRI_YEAR_MAX:
        raise DateOutOfRange(f"Hijri year {hijri_year} is outside the Umm al-Qura table "
                             f"({HIJRI_YEAR_MIN} to {HIJRI_YEAR_MAX})")
    first = Hijri(hijri_year, RAMADAN, 1)
    last = Hijri(hijri_year, RAMADAN, first.month_length())
    return _plain(first.to_gregorian()), _plain(last.to_gregorian())


def _plain(day: date) -> date:
    # hijridate answers with its date subclass; the rest of Sika compares and prints plain dates.
    return date(day.year, day.month, day.day)
