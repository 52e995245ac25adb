"""Windows relative to prayer times: the grammar, and their edges in Lomé, Cotonou and Madrid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from calendar_support import calendar_with_summer_time

from sika.calendar import (
    Calendar,
    InvalidWindow,
    Prayer,
    around_prayers,
    parse_window,
    parse_windows,
    ramadan_table,
    to_hijri,
    windows_json,
)

LOME = ZoneInfo("Africa/Lome")
COTONOU = ZoneInfo("Africa/Porto-Novo")
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def calendar() -> Calendar:
    return calendar_with_summer_time()


# The grammar.

@pytest.mark.parametrize(("text", "canonical"), [
    ("maghrib", "maghrib"),
    ("Maghrib − 10 min", "maghrib-10min"),
    ("isha+15m", "isha+15min"),
    ("isha + 1h30min", "isha+90min"),
    ("fajr-2h", "fajr-120min"),
    ("04:00", "04:00"),
    ("4:05", "04:05"),
    ("24:00", "24:00"),
    ("sunrise+0min", "sunrise"),
])
def test_anchors_read_as_people_write_them_and_are_written_back_canonically(
        text: str, canonical: str) -> None:
    window = parse_window({"start": text, "end": "12:34"})
    assert str(window.start) == canonical
    assert parse_window(windows_json(window)) == window


@pytest.mark.parametrize(("data", "words"), [
    ({"start": "magrib", "end": "isha"}, "'magrib' is neither a prayer"),
    ({"start": "25:00", "end": "isha"}, "not a time of day"),
    ({"start": "12:60", "end": "isha"}, "not a time of day"),
    ({"start": "maghrib-10", "end": "isha"}, "with its unit"),
    ({"start": "maghrib-7h", "end": "isha"}, "at most 6 hours"),
    ({"start": "isha", "end": "isha"}, "is empty"),
    ({"start": {"minute": 240, "offset_min": 5}, "end": "fajr"}, "takes no offset"),
    ({"start": "isha", "end": "fajr", "days": "fridays"}, "days"),
    ({"start": "isha", "end": "fajr", "weekdays": ["fri", "fri"]}, "listed twice"),
    ({"start": "isha"}, "end"),
    ({"start": "isha", "end": "fajr", "colour": "red"}, "colour"),
])
def test_a_wrong_window_is_refused_with_a_code_and_where_it_is_wrong(
        data: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidWindow) as caught:
        parse_window(data)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_window"
    assert words in caught.value.message


def test_anchors_may_be_objects_and_lists_round_trip() -> None:
    windows = parse_windows('[{"start": {"prayer": "maghrib", "offset_min": -10}, "end": "isha+15min", '
                            '"days": "ramadan"}, '
                            '{"start": "22:00", "end": "06:00", "weekdays": ["sat", "sun"]}]')
    assert windows[0].start.prayer is Prayer.MAGHRIB and windows[0].start.offset_min == -10
    assert windows_json(windows) == ('[{"start": "maghrib-10min", "end": "isha+15min", "days": "ramadan"}, '
                                     '{"start": "22:00", "end": "06:00", "weekdays": ["sat", "sun"]}]')
    assert parse_windows(windows_json(windows)) == windows
    with pytest.raises(InvalidWindow, match="1 to 32"):
        parse_windows("[]")


# Edges in Lomé (UTC all year) on a Ramadan day: Maghrib 18:07, Isha 19:13 on 1 March 2026.

IFTAR = parse_window({"start": "maghrib-10min", "end": "isha+15min", "days": "ramadan"})


def test_the_iftar_window_opens_ten_minutes_before_maghrib_and_closes_after_isha(calendar: Calendar) -> None:
    opens = datetime(2026, 3, 1, 17, 57, tzinfo=LOME)
    closes = datetime(2026, 3, 1, 19, 28, tzinfo=LOME)
    assert calendar.prayer_times("lome", date(2026, 3, 1)).maghrib == opens + timedelta(minutes=10)
    assert not calendar.contains(IFTAR, "lome", opens - timedelta(microseconds=1))
    assert calendar.contains(IFTAR, "lome", opens)
    assert calendar.contains(IFTAR, "lome", closes - SECOND)
    assert not calendar.contains(IFTAR, "lome", closes)  # the end is excluded
    assert calendar.contains(IFTAR, "lome", opens.astimezone(COTONOU))  # the same instant, another zone


def test_a_held_message_learns_when_and_after_which_prayer_it_may_go(calendar: Calendar) -> None:
    change = calendar.next_change(IFTAR, "lome", datetime(2026, 3, 1, 18, 30, tzinfo=UTC))
    assert change is not None and not change.opens
    assert change.at == datetime(2026, 3, 1, 19, 28, tzinfo=LOME) and change.at.tzinfo == LOME
    assert (change.at.strftime("%H:%M"), change.anchor.prayer) == ("19:28", Prayer.ISHA)
    before = calendar.next_change(IFTAR, "lome", datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert before is not None and before.opens and str(before.anchor) == "maghrib-10min"
    assert before.at == datetime(2026, 3, 1, 17, 57, tzinfo=LOME)


def test_a_ramadan_window_stays_shut_outside_ramadan_until_the_next_one(calendar: Calendar) -> None:
    eid = datetime(2026, 3, 20, 18, 30, tzinfo=LOME)
    assert calendar.contains(IFTAR, "lome", datetime(2026, 3, 19, 18, 30, tzinfo=LOME))  # the last day
    assert not calendar.contains(IFTAR, "lome", eid)
    change = calendar.next_change(IFTAR, "lome", eid)
    assert change is not None and change.opens
    assert change.at.date() == date(2027, 2, 8)  # 1 Ramadan 1448
    outside = parse_window({"start": "maghrib-10min", "end": "isha+15min", "days": "outside_ramadan"})
    assert calendar.contains(outside, "lome", eid)
    assert not calendar.contains(outside, "lome", datetime(2026, 3, 1, 18, 30, tzinfo=LOME))


def test_suhoor_runs_from_four_to_fajr_on_fasting_days_only(calendar: Calendar) -> None:
    suhoor = parse_window({"start": "04:00", "end": "fajr", "days": "ramadan"})
    fajr = calendar.prayer_times("lome", date(2026, 3, 1)).fajr
    assert calendar.contains(suhoor, "lome", datetime(2026, 3, 1, 4, 0, tzinfo=LOME))
    assert calendar.contains(suhoor, "lome", fajr - SECOND)
    assert not calendar.contains(suhoor, "lome", fajr)
    assert not calendar.contains(suhoor, "lome", datetime(2026, 2, 17, 4, 30, tzinfo=LOME))  # the day before
    assert calendar.contains(suhoor, "lome", datetime(2026, 2, 18, 4, 30, tzinfo=LOME))  # day 1


# Fixed hours across midnight, in Lomé (UTC+0) and Cotonou (UTC+1).

NIGHT = parse_window({"start": "22:00", "end": "06:00"})


@pytest.mark.parametrize(("city", "zone"), [("lome", LOME), ("cotonou", COTONOU)])
def test_the_night_crosses_midnight_on_the_city_clock(city: str, zone: ZoneInfo, calendar: Calendar) -> None:
    evening = datetime(2026, 3, 1, 22, 0, tzinfo=zone)
    assert not calendar.contains(NIGHT, city, evening - SECOND)
    assert calendar.contains(NIGHT, city, evening)
    assert calendar.contains(NIGHT, city, datetime(2026, 3, 2, 0, 0, tzinfo=zone))
    assert calendar.contains(NIGHT, city, datetime(2026, 3, 2, 5, 59, 59, tzinfo=zone))
    assert not calendar.contains(NIGHT, city, datetime(2026, 3, 2, 6, 0, tzinfo=zone))
    (occurrence,) = calendar.occurrences(NIGHT, city, date(2026, 3, 1))
    assert (occurrence.start, occurrence.end) == (evening, datetime(2026, 3, 2, 6, 0, tzinfo=zone))
    change = calendar.next_change(NIGHT, city, datetime(2026, 3, 1, 23, 0, tzinfo=zone))
    assert change is not None and change.at == datetime(2026, 3, 2, 6, 0, tzinfo=zone) and not change.opens


def test_cotonou_opens_an_hour_before_lome_for_the_same_fixed_hour(calendar: Calendar) -> None:
    instant = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)  # 21:30 in Lomé, 22:30 in Cotonou
    assert calendar.contains(NIGHT, "cotonou", instant)
    assert not calendar.contains(NIGHT, "lome", instant)


def test_a_ramadan_night_belongs_to_the_fasting_day_it_starts_on(calendar: Calendar) -> None:
    nights = parse_window({"start": "isha", "end": "04:00", "days": "ramadan"})
    assert calendar.contains(nights, "lome", datetime(2026, 3, 20, 3, 0, tzinfo=LOME))  # after the last day
    assert not calendar.contains(nights, "lome", datetime(2026, 3, 20, 21, 0, tzinfo=LOME))  # Eid evening
    assert not calendar.contains(nights, "lome", datetime(2026, 2, 17, 21, 0, tzinfo=LOME))  # eve of day 1


def test_summer_time_shortens_the_night_in_madrid(calendar: Calendar) -> None:
    (night,) = calendar.occurrences(NIGHT, "madrid", date(2026, 3, 28))  # clocks go forward at 02:00
    # Subtracting datetimes of one zone gives wall-clock hours in Python: compare instants.
    assert night.end.timestamp() - night.start.timestamp() == 7 * 3_600
    assert night.end.utcoffset() == timedelta(hours=2)


# Unions, weekdays, mistakes.

def test_overlapping_windows_close_together_where_the_last_one_ends(calendar: Calendar) -> None:
    quiet = (NIGHT, parse_window({"start": "fajr-10min", "end": "sunrise"}))
    sunrise = calendar.prayer_times("lome", date(2026, 3, 2)).sunrise
    change = calendar.next_change(quiet, "lome", datetime(2026, 3, 1, 23, 0, tzinfo=LOME))
    assert change is not None and (change.at, change.opens, str(change.anchor)) == (sunrise, False, "sunrise")


def test_a_friday_window_opens_on_fridays_only(calendar: Calendar) -> None:
    jumuah = parse_window({"start": "dhuhr-15min", "end": "dhuhr+45min", "weekdays": ["fri"]})
    dhuhr = calendar.prayer_times("lome", date(2026, 3, 6)).dhuhr  # a Friday
    assert calendar.contains(jumuah, "lome", dhuhr)
    assert not calendar.contains(jumuah, "lome", dhuhr - timedelta(days=1))
    change = calendar.next_change(jumuah, "lome", dhuhr + timedelta(hours=1))
    assert change is not None and change.opens and change.at.date() == date(2026, 3, 13)


def test_windows_that_never_close_have_no_next_change(calendar: Calendar) -> None:
    always = parse_window({"start": "00:00", "end": "24:00"})
    assert calendar.contains(always, "bamako", datetime(2026, 3, 1, tzinfo=UTC))
    assert calendar.next_change(always, "bamako", datetime(2026, 3, 1, tzinfo=UTC), horizon_days=30) is None


def test_a_naive_datetime_is_refused(calendar: Calendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        calendar.contains(NIGHT, "lome", datetime(2026, 3, 1, 23, 0))


def test_a_prayer_quiet_profile_holds_around_each_of_the_five_prayers(calendar: Calendar) -> None:
    profile = around_prayers(10, 20)
    assert [str(w) for w in profile][:2] == ["fajr-10min to fajr+20min", "dhuhr-10min to dhuhr+20min"]
    times = calendar.prayer_times("lome", date(2026, 3, 1))
    for prayer in (Prayer.FAJR, Prayer.DHUHR, Prayer.ASR, Prayer.MAGHRIB, Prayer.ISHA):
        assert calendar.contains(profile, "lome", times.at(prayer) + timedelta(minutes=19))
        assert not calendar.contains(profile, "lome", times.at(prayer) + timedelta(minutes=20))
    # Maghrib+20 (18:27) and Isha-10 (19:03) leave a gap: a message held at 18:20 goes at 18:27.
    change = calendar.next_change(profile, "lome", times.maghrib + timedelta(minutes=13))
    assert change is not None and (change.at, str(change.anchor)) == (
        times.maghrib + timedelta(minutes=20), "maghrib+20min")
    with pytest.raises(InvalidWindow):
        around_prayers(0, 0)


def test_umm_al_qura_dates_are_at_hand() -> None:
    assert to_hijri(date(2026, 3, 1)) == (1447, 9, 12)
    assert ramadan_table(1448) == (date(2027, 2, 8), date(2027, 3, 8))
