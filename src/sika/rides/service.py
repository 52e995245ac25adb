"""Rides: drivers, quotes, booking, dispatch, the trip's life, payment, ratings, behind one facade.

:class:`Rides` is what the API, the chat, the workers and the console call; it builds the parts and
hands each call to the one that owns it:

- :mod:`sika.rides.store`: trips, drivers and offers, one transaction at a time (every status change
  through :func:`sika.rides.trips.next_status`);
- :mod:`sika.rides.drivers`: joining, going online, positions and the location index, hours, payouts,
  and what dispatch knows of each driver;
- :mod:`sika.rides.dispatcher`: live dispatch around the pure decision of :mod:`sika.rides.dispatch`,
  the one the simulator takes too;
- :mod:`sika.rides.billing`: the trip's money (the wallet hold, the capture, the cash commission, the
  card, the payout): every call rides make into payments;
- :mod:`sika.rides.notices`: what riders and drivers are told;
- :mod:`sika.rides.booking` (the rider's side: quote, request, cancel) and :mod:`sika.rides.journey`
  (the driver's side: accept, decline, arrive, start, complete, hand back; ratings).

Money: a wallet trip holds an estimate at booking (the quote with a margin) and captures the final
fare at completion, the rest returning to the rider; the fare is split between the driver's account
and the platform's fee revenue in the same ledger chain. A cash trip books the platform's commission
as the driver's debt (the driver's account goes negative) and a payout settles it from the driver's
wallet. A card trip is charged through the card processor at completion. Cancellations release the
hold, less a late-cancellation fee where one applies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from sika.calendar import Calendar
from sika.ledger import Ledger
from sika.rides.billing import Billing, Movement, Movements, Purchases
from sika.rides.booking import Booking
from sika.rides.cities import City, city_by_id
from sika.rides.dispatcher import TICK_TRIPS_MAX, Dispatcher
from sika.rides.driver_hours import DriverHours, HoursNow
from sika.rides.drivers import Drivers
from sika.rides.geo import Point, Router, StraightLineRouter
from sika.rides.index import LocationIndex
from sika.rides.journey import Journey
from sika.rides.notices import Notices
from sika.rides.records import Driver, Quote, Trip
from sika.rides.store import Store
from sika.wallet import Customer, Customers, Pin

__all__ = ["Driver", "Quote", "Rides", "Trip"]


class Rides:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        customers: Customers,
        payments: Movements,
        purchases: Purchases,
        *,
        cities: Sequence[City],
        index: LocationIndex,
        router: Router | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        matcher: str = "greedy",
        calendar: Calendar | None = None,
    ) -> None:
        self.cities = list(cities)
        self.index = index
        self._clock_ns = clock_ns
        router = router or StraightLineRouter()

        def clock() -> int:  # not the bound clock: tests and the demo swap ``_clock_ns`` after construction
            return self._clock_ns()

        self.store = Store(engine, clock_ns=clock)
        self.billing = Billing(engine, ledger, customers, payments, purchases, city=self.city, clock_ns=clock)
        self.notices = Notices(engine, customers, clock_ns=clock)
        self.hours = DriverHours(engine, calendar or Calendar(self.cities), self.city,
                                 self.notices.driver_msisdn)
        self.drivers = Drivers(self.store, ledger, self.billing, self.hours, index, city=self.city,
                               clock_ns=clock)
        self.dispatcher = Dispatcher(self.store, self.drivers, self.notices, self.billing, router=router,
                                     city=self.city, clock_ns=clock, matcher=matcher)
        self.booking = Booking(self.store, self.dispatcher, self.billing, self.notices, customers,
                               city=self.city, clock_ns=clock)
        self.journey = Journey(self.store, self.drivers, self.dispatcher, self.billing, self.notices,
                               router=router, city=self.city, clock_ns=clock)

    @property
    def matcher(self) -> str:
        return self.dispatcher.matcher

    def city(self, city_id: str) -> City:
        return city_by_id(self.cities, city_id)

    # The rider ----------------------------------------------------------------------------------

    def quote(self, city_id: str, vehicle_type: str, pickup: Point, dropoff: Point) -> Quote:
        return self.booking.quote(city_id, vehicle_type, pickup, dropoff)

    def request(self, trip_id: str, rider: Customer, *, city_id: str, vehicle_type: str, pickup: Point,
                dropoff: Point, payment_method: str, card_token: str | None = None, pin: Pin | None = None
                ) -> Trip:
        """Book a trip (idempotent on ``trip_id``): see :meth:`sika.rides.booking.Booking.request`."""
        return self.booking.request(trip_id, rider, city_id=city_id, vehicle_type=vehicle_type, pickup=pickup,
                                    dropoff=dropoff, payment_method=payment_method, card_token=card_token,
                                    pin=pin)

    def cancel(self, trip_id: str, *, by: str, reason: str = "", driver_id: int | None = None) -> Trip:
        """``by`` rider or system ends the trip; ``by`` driver hands it back to dispatch."""
        if by == "driver":
            return self.journey.hand_back(driver_id or 0, trip_id)
        return self.booking.cancel(trip_id, by=by, reason=reason)

    def rate(self, trip_id: str, *, by: str, stars: int, customer_id: int) -> Trip:
        return self.journey.rate(trip_id, by=by, stars=stars, customer_id=customer_id)

    def trip(self, trip_id: str) -> Trip:
        return self.store.trip(trip_id)

    def active_trip_of_rider(self, customer_id: int) -> Trip | None:
        return self.store.active_trip_of_rider(customer_id)

    # The driver ---------------------------------------------------------------------------------

    def onboard(self, customer: Customer, *, city_id: str, vehicle_type: str, plate: str) -> Driver:
        return self.drivers.onboard(customer, city_id=city_id, vehicle_type=vehicle_type, plate=plate)

    def driver(self, driver_id: int) -> Driver:
        return self.store.driver(driver_id)

    def driver_of(self, customer_id: int) -> Driver:
        return self.store.driver_of(customer_id)

    def set_documents(self, driver_id: int, status: str) -> Driver:
        return self.drivers.set_documents(driver_id, status)

    def set_online(self, driver_id: int, *, online: bool) -> Driver:
        return self.drivers.set_online(driver_id, online=online)

    def update_location(self, driver_id: int, point: Point) -> None:
        self.drivers.update_location(driver_id, point)

    def settle_driver(self, driver_id: int) -> Movement | None:
        return self.drivers.settle(driver_id)

    def driver_hours(self, driver_id: int) -> HoursNow:
        return self.drivers.driver_hours(driver_id)

    def set_fasting(self, driver_id: int, *, fasting: bool) -> Driver:
        return self.drivers.set_fasting(driver_id, fasting=fasting)

    def active_trip_of_driver(self, driver_id: int) -> Trip | None:
        return self.store.active_trip_of_driver(driver_id)

    def pending_offers(self, driver_id: int) -> list[dict[str, Any]]:
        return self.store.pending_offers(driver_id)

    def accept(self, driver_id: int, trip_id: str) -> Trip:
        return self.journey.accept(driver_id, trip_id)

    def decline(self, driver_id: int, trip_id: str) -> None:
        self.journey.decline(driver_id, trip_id)

    def arrive(self, driver_id: int, trip_id: str) -> Trip:
        return self.journey.arrive(driver_id, trip_id)

    def start(self, driver_id: int, trip_id: str) -> Trip:
        return self.journey.start(driver_id, trip_id)

    def complete(self, driver_id: int, trip_id: str, *, distance_m: int | None = None) -> Trip:
        return self.journey.complete(driver_id, trip_id, distance_m=distance_m)

    # Jobs ---------------------------------------------------------------------------------------

    def dispatch_tick(self, limit: int = TICK_TRIPS_MAX) -> int:
        return self.dispatcher.tick(limit)

    def hours_tick(self) -> None:
        self.drivers.hours_tick()
