"""The calendar's errors: each one a person can cause carries a stable ``code``."""

from __future__ import annotations

from sika.errors import SikaError

__all__ = [
    "CalendarError", "DateOutOfRange", "InvalidAnnouncement", "InvalidWindow", "PrayerTimesUnavailable",
]


class CalendarError(SikaError):
    code = "calendar_error"


class InvalidWindow(CalendarError):
    """A window that does not parse or makes no sense ("magrib", "25:00", an offset on a fixed hour)."""

    code = "invalid_window"


class InvalidAnnouncement(CalendarError):
    """An operator's Ramadan announcement that contradicts the calendar (wrong year, 31 days...)."""

    code = "invalid_ramadan_announcement"


class DateOutOfRange(CalendarError):
    """A date the Umm al-Qura table does not cover (before August 1924 or after November 2077)."""

    code = "date_out_of_range"


class PrayerTimesUnavailable(CalendarError):
    """The sun never reaches a prayer's angle that day (only near the poles, never in the XOF zone)."""

    code = "prayer_times_unavailable"
