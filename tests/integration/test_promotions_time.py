"""Campaign time: start and end in the city's zone, daily hours, and a window from Maghrib to Isha on
Ramadan days (Togo's announced start, not the table's), checked against a sunset computed here by a
second, independent method (the NOAA solar calculator's formulae)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from promotions_support import Town, assert_adds_up

from sika.bootstrap import Container, bootstrap
from sika.calendar import RamadanAnnouncement
from sika.config import Settings
from sika.payments import Movement, new_movement_id
from sika.promotions import Campaign, Reason
from sika.wallet import Customer

LOME = (6.20, 1.225)  # where the calendar computes Lomé's prayers (the service area's centre)
# Togo announced Ramadan 1448 a day after the Umm al-Qura table (2027-02-08).
ANNOUNCED = RamadanAnnouncement(hijri_year=1448, start=date(2027, 2, 9), country="TG")


class Clock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns

    def at(self, moment: datetime) -> None:
        self.now_ns = int(moment.timestamp() * 1e9)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def container(database_url: str, clock: Clock) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant", ramadan=[ANNOUNCED]))
    built.movements._clock_ns = clock  # payments happen when the test says
    built.movements.limits._clock_ns = clock  # and count in the month it says
    yield built
    built.close()


@pytest.fixture
def town(container: Container) -> Town:
    return Town.open(container)


def independent_sunset(day: date, latitude: float, longitude: float) -> datetime:
    """Sunset (the sun's centre at -0.833°) by the NOAA calculator's formulae, in UTC."""
    moment = datetime(day.year, day.month, day.day, 18, tzinfo=UTC)
    for _ in range(3):
        julian = moment.timestamp() / 86_400 + 2_440_587.5
        t = (julian - 2_451_545.0) / 36_525
        mean_long = math.radians((280.46646 + t * 36_000.76983) % 360)
        anomaly = math.radians(357.52911 + t * 35_999.05029)
        ecc = 0.016708634 - t * 0.000042037
        centre = math.sin(anomaly) * 1.914602 + math.sin(2 * anomaly) * 0.019993
        true_long = math.radians(math.degrees(mean_long) + centre - 0.00569)
        obliquity = math.radians(23.439291 - 0.0130042 * t)
        declination = math.asin(math.sin(obliquity) * math.sin(true_long))
        y = math.tan(obliquity / 2) ** 2
        equation_min = 4 * math.degrees(
            y * math.sin(2 * mean_long)
            - 2 * ecc * math.sin(anomaly)
            + 4 * ecc * y * math.sin(anomaly) * math.cos(2 * mean_long)
        )
        phi = math.radians(latitude)
        hour_angle = math.degrees(
            math.acos(
                (math.sin(math.radians(-0.833)) - math.sin(phi) * math.sin(declination))
                / (math.cos(phi) * math.cos(declination))
            )
        )
        minutes = 720 - 4 * longitude - equation_min + 4 * hour_angle
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minutes)
    return moment


def _pay_at(town: Town, clock: Clock, moment: datetime, payer: Customer, payee: Customer) -> Movement:
    clock.at(moment)
    return town.container.payments.transfer(new_movement_id(), payer, payee.msisdn, 5_000)


def _earned(movement: Movement) -> bool:
    return bool(movement.details.get("extras"))


def _reasons(town: Town, movement: Movement) -> list[Reason | None]:
    return [v.reason for v in town.container.promotions.why(movement)]


def test_a_campaign_starts_and_ends_on_the_second_in_the_citys_zone(town: Town, clock: Clock) -> None:
    ama, kofi = town.wallet("Ama", 100_000), town.wallet("Kofi")
    # Cotonou's clocks are an hour ahead of UTC: 18:00 there is 17:00 UTC.
    campaign = town.campaign(
        city="cotonou", starts_at="2027-01-10T18:00", ends_at="2027-01-10T20:00", budget=10_000
    )
    start, end = datetime(2027, 1, 10, 17, tzinfo=UTC), datetime(2027, 1, 10, 19, tzinfo=UTC)
    tick = timedelta(milliseconds=1)
    assert [
        _earned(_pay_at(town, clock, moment, ama, kofi)) for moment in (start - tick, start, end - tick, end)
    ] == [False, True, True, False]
    assert assert_adds_up(town, campaign).spent == 500


def test_daily_hours_open_and_close_on_the_minute_in_lome(town: Town, clock: Clock) -> None:
    ama, kofi = town.wallet("Ama", 100_000), town.wallet("Kofi")
    town.campaign(
        starts_at="2027-01-01T00:00",
        ends_at="2027-12-31T00:00",
        budget=10_000,
        rules={
            "percent": 5,
            "reward_max": 250,
            "operations": ["transfer"],
            "windows": [{"start": "12:00", "end": "14:00"}],
        },
    )
    day = datetime(2027, 1, 12, tzinfo=UTC)  # Africa/Lome is UTC all year
    moments = [
        day + timedelta(hours=11, minutes=59, seconds=59),
        day + timedelta(hours=12),
        day + timedelta(hours=13, minutes=59, seconds=59),
        day + timedelta(hours=14),
    ]
    paid = [_pay_at(town, clock, moment, ama, kofi) for moment in moments]
    assert [_earned(m) for m in paid] == [False, True, True, False]
    assert _reasons(town, paid[0]) == [Reason.OUTSIDE_WINDOW]
    why = town.container.promotions.why(paid[3])
    assert why[0].params == {"at": "12:00"}  # when it opens next, on the city's clock


def _iftar_campaign(town: Town) -> Campaign:
    return town.campaign(
        starts_at="2027-01-01T00:00",
        ends_at="2027-12-31T00:00",
        budget=10_000,
        rules={
            "percent": 5,
            "reward_max": 250,
            "operations": ["transfer"],
            "ramadan_only": True,
            "windows": [{"start": "maghrib", "end": "isha"}],
        },
    )


def test_the_iftar_window_opens_at_maghrib_on_a_ramadan_day(town: Town, clock: Clock) -> None:
    ama, kofi = town.wallet("Ama", 100_000), town.wallet("Kofi")
    campaign = _iftar_campaign(town)
    day = date(2027, 2, 20)  # the 12th day of Ramadan 1448 in Togo
    sunset = independent_sunset(day, *LOME)
    maghrib = town.container.calendar.prayer_times("lome", day).maghrib
    assert abs(maghrib - sunset) <= timedelta(minutes=2)  # the library agrees with the second computation
    before = _pay_at(town, clock, sunset - timedelta(minutes=3), ama, kofi)
    after = _pay_at(town, clock, sunset + timedelta(minutes=3), ama, kofi)
    assert (_earned(before), _earned(after)) == (False, True)
    assert _reasons(town, before) == [Reason.OUTSIDE_WINDOW]
    assert _earned(_pay_at(town, clock, maghrib, ama, kofi))  # the window's first second
    assert not _earned(_pay_at(town, clock, maghrib - timedelta(seconds=1), ama, kofi))
    assert assert_adds_up(town, campaign).spent == 500


def test_the_iftar_window_follows_togos_announced_ramadan_not_the_table(town: Town, clock: Clock) -> None:
    ama, kofi = town.wallet("Ama", 100_000), town.wallet("Kofi")
    _iftar_campaign(town)
    table_only = date(2027, 2, 8)  # Ramadan by Umm al-Qura, not yet in Togo
    after_ramadan = date(2027, 3, 20)
    for day in (table_only, after_ramadan):
        evening = independent_sunset(day, *LOME) + timedelta(minutes=5)
        paid = _pay_at(town, clock, evening, ama, kofi)
        assert not _earned(paid)
        assert _reasons(town, paid) == [Reason.NOT_RAMADAN]
    first_day = independent_sunset(date(2027, 2, 9), *LOME) + timedelta(minutes=5)
    assert _earned(_pay_at(town, clock, first_day, ama, kofi))
