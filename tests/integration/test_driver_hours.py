"""Drivers' hours on a real database, with a clock the test controls: dispatch offers no trip past the cap,
warnings come at 2 h, 1 h and 30 min, the cap puts the driver offline until a stated time, and fasting
mode in Lomé on a Ramadan day (1 March 2026, Maghrib at 18:07) keeps long trips from a fasting driver
in the half hour before Maghrib, forgives declines then, and reminds the driver to break the fast."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.errors import SikaError
from sika.rides.geo import Point
from sika.rides.service import Driver, Rides, Trip
from sika.rides.trips import TripStatus
from sika.wallet import Customer, Pin

PICKUP = Point(6.1319, 1.2228)        # Lomé, Grand marché
LONG_DROPOFF = Point(6.1725, 1.2145)  # Tokoin: about 6 km by road
SHORT_DROPOFF = Point(6.1450, 1.2228)  # about 1.9 km by road
HOUR_S = 3_600
_numbers = itertools.count(10)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now_ns = int(at.timestamp()) * 10**9

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 6, 3, 6, 0, tzinfo=UTC))  # a working day, outside Ramadan


@pytest.fixture
def container(database_url: str, clock: Clock) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    assert built.rides is not None
    built.rides._clock_ns = clock
    yield built
    built.close()


@pytest.fixture
def rides(container: Container) -> Rides:
    assert container.rides is not None
    return container.rides


def person(container: Container, name: str) -> Customer:
    msisdn = f"+228910{next(_numbers):05d}"
    container.customers.open(msisdn, name, pin=Pin("4827"), tier=1)
    return container.customers.get(msisdn)


def driver(container: Container, rides: Rides, name: str, at: Point, *, fasting: bool = False) -> Driver:
    made = rides.onboard(person(container, name), city_id="lome", vehicle_type="moto",
                         plate=f"TG-{next(_numbers)}-HR")
    rides.set_documents(made.id, "approved")
    rides.set_fasting(made.id, fasting=fasting)
    rides.update_location(made.id, at)
    return rides.set_online(made.id, online=True)


def book(container: Container, rides: Rides, dropoff: Point) -> Trip:
    return rides.request(f"trip-{next(_numbers)}", person(container, "Rider"), city_id="lome",
                         vehicle_type="moto", pickup=PICKUP, dropoff=dropoff, payment_method="cash")


def offered_to(rides: Rides, driver_id: int) -> list[str]:
    return [str(o["trip_id"]) for o in rides.pending_offers(driver_id)]


def notices(container: Container, rides: Rides, driver_id: int, kind: str) -> list[dict[str, object]]:
    msisdn = container.customers.by_id(rides.driver(driver_id).customer_id).msisdn
    return [m.params for m in reversed(container.outbox.feed(msisdn)) if m.kind == kind]


def move(rides: Rides, clock: Clock, drivers: list[Driver], seconds: float) -> None:
    """Time passes; the drivers' apps keep sending their positions."""
    clock.advance(seconds)
    for d in drivers:
        position = rides.driver(d.id)
        assert position.lat is not None and position.lng is not None
        rides.update_location(d.id, Point(position.lat, position.lng))


def test_dispatch_skips_a_driver_whose_trip_would_end_past_the_cap(
    container: Container, rides: Rides, clock: Clock
) -> None:
    tired = driver(container, rides, "Tired", Point(6.1322, 1.2231))  # nearest, online since 06:00
    clock.advance(11 * HOUR_S)
    fresh = driver(container, rides, "Fresh", Point(6.1340, 1.2250))  # farther, online since 17:00
    move(rides, clock, [tired, fresh], 0.8 * HOUR_S)  # 17:48: 11.8 h for Tired, 0.8 h for Fresh
    assert rides.driver_hours(tired.id).online_s_24 == pytest.approx(11.8 * HOUR_S)
    trip = book(container, rides, LONG_DROPOFF)
    assert offered_to(rides, tired.id) == []  # 12 minutes left: the trip would end past the cap
    assert offered_to(rides, fresh.id) == [trip.id]


def test_warnings_at_two_hours_one_hour_and_thirty_minutes_left_then_offline_until_a_stated_time(
    container: Container, rides: Rides, clock: Clock
) -> None:
    kodjo = driver(container, rides, "Kodjo", Point(6.1322, 1.2231))
    for hours_online, expected in ((9.9, []), (10.0, [120]), (10.5, [120]), (11.0, [120, 60]),
                                   (11.5, [120, 60, 30]), (11.9, [120, 60, 30])):
        clock.now_ns = int(datetime(2026, 6, 3, 6, 0, tzinfo=UTC).timestamp() + hours_online * HOUR_S) * 10**9
        rides.dispatch_tick()
        rides.dispatch_tick()  # a second tick, another worker: no warning twice
        assert [n["minutes"] for n in notices(container, rides, kodjo.id, "driver_hours_left")] == expected
    assert rides.driver(kodjo.id).online
    clock.advance(0.1 * HOUR_S)  # 18:00: twelve hours online
    rides.dispatch_tick()
    assert not rides.driver(kodjo.id).online
    hours = rides.driver_hours(kodjo.id)
    # Twelve hours straight: back once the last 24 h leave an hour to drive (07:00 next day), 13 h of rest.
    assert hours.rest_until_ns == int(datetime(2026, 6, 4, 7, 0, tzinfo=UTC).timestamp()) * 10**9
    assert hours.online_s_24 == pytest.approx(12 * HOUR_S)
    assert notices(container, rides, kodjo.id, "driver_rest") == [{"until": "07:00", "hours": 12,
                                                                   "category": "service"}]
    clock.advance(6 * HOUR_S)
    with pytest.raises(SikaError) as refused:
        rides.set_online(kodjo.id, online=True)
    assert (refused.value.code, str(refused.value)) == ("driver_resting",
                                                        "rest first: you may drive again at 07:00")
    clock.advance(7 * HOUR_S)  # 07:00 next day
    assert rides.set_online(kodjo.id, online=True).online


def test_a_driver_who_split_the_day_rests_six_hours(container: Container, rides: Rides, clock: Clock) -> None:
    afi = driver(container, rides, "Afi", Point(6.1322, 1.2231))
    clock.advance(2 * HOUR_S)  # 06:00-08:00 online
    rides.set_online(afi.id, online=False)
    clock.advance(8 * HOUR_S)
    rides.set_online(afi.id, online=True)  # 16:00
    clock.advance(10 * HOUR_S)  # 02:00: twelve hours online in the last 24
    rides.dispatch_tick()
    # Six hours of rest (08:00); by then the morning's two hours have left the window.
    assert rides.driver_hours(afi.id).rest_until_ns == clock.now_ns + 6 * HOUR_S * 10**9


@pytest.fixture
def ramadan(clock: Clock) -> Clock:
    clock.now_ns = int(datetime(2026, 3, 1, 17, 40, tzinfo=UTC).timestamp()) * 10**9  # Lomé: UTC all year
    return clock


def test_a_fasting_driver_gets_no_long_trip_in_the_half_hour_before_maghrib_in_lome(
    container: Container, rides: Rides, ramadan: Clock
) -> None:
    fasting = driver(container, rides, "Fasting", Point(6.1322, 1.2231), fasting=True)
    other = driver(container, rides, "Other", Point(6.1345, 1.2255))
    assert notices(container, rides, fasting.id, "driver_safety_tips") == [{"category": "service"}]
    # 17:40, 27 minutes before Maghrib (18:07): inside the guard.
    long_trip = book(container, rides, LONG_DROPOFF)
    assert offered_to(rides, fasting.id) == []
    assert offered_to(rides, other.id) == [long_trip.id]
    rides.accept(other.id, long_trip.id)
    short_trip = book(container, rides, SHORT_DROPOFF)
    assert offered_to(rides, fasting.id) == [short_trip.id]
    # A decline then is no refusal to work: it does not count against the driver.
    rides.decline(fasting.id, short_trip.id)
    after = rides.driver(fasting.id)
    assert (after.offers, after.declined, after.acceptance_ratio) == (0, 0, None)
    assert rides.trip(short_trip.id).status is TripStatus.NO_DRIVER_FOUND


def test_outside_the_guard_the_same_driver_gets_the_long_trip_and_a_decline_counts(
    container: Container, rides: Rides, ramadan: Clock
) -> None:
    ramadan.advance(-2 * HOUR_S)  # 15:40
    fasting = driver(container, rides, "Fasting", Point(6.1322, 1.2231), fasting=True)
    trip = book(container, rides, LONG_DROPOFF)
    assert offered_to(rides, fasting.id) == [trip.id]
    rides.decline(fasting.id, trip.id)
    after = rides.driver(fasting.id)
    assert (after.offers, after.declined) == (1, 1)


def test_a_fasting_driver_is_reminded_at_maghrib_to_stop_and_break_the_fast(
    container: Container, rides: Rides, ramadan: Clock
) -> None:
    fasting = driver(container, rides, "Fasting", Point(6.1322, 1.2231), fasting=True)
    not_fasting = driver(container, rides, "Not fasting", Point(6.1345, 1.2255))
    rides.dispatch_tick()
    assert notices(container, rides, fasting.id, "driver_iftar") == []
    ramadan.advance(28 * 60)  # 18:08
    rides.dispatch_tick()
    rides.dispatch_tick()
    reminders = notices(container, rides, fasting.id, "driver_iftar")
    assert reminders == [{"maghrib": "18:07", "category": "service"}]
    assert notices(container, rides, not_fasting.id, "driver_iftar") == []


def test_the_fasting_cap_is_shorter(container: Container, rides: Rides, ramadan: Clock) -> None:
    fasting = driver(container, rides, "Fasting", Point(6.1322, 1.2231), fasting=True)
    assert rides.driver_hours(fasting.id).cap_s == 8 * HOUR_S
    ramadan.advance(8 * HOUR_S)
    rides.dispatch_tick()
    assert not rides.driver(fasting.id).online
