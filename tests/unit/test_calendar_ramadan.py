"""Ramadan's dates: the Umm al-Qura table, and operators' announcements winning over it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sika.calendar import (
    Calendar,
    DateOutOfRange,
    InvalidAnnouncement,
    MemoryAnnouncements,
    RamadanAnnouncement,
    parse_announcement,
    parse_window,
)
from sika.rides.cities import DEFAULT_CITIES

# The Umm al-Qura calendar's published dates: 1 Ramadan and the last fasting day (the eve of 1 Shawwal).
UMM_AL_QURA = {
    2026: (1447, date(2026, 2, 18), date(2026, 3, 19), 30),
    2027: (1448, date(2027, 2, 8), date(2027, 3, 8), 29),
}


@pytest.mark.parametrize("year", sorted(UMM_AL_QURA))
def test_ramadan_of_2026_and_2027_follows_the_umm_al_qura_table(year: int) -> None:
    hijri_year, first, last, days = UMM_AL_QURA[year]
    (season,) = Calendar(DEFAULT_CITIES).ramadan_seasons("lome", year)
    assert (season.hijri_year, season.first, season.last, season.days) == (hijri_year, first, last, days)
    assert season.source == "umm_al_qura"
    assert type(season.first) is date  # plain dates, not the library's subclass


def test_a_ramadan_day_has_its_number_and_the_days_around_it_have_none() -> None:
    calendar = Calendar(DEFAULT_CITIES)
    assert calendar.ramadan_day("lome", date(2026, 2, 17)) is None
    assert calendar.ramadan_day("lome", date(2026, 2, 18)) == 1
    assert calendar.ramadan_day("lome", date(2026, 3, 19)) == 30
    assert calendar.ramadan_day("lome", date(2026, 3, 20)) is None  # Eid al-Fitr
    assert calendar.is_ramadan("cotonou", date(2027, 3, 8))
    assert not calendar.is_ramadan("cotonou", date(2027, 3, 9))
    assert not calendar.is_ramadan("lome", date(2026, 7, 1))


def test_a_year_can_hold_two_ramadans() -> None:
    seasons = Calendar(DEFAULT_CITIES).ramadan_seasons("bamako", 2030)
    assert [(s.hijri_year, s.first) for s in seasons] == [
        (1451, date(2030, 1, 5)), (1452, date(2030, 12, 26))]


def test_togo_announced_start_wins_over_the_table_in_togo_only() -> None:
    togo = RamadanAnnouncement(hijri_year=1447, start=date(2026, 2, 19), country="TG")
    calendar = Calendar(DEFAULT_CITIES, announcements=MemoryAnnouncements([togo]))
    lome = calendar.ramadan_season("lome", date(2026, 3, 1))
    assert lome is not None
    assert (lome.first, lome.last, lome.source, lome.scope) == (
        date(2026, 2, 19), date(2026, 3, 20), "announced", "country:TG")  # the table's 30 days, from the 19th
    assert not calendar.is_ramadan("kara", date(2026, 2, 18))
    assert calendar.ramadan_day("kara", date(2026, 2, 19)) == 1
    assert calendar.ramadan_day("cotonou", date(2026, 2, 18)) == 1  # Benin: the table


def test_a_city_announcement_wins_over_its_country_and_an_announced_end_over_the_length() -> None:
    store = MemoryAnnouncements([
        RamadanAnnouncement(hijri_year=1447, start=date(2026, 2, 19), country="TG"),
        RamadanAnnouncement(hijri_year=1447, start=date(2026, 2, 18), end=date(2026, 3, 18), city="kara"),
    ])
    calendar = Calendar(DEFAULT_CITIES, announcements=store)
    kara = calendar.ramadan_seasons("kara", 2026)[0]
    assert (kara.first, kara.last, kara.days, kara.scope, kara.end_announced) == (
        date(2026, 2, 18), date(2026, 3, 18), 29, "city:kara", True)
    assert calendar.ramadan_seasons("lome", 2026)[0].first == date(2026, 2, 19)


def test_an_announcement_made_at_run_time_moves_windows_already_compiled() -> None:
    calendar = Calendar(DEFAULT_CITIES)
    iftar = parse_window({"start": "maghrib-30min", "end": "maghrib", "days": "ramadan"})
    schedule = calendar.schedule(iftar, "lome")
    before_iftar = datetime(2026, 2, 18, 17, 50, tzinfo=UTC)
    assert schedule.contains(before_iftar)  # day 1 in the table

    calendar.announce(parse_announcement('{"hijri_year": 1447, "start": "2026-02-19", "country": "TG"}'))
    assert not schedule.contains(before_iftar)  # Togo fasts from the 19th
    assert schedule.contains(before_iftar.replace(day=19))
    assert calendar.schedule(iftar, "cotonou").contains(before_iftar)

    assert calendar.withdraw(1447, "country:TG")
    assert schedule.contains(before_iftar)
    assert not calendar.withdraw(1447, "country:TG")


@pytest.mark.parametrize(("data", "words"), [
    ({"hijri_year": 1447, "start": "2027-02-08"}, "more than 3 days away"),
    ({"hijri_year": 1447, "start": "2026-02-19", "end": "2026-03-15"}, "29 or 30 days"),
    ({"hijri_year": 1447, "start": "2026-02-19", "end": "2026-03-21"}, "29 or 30 days"),
    ({"hijri_year": 1447, "start": "2026-02-19", "country": "TG", "city": "lome"}, "not both"),
    ({"hijri_year": 1447, "start": "2026-02-19", "country": "Togo"}, "country"),
    ({"hijri_year": 1600, "start": "2026-02-19"}, "hijri_year"),
    ({"hijri_year": 1447}, "start"),
])
def test_an_announcement_that_contradicts_the_calendar_is_refused_with_its_reason(
        data: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidAnnouncement) as caught:
        parse_announcement(data)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_ramadan_announcement"
    assert words in caught.value.message


def test_an_announcement_for_an_unknown_city_is_refused() -> None:
    calendar = Calendar(DEFAULT_CITIES)
    with pytest.raises(InvalidAnnouncement, match="unknown city"):
        calendar.announce(RamadanAnnouncement(hijri_year=1447, start=date(2026, 2, 19), city="accra"))


def test_two_announcements_for_the_same_year_and_scope_are_refused_at_start() -> None:
    twice = [RamadanAnnouncement(hijri_year=1447, start=date(2026, 2, 19), country="TG")] * 2
    with pytest.raises(InvalidAnnouncement, match="two announcements"):
        MemoryAnnouncements(twice)


def test_dates_beyond_the_table_are_an_error_with_a_code() -> None:
    with pytest.raises(DateOutOfRange) as caught:
        Calendar(DEFAULT_CITIES).is_ramadan("lome", date(2080, 1, 1))
    assert caught.value.code == "date_out_of_range"
