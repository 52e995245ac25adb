"""Live dispatch: the pure decision of :mod:`sika.rides.dispatch` (the one the simulator takes too), fed
from the database and carried out in it.

For a trip, :meth:`Dispatcher.dispatch_one` reads where its search stands and what every driver near is
doing, asks :func:`~sika.rides.dispatch.decide`, and writes the offers it names (or ends the trip with no
driver found). The dispatch job (:meth:`Dispatcher.tick`) expires unanswered offers and runs this for
every waiting trip; with the batch matcher it pairs all waiting trips with free drivers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from sika.rides import dispatch
from sika.rides.billing import Billing
from sika.rides.cities import City, Vehicle
from sika.rides.drivers import Drivers
from sika.rides.geo import Point, Router
from sika.rides.notices import Notices
from sika.rides.records import Trip
from sika.rides.store import Store
from sika.rides.trips import Event

__all__ = ["TICK_TRIPS_MAX", "Dispatcher"]

_NS = 1_000_000_000
TICK_TRIPS_MAX = 200
# Drivers pooled per waiting request in a batch round.
_BATCH_POOL_PER_REQUEST = 10


class Dispatcher:
    def __init__(self, store: Store, drivers: Drivers, notices: Notices, billing: Billing, *, router: Router,
                 city: Callable[[str], City], clock_ns: Callable[[], int], matcher: str) -> None:
        assert matcher in ("greedy", "batch")
        self._store = store
        self._drivers = drivers
        self._notices = notices
        self._billing = billing
        self._router = router
        self._city = city
        self._clock_ns = clock_ns
        self.matcher = matcher

    @property
    def greedy(self) -> bool:
        """Trips are offered as they come (the batch matcher waits for its next round)."""
        return self.matcher == "greedy"

    def tick(self, limit: int = TICK_TRIPS_MAX) -> int:
        """The dispatch job: drivers' hours (warnings, the cap), expire unanswered offers, send the next
        batches, give up when exhausted; with the batch matcher, assign all waiting requests at once."""
        now = self._clock_ns()
        self._drivers.hours_tick()
        self._store.expire_offers(now)
        waiting = self._store.waiting_trips(limit)
        if self.matcher == "batch":
            self._match_batch(waiting)
        else:
            for trip in waiting:
                self.dispatch_one(trip)
        return len(waiting)

    def dispatch_one(self, trip: Trip) -> None:
        """Offer ``trip`` to the next batch of drivers if nobody holds an offer for it now."""
        now = self._clock_ns()
        open_offer = self._store.offered_trips([trip.id], now)
        state = self._store.dispatch_state(trip.id)
        if open_offer:
            return
        city = self._city(trip.city)
        vehicle = city.vehicle(trip.vehicle_type)
        search = dispatch.Search(
            radii_m=city.search_radii_m,
            batch=city.offer_batch,
            step=int(state["step"]),
            asked=set(state["asked"]),
        )
        states = self._drivers.states(city.id, vehicle.type, trip.rider_customer_id)
        self._drivers.catch_up()
        decision = dispatch.decide(
            search,
            trip.pickup,
            index=self._drivers.index,
            router=self._router,
            speed_kmh=vehicle.speed_kmh,
            now_s=now / _NS,
            max_age_s=city.location_max_age_s,
            state_of=states,
            trip=self.facts(trip),
            rule=city.hours,
        )
        if decision.offers:
            self._offer(trip, city, decision.offers, {"step": search.step, "asked": sorted(search.asked)})
        elif not decision.wait:  # a driver near holds another offer: the next tick asks again
            self._no_driver(trip)

    def facts(self, trip: Trip) -> dispatch.TripFacts:
        city = self._city(trip.city)
        return dispatch.TripFacts.of(
            city,
            city.vehicle(trip.vehicle_type).speed_kmh,
            route_m=trip.distance_m,
            before_iftar=self._drivers.hours.before_iftar(city.id, self._clock_ns()),
        )

    def rank(self, city: City, vehicle: Vehicle, pickup: Point, *, radius_m: float, limit: int
             ) -> list[dispatch.Candidate]:
        """Free drivers near ``pickup``, fastest to arrive first (what a quote's pickup ETA counts)."""
        self._drivers.catch_up()
        return dispatch.rank(
            pickup,
            index=self._drivers.index,
            router=self._router,
            speed_kmh=vehicle.speed_kmh,
            radius_m=radius_m,
            now_s=self._clock_ns() / _NS,
            max_age_s=city.location_max_age_s,
            available=self._drivers.free(city.id, vehicle.type),
            limit=limit,
        )

    def _match_batch(self, waiting: list[Trip]) -> None:
        now = self._clock_ns()
        self._drivers.catch_up()
        by_kind: dict[tuple[str, str], list[Trip]] = {}
        for trip in waiting:
            by_kind.setdefault((trip.city, trip.vehicle_type), []).append(trip)
        for (city_id, vehicle_type), group in sorted(by_kind.items()):
            city = self._city(city_id)
            vehicle = city.vehicle(vehicle_type)
            offered = self._store.offered_trips([t.id for t in group], now)
            requests = [(i, t.pickup) for i, t in enumerate(group) if t.id not in offered]
            states = self._drivers.states(city_id, vehicle_type)
            pool = self._pool(city, vehicle, group, requests=requests, states=states, now=now)
            pairs = dispatch.assign_batch(
                requests,
                sorted(pool.items()),
                router=self._router,
                speed_kmh=vehicle.speed_kmh,
                max_eta_s=city.search_radii_m[-1] * city.detour_factor / (vehicle.speed_kmh / 3.6),
            )
            for i, driver_id, eta in pairs:
                trip = group[i]
                # Pooled for one request, paired with another: the same rule, for this trip.
                if dispatch.offerable(states, self.facts(trip), city.hours)(driver_id):
                    self._offer(trip, city, [dispatch.Candidate(driver_id, 0.0, eta)], None)

    def _pool(self, city: City, vehicle: Vehicle, group: list[Trip], *, requests: list[tuple[int, Point]],
              states: dict[int, dispatch.DriverState], now: int) -> dict[int, Point]:
        """The drivers a batch round pairs: the nearest few each waiting request may be offered."""
        pool: dict[int, Point] = {}
        for i, pickup in requests:
            free = dispatch.offerable(states, self.facts(group[i]), city.hours)
            for candidate in dispatch.rank(
                pickup,
                index=self._drivers.index,
                router=self._router,
                speed_kmh=vehicle.speed_kmh,
                radius_m=city.search_radii_m[-1],
                now_s=now / _NS,
                max_age_s=city.location_max_age_s,
                available=free,
                limit=_BATCH_POOL_PER_REQUEST,
            ):
                position = self._drivers.index.position(candidate.driver_id)
                if position is not None:
                    pool[candidate.driver_id] = position
        return pool

    def _offer(
        self, trip: Trip, city: City, found: list[dispatch.Candidate], state: dict[str, Any] | None
    ) -> None:
        now = self._clock_ns()

        def tell(connection: Connection, driver_id: int, eta_s: float) -> None:
            self._notices.offer(connection, trip, driver_id, eta_s, now)

        self._store.add_offers(trip, [(c.driver_id, c.eta_s) for c in found], state, now=now,
                               expires=now + city.offer_timeout_s * _NS, tell=tell)

    def _no_driver(self, trip: Trip) -> None:
        if self._store.transition(trip, Event.NO_DRIVER, finished_at_ns=self._clock_ns()):
            self._billing.release(trip, "no_driver_found")
            self._notices.rider(trip, "ride_no_driver", {})
