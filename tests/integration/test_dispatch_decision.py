"""The simulator and the live service take the same dispatch decision on the same situation.

Lomé, 1 March 2026 (Ramadan), 17:50, 17 minutes before Maghrib. Around the Grand marché: a busy driver,
a driver holding another trip's offer, a driver 11.9 hours into the day, a fasting driver, two free
drivers and one farther out. A rider asks for a long trip (6 km, to Tokoin). The live service (database,
offers) and the simulator (its own fleet, same positions and states) must offer it to the same drivers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.rides.cities import DEFAULT_CITIES, city_by_id
from sika.rides.dispatch import Search
from sika.rides.geo import Point
from sika.rides.service import Driver, Rides
from sika.rides.simulation import SimRequest, Simulation, SimulationConfig
from sika.wallet import Customer, Pin

LOME = city_by_id(DEFAULT_CITIES, "lome")
PICKUP = Point(6.1319, 1.2228)
TOKOIN = Point(6.1725, 1.2145)
AT = datetime(2026, 3, 1, 17, 50, tzinfo=UTC)
HOUR_S = 3_600
# (name, position, state) in order of distance from the pickup.
DRIVERS = [
    ("busy", Point(6.1320, 1.2229), "busy"),
    ("offered", Point(6.1322, 1.2231), "offered"),
    ("tired", Point(6.1325, 1.2234), "tired"),
    ("fasting", Point(6.1328, 1.2237), "fasting"),
    ("free near", Point(6.1335, 1.2245), "free"),
    ("free", Point(6.1345, 1.2255), "free"),
    ("free far", Point(6.1450, 1.2228), "free"),  # 1.5 km: beyond the first search radius
]
_numbers = itertools.count(10)


class Clock:
    def __init__(self) -> None:
        self.now_ns = int(AT.timestamp()) * 10**9

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    yield built
    built.close()


def person(container: Container, name: str) -> Customer:
    msisdn = f"+228920{next(_numbers):05d}"
    container.customers.open(msisdn, name, pin=Pin("4827"), tier=1)
    return container.customers.get(msisdn)


def online(container: Container, rides: Rides, name: str, at: Point, *, fasting: bool = False) -> Driver:
    made = rides.onboard(person(container, name), city_id="lome", vehicle_type="moto",
                         plate=f"TG-{next(_numbers)}-DD")
    rides.set_documents(made.id, "approved")
    rides.set_fasting(made.id, fasting=fasting)
    rides.update_location(made.id, at)
    return rides.set_online(made.id, online=True)


def book(container: Container, rides: Rides, dropoff: Point) -> str:
    return rides.request(f"trip-{next(_numbers)}", person(container, "Rider"), city_id="lome",
                         vehicle_type="moto", pickup=PICKUP, dropoff=dropoff, payment_method="cash").id


def live_offers(container: Container) -> set[str]:
    rides = container.rides
    assert rides is not None
    clock = Clock()
    rides._clock_ns = clock
    made: dict[str, Driver] = {}
    clock.now_ns -= int(11.9 * HOUR_S) * 10**9  # the tired driver started at 05:56
    made["tired"] = online(container, rides, "tired", DRIVERS[2][1])
    clock.now_ns = int(AT.timestamp()) * 10**9
    rides.update_location(made["tired"].id, DRIVERS[2][1])
    made["busy"] = online(container, rides, "busy", DRIVERS[0][1])
    rides.accept(made["busy"].id, book(container, rides, TOKOIN))  # offered to busy (tired is capped)
    made["offered"] = online(container, rides, "offered", DRIVERS[1][1])
    held = book(container, rides, TOKOIN)
    assert [o["trip_id"] for o in rides.pending_offers(made["offered"].id)] == [held]
    for name, at, state in DRIVERS[3:]:
        made[name] = online(container, rides, name, at, fasting=state == "fasting")
    trip = book(container, rides, TOKOIN)
    return {name for name, d in made.items() if trip in [o["trip_id"] for o in rides.pending_offers(d.id)]}


def simulated_offers() -> set[str]:
    config = SimulationConfig(city=LOME, drivers=len(DRIVERS), hours=1.0, fatigue=True, day=date(2026, 3, 1),
                              start_hour=17 + 50 / 60, fasting_share=0.0)
    simulation = Simulation(config)
    for driver, (_, at, state) in zip(simulation.drivers, DRIVERS, strict=True):
        driver.position, driver.online = at, True
        driver.shifts = [(-11.9 * HOUR_S if state == "tired" else 0.0, None)]
        driver.trip = 99 if state == "busy" else None
        driver.offered = state == "offered"
        driver.fasting = state == "fasting"
        if state != "busy":  # a busy driver sends no position in the simulation
            simulation.index.update(driver.id, at, 0.0)
    request = SimRequest(id=0, at_s=0.0, pickup=PICKUP, dropoff=TOKOIN, deadline_s=900.0)
    decision = simulation.decide(request, Search(radii_m=LOME.search_radii_m, batch=LOME.offer_batch))
    return {DRIVERS[c.driver_id][0] for c in decision.offers}


def test_the_simulator_and_the_live_service_offer_the_same_trip_to_the_same_drivers(
    container: Container,
) -> None:
    live = live_offers(container)
    assert live == {"free near", "free"}  # not busy, offered, tired (capped), fasting (long trip), far
    assert simulated_offers() == live
