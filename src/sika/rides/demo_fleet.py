"""Demo drivers for ``sika serve --demo``: a small fleet in Lomé that keeps itself online, answers
offers and drives trips through every state, so that a ride booked on the demo (over WhatsApp, the
terminal or the REST API) gets a driver without anyone running a driver app.

They use the real service (accept, arrive, start, complete) at an accelerated pace: a trip's minutes
pass in seconds. Nothing here runs outside the demo.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from sika.errors import SikaError
from sika.rides.geo import Point, StraightLineRouter, destination
from sika.rides.service import Rides
from sika.rides.trips import TripStatus

__all__ = ["DemoFleet"]

log = logging.getLogger(__name__)

ANSWER_AFTER_S = 3.0
PICKUP_WAIT_S = 5.0
SPEEDUP = 20.0
MOVE_EVERY_S = 20.0
_NS = 1_000_000_000
_ROUTER = StraightLineRouter()


class DemoFleet:
    def __init__(
        self, rides: Rides, driver_ids: list[int], *, seed: int = 7, clock_s: Callable[[], float] = time.time
    ) -> None:
        self._rides = rides
        self._drivers = sorted(driver_ids)
        self._rng = random.Random(seed)  # noqa: S311 (where demo drivers wander, not a secret)
        self._clock_s = clock_s
        self._moved: dict[int, float] = {}

    def tick(self) -> int:
        """One pass: keep positions fresh, answer offers, move trips on. Returns the actions taken."""
        now = self._clock_s()
        actions = 0
        for driver_id in self._drivers:
            try:
                actions += self._step(driver_id, now)
            except SikaError as exc:  # a race with a real client: try again next tick
                log.debug("demo driver %s: %s", driver_id, exc.code)
        return actions

    def _step(self, driver_id: int, now: float) -> int:
        rides = self._rides
        trip = rides.active_trip_of_driver(driver_id)
        if trip is None:
            self._wander(driver_id, now)
            for offer in rides.pending_offers(driver_id):
                sent_s = (offer["expires_at_ns"] / _NS) - rides.city("lome").offer_timeout_s
                if now - sent_s >= ANSWER_AFTER_S:
                    rides.accept(driver_id, str(offer["trip_id"]))
                    return 1
            return 0
        since = (trip.assigned_at_ns or 0) / _NS
        if trip.status is TripStatus.DRIVER_ASSIGNED:
            driver = rides.driver(driver_id)
            vehicle = rides.city(trip.city).vehicle(trip.vehicle_type)
            here = (
                Point(driver.lat, driver.lng)
                if driver.lat is not None and driver.lng is not None
                else trip.pickup
            )
            if now - since >= _ROUTER.eta_s(here, trip.pickup, vehicle.speed_kmh) / SPEEDUP:
                self._put(driver_id, trip.pickup)
                rides.arrive(driver_id, trip.id)
                return 1
        elif (
            trip.status is TripStatus.DRIVER_ARRIVED
            and now - (trip.arrived_at_ns or 0) / _NS >= PICKUP_WAIT_S
        ):
            rides.start(driver_id, trip.id)
            return 1
        elif trip.status is TripStatus.IN_PROGRESS and (
            now - (trip.started_at_ns or 0) / _NS >= trip.duration_s / SPEEDUP
        ):
            self._put(driver_id, trip.dropoff)
            rides.complete(driver_id, trip.id)
            return 1
        return 0

    def _wander(self, driver_id: int, now: float) -> None:
        if now - self._moved.get(driver_id, 0.0) < MOVE_EVERY_S:
            return
        driver = self._rides.driver(driver_id)
        city = self._rides.city(driver.city)
        here = (
            Point(driver.lat, driver.lng)
            if driver.lat is not None and driver.lng is not None
            else Point(*city.area.center)
        )
        there = destination(here, self._rng.uniform(0, 360), self._rng.uniform(50, 300))
        if not city.area.contains(there.lat, there.lng):
            there = Point(*city.area.center)
        self._put(driver_id, there)

    def _put(self, driver_id: int, point: Point) -> None:
        try:
            self._rides.update_location(driver_id, point)
            self._moved[driver_id] = self._clock_s()
        except SikaError as exc:
            if exc.code != "too_many_updates":
                raise
