"""The driver's side of a trip: answering an offer, arriving, starting, completing, handing the trip back;
and the ratings each way once it is done.

Every status change goes through :func:`sika.rides.trips.next_status` (in :class:`~sika.rides.store.Store`).
A driver who cancels does not end the trip: it goes back to ``requested`` and the search starts again
from the nearest ring, among everyone but those who already said no.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from sika.errors import SikaError
from sika.rides.billing import Billing
from sika.rides.cities import City
from sika.rides.dispatcher import Dispatcher
from sika.rides.drivers import Drivers
from sika.rides.geo import Point, Router
from sika.rides.notices import Notices
from sika.rides.records import Driver, DriverError, Trip
from sika.rides.store import Store
from sika.rides.trips import Event, IllegalTransition, TripStatus

__all__ = ["Journey"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
RATING_MIN, RATING_MAX = 1, 5


class Journey:
    def __init__(self, store: Store, drivers: Drivers, dispatcher: Dispatcher, billing: Billing,
                 notices: Notices, *, router: Router, city: Callable[[str], City],
                 clock_ns: Callable[[], int]) -> None:
        self._store = store
        self._drivers = drivers
        self._dispatcher = dispatcher
        self._billing = billing
        self._notices = notices
        self._router = router
        self._city = city
        self._clock_ns = clock_ns

    def accept(self, driver_id: int, trip_id: str) -> Trip:
        """Take the trip. The database makes sure it gets one driver and the driver one trip."""
        trip = self._store.trip(trip_id)
        self._store.assign(trip, driver_id)
        driver = self._store.driver(driver_id)
        eta = self._eta_to_pickup(driver, trip)
        self._notices.rider(
            trip,
            "ride_assigned",
            {
                "driver": driver.name,
                "plate": driver.plate,
                "eta_min": max(1, round(eta / 60)) if eta else None,
            },
        )
        return self._store.trip(trip_id)

    def decline(self, driver_id: int, trip_id: str) -> None:
        """Say no to an offer. It counts against the driver's acceptance, except for a fasting driver in
        the minutes before Maghrib: stopping to break the fast is not a refusal to work."""
        driver = self._store.driver(driver_id)
        # Breaking the fast: the offer is taken back off the driver's count rather than declined.
        penalty = {"offers": -1} if self._drivers.before_iftar(driver) else {"declined": 1}
        if not self._store.decline(trip_id, driver_id, **penalty):
            raise DriverError("no open offer for this trip", code="offer_closed")
        trip = self._store.trip(trip_id)
        if trip.status is TripStatus.REQUESTED and self._dispatcher.greedy:
            self._dispatcher.dispatch_one(trip)

    def arrive(self, driver_id: int, trip_id: str) -> Trip:
        trip = self._store.trip_of_driver(driver_id, trip_id)
        if not self._store.transition(trip, Event.ARRIVE, arrived_at_ns=self._clock_ns()):
            raise IllegalTransition("this trip moved on meanwhile")
        driver = self._store.driver(driver_id)
        self._notices.rider(trip, "ride_arrived", {"driver": driver.name, "plate": driver.plate})
        return self._store.trip(trip_id)

    def start(self, driver_id: int, trip_id: str) -> Trip:
        trip = self._store.trip_of_driver(driver_id, trip_id)
        if not self._store.transition(trip, Event.START, started_at_ns=self._clock_ns()):
            raise IllegalTransition("this trip moved on meanwhile")
        return self._store.trip(trip_id)

    def complete(self, driver_id: int, trip_id: str, *, distance_m: int | None = None) -> Trip:
        """End the trip: the final fare from the distance ridden and the time taken, then payment."""
        trip = self._store.trip_of_driver(driver_id, trip_id)
        if trip.status is TripStatus.COMPLETED and trip.final_fare is not None:
            # The driver's retry: the trip ended but its fare may not have been taken (the ledger busy,
            # the process stopped in between). Taking it again is safe: every payment step is idempotent.
            # The notices are queued once per trip, so saying them again is safe too (and makes sure
            # they went, if the first try stopped before them).
            self._paid(trip, trip.final_fare, pay=self._billing.unpaid(trip))
            return self._store.trip(trip_id)
        city = self._city(trip.city)
        vehicle = city.vehicle(trip.vehicle_type)
        now = self._clock_ns()
        # A driver's odometer is believed within reason: between half and three times the estimate.
        ridden = (
            trip.distance_m
            if distance_m is None
            else min(max(distance_m, trip.distance_m // 2), trip.distance_m * 3)
        )
        started = trip.started_at_ns or now
        duration = max(0, (now - started) // _NS)
        priced = vehicle.fares.price(ridden, duration, city.local_hour(started / _NS))
        fare = self._billing.final_fare(trip, priced)
        if not self._store.complete(trip, driver_id, final_fare=fare, distance_m=ridden, finished_at_ns=now,
                                    updated_at_ns=now):
            raise IllegalTransition(f"a trip that is {trip.status} cannot complete")
        self._paid(self._store.trip(trip_id), fare)
        return self._store.trip(trip_id)

    def _paid(self, trip: Trip, fare: int, *, pay: bool = True) -> None:
        """Take the fare (unless ``pay`` is false: taken already), then tell the rider and the driver."""
        driver_id = trip.driver_id
        assert driver_id is not None
        if pay:
            trip = self._pay(trip, fare)
        self._notices.rider(trip, "ride_completed", {"amount": fare, "payment": trip.payment_method},
                            once=True)
        earning = fare - self._city(trip.city).vehicle(trip.vehicle_type).fares.commission(fare)
        self._notices.driver(
            trip,
            driver_id,
            "ride_earning",
            {"amount": fare, "earning": earning, "payment": trip.payment_method},
            once=True,
        )

    def _pay(self, trip: Trip, fare: int) -> Trip:
        """Take the fare; a card that refuses it at once leaves a cash trip, as on the street."""
        try:
            self._billing.charge(trip, fare)
        except SikaError as exc:
            if trip.payment_method != "card":
                raise
            log.warning("card refused for trip %s (%s): paid in cash instead", trip.id, exc.code)
            self._store.set_trip(trip.id, payment_method="cash", card_token=None)
            trip = self._store.trip(trip.id)
            self._billing.charge(trip, fare)
        return trip

    def hand_back(self, driver_id: int, trip_id: str) -> Trip:
        """The driver cancels: the trip looks for another driver (the cancellation counts)."""
        trip = self._store.trip_of_driver(driver_id, trip_id)
        state = self._store.dispatch_state(trip_id)
        # Search again from the nearest ring, but not among those who already said no.
        state["step"] = 0
        if not self._store.transition(
            trip,
            Event.DRIVER_CANCEL,
            driver_id=None,
            assigned_at_ns=None,
            arrived_at_ns=None,
            dispatch=json.dumps(state),
        ):
            raise IllegalTransition("this trip moved on meanwhile")
        assert trip.driver_id is not None
        self._store.bump(trip.driver_id, cancelled=1)
        self._notices.rider(trip, "ride_reassigning", {})
        retried = self._store.trip(trip_id)
        if self._dispatcher.greedy:
            self._dispatcher.dispatch_one(retried)
        return self._store.trip(trip_id)

    def rate(self, trip_id: str, *, by: str, stars: int, customer_id: int) -> Trip:
        """One rating each way after a completed trip: 1 to 5 stars."""
        if not RATING_MIN <= stars <= RATING_MAX:
            raise SikaError("a rating is 1 to 5 stars", code="validation_error")
        trip = self._store.trip(trip_id)
        if trip.status is not TripStatus.COMPLETED:
            raise IllegalTransition("a trip is rated once it is completed")
        if by == "rider" and trip.rider_customer_id != customer_id:
            raise SikaError(f"no trip {trip_id}", code="unknown_trip")
        if by == "driver" and (
            trip.driver_id is None or self._store.driver(trip.driver_id).customer_id != customer_id
        ):
            raise SikaError(f"no trip {trip_id}", code="unknown_trip")
        if not self._store.rate(trip, by=by, stars=stars):
            raise DriverError("this trip was rated already", code="already_rated")
        return self._store.trip(trip_id)

    def _eta_to_pickup(self, driver: Driver, trip: Trip) -> float | None:
        if driver.lat is None or driver.lng is None:
            return None
        vehicle = self._city(trip.city).vehicle(trip.vehicle_type)
        return self._router.eta_s(Point(driver.lat, driver.lng), trip.pickup, vehicle.speed_kmh)
