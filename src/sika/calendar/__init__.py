"""The calendar: prayer times (adhanpy), Ramadan (hijridate's Umm al-Qura table corrected by
operators' announcements) and windows relative to them, for campaigns, quiet hours and drivers.

Start at :class:`Calendar`; docs/calendar.md has the window grammar and examples.
"""

from sika.calendar.announcements import (
    AnnouncementStore,
    MemoryAnnouncements,
    RamadanAnnouncement,
    parse_announcement,
)
from sika.calendar.errors import (
    CalendarError,
    DateOutOfRange,
    InvalidAnnouncement,
    InvalidWindow,
    PrayerTimesUnavailable,
)
from sika.calendar.hijri import HijriDate, ramadan_table, to_hijri
from sika.calendar.prayers import Prayer, PrayerMethod, PrayerTimes
from sika.calendar.ramadan import RamadanSeason
from sika.calendar.schedule import Change, Interval, Schedule
from sika.calendar.service import Calendar
from sika.calendar.windows import Anchor, Window, around_prayers, parse_window, parse_windows, windows_json

__all__ = [
    "Anchor",
    "AnnouncementStore",
    "Calendar",
    "CalendarError",
    "Change",
    "DateOutOfRange",
    "HijriDate",
    "Interval",
    "InvalidAnnouncement",
    "InvalidWindow",
    "MemoryAnnouncements",
    "Prayer",
    "PrayerMethod",
    "PrayerTimes",
    "PrayerTimesUnavailable",
    "RamadanAnnouncement",
    "RamadanSeason",
    "Schedule",
    "Window",
    "around_prayers",
    "parse_announcement",
    "parse_window",
    "parse_windows",
    "ramadan_table",
    "to_hijri",
    "windows_json",
]
