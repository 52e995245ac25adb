"""Rides: drivers, quotes, booking, dispatch, the trip's life, payment, ratings.

The database holds the truth (trips, offers, drivers' last positions); the location index
(:mod:`sika.rides.index`: in-process H3 cells, or Redis GEO shared by processes) answers "who is
near". A process with its own in-process index catches up from the drivers' ``changed_at_ns`` before
each dispatch decision, so ``sika serve`` and ``sika worker`` agree on who is where.

Money: a wallet trip holds an estimate at booking (the quote with a margin) and captures the final
fare at completion, the rest returning to the rider; the fare is split between the driver's account
and the platform's fee revenue in the same ledger chain. A cash trip books the platform's commission
as the driver's debt (the driver's account goes negative) and a payout settles it from the driver's
wallet. A card trip is charged through the card processor at completion. Cancellations release the
hold, less a late-cancellation fee where one applies.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from sika.calendar import Calendar
from sika.db import writing
from sika.errors import SikaError
from sika.ledger import AccountFlags, AccountKind, Ledger
from sika.payments import Movement, Movements
from sika.payments.movements import Code, Leg, Role
from sika.payments.outbox import enqueue
from sika.payments.purchases import Purchases
from sika.rides import dispatch
from sika.rides.billing import Billing
from sika.rides.cities import City, Vehicle, city_by_id
from sika.rides.driver_hours import DriverHours, HoursNow, online_ns_by_driver
from sika.rides.fares import round_up
from sika.rides.geo import Point, Router, StraightLineRouter, haversine_m
from sika.rides.index import LocationIndex
from sika.rides.payment_kinds import RIDE
from sika.rides.records import Driver, DriverError, Quote, Trip, driver_of_row, trip_of_row
from sika.rides.schema import ACTIVE_STATES, drivers, offers, trips
from sika.rides.trips import Event, IllegalTransition, TripStatus, next_status
from sika.wallet import Customer, Customers, Pin

__all__ = ["Driver", "Quote", "Rides", "Trip"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
LOCATION_INTERVAL_S_MIN = 2.0
HOLD_MARGIN_BP = 15_000  # a wallet trip holds 150 % of the quote: the final fare may be higher
HOLD_TIMEOUT_S = 4 * 3600
PLATE_CHARS_MAX = 16
TICK_TRIPS_MAX = 200
RATING_MIN, RATING_MAX = 1, 5
# Longer than a payout takes (two ledger reads and one movement); a crashed payout frees it then.
PAYOUT_LEASE_S = 60
PAYMENT_METHODS = ("cash", "wallet", "card")


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
        assert matcher in ("greedy", "batch")
        self._engine = engine
        self._ledger = ledger
        self._customers = customers
        self._payments = payments
        self._purchases = purchases
        self.cities = list(cities)
        self.index = index
        self._router = router or StraightLineRouter()
        self._clock_ns = clock_ns
        self.matcher = matcher
        self._seen_ns = -1
        self._index_lock = threading.Lock()
        # A lambda, not the bound clock: tests and the demo swap ``_clock_ns`` after construction.
        self.billing = Billing(engine, ledger, customers, payments, purchases, city=self.city,
                               clock_ns=lambda: self._clock_ns())  # noqa: PLW0108
        self.hours = DriverHours(engine, calendar or Calendar(self.cities), self.city, self._driver_msisdn)

    # Cities and quotes ---------------------------------------------------------------------------

    def city(self, city_id: str) -> City:
        return city_by_id(self.cities, city_id)

    def quote(self, city_id: str, vehicle_type: str, pickup: Point, dropoff: Point) -> Quote:
        city = self.city(city_id)
        vehicle = city.vehicle(vehicle_type)
        _inside(city, pickup, "pickup")
        _inside(city, dropoff, "dropoff")
        distance = int(haversine_m(pickup, dropoff) * city.detour_factor)
        duration = int(distance / (vehicle.speed_kmh / 3.6))
        fare = vehicle.fares.price(distance, duration, city.local_hour(self._clock_ns() / _NS))
        nearest = self._rank(city, vehicle, pickup, radius_m=city.search_radii_m[-1], limit=1)
        return Quote(
            city=city.id,
            vehicle=vehicle.type,
            fare=fare,
            distance_m=distance,
            duration_s=duration,
            pickup_eta_s=int(nearest[0].eta_s) if nearest else None,
        )

    # Drivers -------------------------------------------------------------------------------------

    def onboard(self, customer: Customer, *, city_id: str, vehicle_type: str, plate: str) -> Driver:
        """A wallet holder becomes a driver; documents start ``pending`` until an operator checks them."""
        city = self.city(city_id)
        city.vehicle(vehicle_type)
        plate = "".join(plate.upper().split())
        if not 3 <= len(plate) <= PLATE_CHARS_MAX or not plate.replace("-", "").isalnum():
            raise SikaError("a plate has 3 to 16 letters and digits", code="invalid_plate")
        account = self._ledger.create_account(
            currency=city.currency,
            kind=AccountKind.DRIVER_WALLET,
            flags=AccountFlags.NONE,
            metadata={"driver": customer.msisdn},
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(drivers).values(
                        customer_id=customer.id,
                        name=customer.name,
                        city=city.id,
                        vehicle_type=vehicle_type,
                        plate=plate,
                        account_id=account.id,
                        created_at_ns=self._clock_ns(),
                    )
                )
        except IntegrityError as exc:
            self._ledger.close_account(account.id)
            raise DriverError("this wallet or this plate already has a driver", code="driver_exists") from exc
        return self.driver_of(customer.id)

    def driver(self, driver_id: int) -> Driver:
        return self._driver_where(drivers.c.id == driver_id)

    def driver_of(self, customer_id: int) -> Driver:
        return self._driver_where(drivers.c.customer_id == customer_id)

    def set_documents(self, driver_id: int, status: str) -> Driver:
        if status not in ("pending", "approved", "rejected"):
            raise SikaError("documents are pending, approved or rejected", code="validation_error")
        self._update_driver(driver_id, documents=status)
        if status != "approved":
            self.set_online(driver_id, online=False)
        return self.driver(driver_id)

    def set_online(self, driver_id: int, *, online: bool) -> Driver:
        driver = self.driver(driver_id)
        if online and driver.documents != "approved":
            raise DriverError(
                "a driver goes online once the documents are approved", code="documents_not_approved"
            )
        now = self._clock_ns()
        if online and not driver.online:
            self.hours.start_shift(driver_id, driver.city, now)  # refused while resting
        else:
            with self._engine.begin() as connection:
                self.hours.end_shift(connection, driver_id, now)
        self._update_driver(driver_id, online=online, changed_at_ns=now)
        if not online:
            self.index.remove(driver_id)
        elif driver.lat is not None and driver.lng is not None and driver.located_at_ns is not None:
            self.index.update(driver_id, Point(driver.lat, driver.lng), driver.located_at_ns / _NS)
        return self.driver(driver_id)

    def update_location(self, driver_id: int, point: Point) -> None:
        """A driver's position, inside the driver's city; more than one every two seconds is refused."""
        _inside(self.city(self.driver(driver_id).city), point, "driver's position")
        now = self._clock_ns()
        with self._engine.begin() as connection:
            done = connection.execute(
                update(drivers)
                .where(
                    drivers.c.id == driver_id,
                    or_(
                        drivers.c.located_at_ns.is_(None),
                        drivers.c.located_at_ns <= now - int(LOCATION_INTERVAL_S_MIN * _NS),
                    ),
                )
                .values(lat=point.lat, lng=point.lng, located_at_ns=now, changed_at_ns=now)
            ).rowcount
        if not done:
            self.driver(driver_id)  # unknown driver -> 404
            raise DriverError("locations are accepted every 2 seconds at most", code="too_many_updates")
        driver = self.driver(driver_id)
        if driver.online:
            self.index.update(driver_id, point, now / _NS)

    def settle_driver(self, driver_id: int) -> Movement | None:
        """Pay a driver's earnings out to the wallet, or take what the driver owes from it.

        The driver's account may go negative (cash commissions owed), so the ledger alone cannot stop
        two payouts of one balance: a payout holds a lease on the driver row while it reads the
        balance and moves it; a second one at the same time is refused (409 ``payout_in_progress``).
        """
        now = self._clock_ns()
        with self._engine.begin() as connection:
            leased = connection.execute(
                update(drivers)
                .where(
                    drivers.c.id == driver_id,
                    or_(drivers.c.payout_lock_until_ns.is_(None), drivers.c.payout_lock_until_ns < now),
                )
                .values(payout_lock_until_ns=now + PAYOUT_LEASE_S * _NS)
            ).rowcount
        if not leased:
            self.driver(driver_id)  # unknown driver -> 404
            raise DriverError("a payout is already running for this driver", code="payout_in_progress")
        try:
            return self.billing.pay_out(self.driver(driver_id))
        finally:
            with self._engine.begin() as connection:
                connection.execute(
                    update(drivers).where(drivers.c.id == driver_id).values(payout_lock_until_ns=None)
                )

    # Booking -------------------------------------------------------------------------------------

    def request(
        self,
        trip_id: str,
        rider: Customer,
        *,
        city_id: str,
        vehicle_type: str,
        pickup: Point,
        dropoff: Point,
        payment_method: str,
        card_token: str | None = None,
        pin: Pin | None = None,
    ) -> Trip:
        """Book a trip (idempotent on ``trip_id``): hold the fare for a wallet trip, then dispatch.

        A wallet trip moves money: ``pin`` is checked when given (the chat asks for it); without it the
        caller authenticated the rider with the PIN already (a session token), and a PIN lock still
        stops it.
        """
        existing = self._find(trip_id)
        if existing is not None:
            if existing.rider_customer_id != rider.id:
                raise SikaError(
                    "this Idempotency-Key was used for another request", code="idempotency_conflict"
                )
            if existing.status is TripStatus.REQUESTED and self.matcher == "greedy":
                # A first run stopped by a busy database may have stored the trip but not its offers.
                self._dispatch_one(existing)  # nothing when an offer is open already
                return self.trip(trip_id)
            return existing
        if payment_method not in PAYMENT_METHODS:
            raise SikaError("pay by cash, wallet or card", code="validation_error")
        if payment_method == "card" and not (card_token and card_token.startswith("tok_")):
            # A saved card's token only: card numbers are never stored with a trip.
            raise SikaError("a card trip needs a saved card's token (tok_…)", code="validation_error")
        self._no_active_trip(rider)
        quote = self.quote(city_id, vehicle_type, pickup, dropoff)
        if payment_method == "card":
            assert card_token is not None
            self._purchases.providers.get("card").quote("card_payment", card_token, quote.fare)
        if payment_method == "wallet":
            if pin is not None:
                rider = self._customers.verify_pin(rider.msisdn, pin)
            else:
                self._customers.ensure_unlocked(rider)
        city = self.city(city_id)
        now = self._clock_ns()
        payment_id = None
        if payment_method == "wallet":
            payment_id = f"{trip_id}.p"
            hold = round_up(quote.fare * HOLD_MARGIN_BP // 10_000, city.vehicle(vehicle_type).fares.rounding)
            assert rider.account_id is not None
            legs = [
                Leg(
                    f"{payment_id}.0",
                    rider.account_id,
                    self._payments.accounts.id("rides_clearing"),
                    hold,
                    Code.RIDE_FARE,
                    Role.PAYER,
                    pending=True,
                    timeout_s=HOLD_TIMEOUT_S,
                )
            ]
            held = self._payments.run(
                payment_id,
                legs,
                kind=RIDE,
                amount=hold,
                payer_customer_id=rider.id,
                counterparty=f"{city.name} {vehicle_type}",
                details={"trip": trip_id},
            )
            held.raise_for_failure()
        try:
            self._insert_trip(
                id=trip_id,
                rider_customer_id=rider.id,
                rider_msisdn=rider.msisdn,
                city=city.id,
                vehicle_type=vehicle_type,
                pickup_lat=pickup.lat,
                pickup_lng=pickup.lng,
                dropoff_lat=dropoff.lat,
                dropoff_lng=dropoff.lng,
                distance_m=quote.distance_m,
                duration_s=quote.duration_s,
                quoted_fare=quote.fare,
                payment_method=payment_method,
                card_token=card_token,
                payment_id=payment_id,
                status=str(TripStatus.REQUESTED),
                dispatch=json.dumps({"step": 0, "asked": []}),
                requested_at_ns=now,
                updated_at_ns=now,
            )
        except IntegrityError as exc:
            # Another booking of this rider won the race for "one trip under way": give the hold back.
            if payment_id is not None:
                self._payments.settle(
                    payment_id,
                    success=False,
                    error_code="trip_in_progress",
                    reason="another trip is under way; nothing was taken",
                )
            raise DriverError("you already have a trip under way", code="trip_in_progress") from exc
        if self.matcher == "greedy":
            self._dispatch_one(self.trip(trip_id))
        return self.trip(trip_id)

    def _insert_trip(self, **values: Any) -> None:
        with self._engine.begin() as connection:
            connection.execute(insert(trips).values(values))

    def trip(self, trip_id: str) -> Trip:
        found = self._find(trip_id)
        if found is None:
            raise SikaError(f"no trip {trip_id}", code="unknown_trip")
        return found

    def active_trip_of_rider(self, customer_id: int) -> Trip | None:
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    select(trips)
                    .where(
                        trips.c.rider_customer_id == customer_id,
                        trips.c.status.in_(("requested", *ACTIVE_STATES)),
                    )
                    .order_by(trips.c.requested_at_ns.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return None if row is None else trip_of_row(row)

    def active_trip_of_driver(self, driver_id: int) -> Trip | None:
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    select(trips).where(trips.c.driver_id == driver_id, trips.c.status.in_(ACTIVE_STATES))
                )
                .mappings()
                .first()
            )
        return None if row is None else trip_of_row(row)

    def pending_offers(self, driver_id: int) -> list[dict[str, Any]]:
        now = self._clock_ns()
        with self._engine.connect() as connection:
            rows = (
                connection.execute(
                    select(
                        offers.c.trip_id,
                        offers.c.eta_s,
                        offers.c.expires_at_ns,
                        trips.c.pickup_lat,
                        trips.c.pickup_lng,
                        trips.c.dropoff_lat,
                        trips.c.dropoff_lng,
                        trips.c.quoted_fare,
                        trips.c.payment_method,
                    )
                    .join(trips, trips.c.id == offers.c.trip_id)
                    .where(
                        offers.c.driver_id == driver_id,
                        offers.c.status == "pending",
                        offers.c.expires_at_ns > now,
                        trips.c.status == "requested",
                    )
                    .order_by(offers.c.sent_at_ns)
                )
                .mappings()
                .all()
            )
        return [dict(row) for row in rows]

    # Dispatch ------------------------------------------------------------------------------------

    def dispatch_tick(self, limit: int = TICK_TRIPS_MAX) -> int:
        """The dispatch job: drivers' hours (warnings, the cap), expire unanswered offers, send the next
        batches, give up when exhausted; with the batch matcher, assign all waiting requests at once."""
        now = self._clock_ns()
        self.hours_tick()
        with self._engine.begin() as connection:
            expired = (
                connection.execute(
                    update(offers)
                    .where(offers.c.status == "pending", offers.c.expires_at_ns <= now)
                    .values(status="expired")
                    .returning(offers.c.driver_id)
                )
                .scalars()
                .all()
            )
            for driver_id in expired:
                connection.execute(
                    update(drivers).where(drivers.c.id == driver_id).values(timed_out=drivers.c.timed_out + 1)
                )
        with self._engine.connect() as connection:
            waiting = [
                trip_of_row(row)
                for row in connection.execute(
                    select(trips)
                    .where(trips.c.status == "requested")
                    .order_by(trips.c.requested_at_ns)
                    .limit(limit)
                ).mappings()
            ]
        if self.matcher == "batch":
            self._match_batch(waiting)
        else:
            for trip in waiting:
                self._dispatch_one(trip)
        return len(waiting)

    def _dispatch_one(self, trip: Trip) -> None:
        """Offer ``trip`` to the next batch of drivers if nobody holds an offer for it now."""
        now = self._clock_ns()
        with self._engine.connect() as connection:
            open_offers = connection.execute(
                select(offers.c.id).where(
                    offers.c.trip_id == trip.id, offers.c.status == "pending", offers.c.expires_at_ns > now
                )
            ).first()
            state = json.loads(
                connection.execute(select(trips.c.dispatch).where(trips.c.id == trip.id)).scalar_one()
            )
        if open_offers is not None:
            return
        city = self.city(trip.city)
        vehicle = city.vehicle(trip.vehicle_type)
        search = dispatch.Search(
            radii_m=city.search_radii_m,
            batch=city.offer_batch,
            step=int(state["step"]),
            asked=set(state["asked"]),
        )
        states = self._driver_states(city.id, vehicle.type, trip.rider_customer_id)
        self._catch_up()
        decision = dispatch.decide(
            search,
            trip.pickup,
            index=self.index,
            router=self._router,
            speed_kmh=vehicle.speed_kmh,
            now_s=now / _NS,
            max_age_s=city.location_max_age_s,
            state_of=states,
            trip=self._facts(trip),
            rule=city.hours,
        )
        if decision.offers:
            self._offer(trip, city, decision.offers, {"step": search.step, "asked": sorted(search.asked)})
        elif not decision.wait:  # a driver near holds another offer: the next tick asks again
            self._no_driver(trip)

    def _facts(self, trip: Trip) -> dispatch.TripFacts:
        city = self.city(trip.city)
        return dispatch.TripFacts.of(
            city,
            city.vehicle(trip.vehicle_type).speed_kmh,
            route_m=trip.distance_m,
            before_iftar=self.hours.before_iftar(city.id, self._clock_ns()),
        )

    def _match_batch(self, waiting: list[Trip]) -> None:
        now = self._clock_ns()
        self._catch_up()
        by_kind: dict[tuple[str, str], list[Trip]] = {}
        for trip in waiting:
            by_kind.setdefault((trip.city, trip.vehicle_type), []).append(trip)
        for (city_id, vehicle_type), group in sorted(by_kind.items()):
            city = self.city(city_id)
            vehicle = city.vehicle(vehicle_type)
            with self._engine.connect() as connection:
                offered = set(
                    connection.execute(
                        select(offers.c.trip_id).where(
                            offers.c.trip_id.in_([t.id for t in group]),
                            offers.c.status == "pending",
                            offers.c.expires_at_ns > now,
                        )
                    ).scalars()
                )
            requests = [(i, t.pickup) for i, t in enumerate(group) if t.id not in offered]
            states = self._driver_states(city_id, vehicle_type)
            pool: dict[int, Point] = {}
            for i, pickup in requests:
                free = dispatch.offerable(states, self._facts(group[i]), city.hours)
                for candidate in dispatch.rank(
                    pickup,
                    index=self.index,
                    router=self._router,
                    speed_kmh=vehicle.speed_kmh,
                    radius_m=city.search_radii_m[-1],
                    now_s=now / _NS,
                    max_age_s=city.location_max_age_s,
                    available=free,
                    limit=10,
                ):
                    position = self.index.position(candidate.driver_id)
                    if position is not None:
                        pool[candidate.driver_id] = position
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
                if dispatch.offerable(states, self._facts(trip), city.hours)(driver_id):
                    self._offer(trip, city, [dispatch.Candidate(driver_id, 0.0, eta)], None)

    def _offer(
        self, trip: Trip, city: City, found: list[dispatch.Candidate], state: dict[str, Any] | None
    ) -> None:
        now = self._clock_ns()
        expires = now + city.offer_timeout_s * _NS
        # It reads before it writes: on SQLite take the write lock first, or a write committed by another
        # process in between (the dispatch job's) fails this one with "database is locked".
        with writing(self._engine).begin() as connection:
            own = connection.execute(select(drivers.c.id).where(
                drivers.c.customer_id == trip.rider_customer_id)).scalar()
            found = [candidate for candidate in found if candidate.driver_id != own]
            if state is not None:
                connection.execute(
                    update(trips)
                    .where(trips.c.id == trip.id, trips.c.status == "requested")
                    .values(dispatch=json.dumps(state), updated_at_ns=now)
                )
            for candidate in found:
                try:
                    with connection.begin_nested():
                        connection.execute(
                            insert(offers).values(
                                trip_id=trip.id,
                                driver_id=candidate.driver_id,
                                status="pending",
                                eta_s=int(candidate.eta_s),
                                sent_at_ns=now,
                                expires_at_ns=expires,
                            )
                        )
                except IntegrityError:
                    continue  # offered before (a reassignment): the driver already said no
                connection.execute(
                    update(drivers)
                    .where(drivers.c.id == candidate.driver_id)
                    .values(offers=drivers.c.offers + 1)
                )
                msisdn = self._driver_msisdn(connection, candidate.driver_id)
                enqueue(
                    connection,
                    dedupe_key=f"{trip.id}:offer:{candidate.driver_id}",
                    msisdn=msisdn,
                    kind="ride_offer",
                    now_ns=now,
                    params={
                        "trip": trip.id,
                        "eta_min": max(1, round(candidate.eta_s / 60)),
                        "amount": trip.quoted_fare,
                        "payment": trip.payment_method,
                    },
                )

    def _no_driver(self, trip: Trip) -> None:
        if self._transition(trip, Event.NO_DRIVER, finished_at_ns=self._clock_ns()):
            self.billing.release(trip, "no_driver_found")
            self._notify(trip, "ride_no_driver", {})

    def _driver_states(self, city_id: str, vehicle_type: str, rider_customer_id: int | None = None
                       ) -> dict[int, dispatch.DriverState]:
        """What dispatch needs to know of every online, approved driver of this kind (not the rider: a
        driver is never offered their own trip): holding a trip, holding an offer, hours, rest, fasting."""
        now = self._clock_ns()
        busy = select(trips.c.driver_id).where(
            trips.c.status.in_(ACTIVE_STATES), trips.c.driver_id.is_not(None)
        )
        # An offer still open for a trip still looking (a cancelled trip's offers are left pending).
        offered = (
            select(offers.c.driver_id)
            .join(trips, trips.c.id == offers.c.trip_id)
            .where(offers.c.status == "pending", offers.c.expires_at_ns > now, trips.c.status == "requested")
        )
        hours = online_ns_by_driver(now)
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(
                    drivers.c.id,
                    drivers.c.id.in_(busy).label("busy"),
                    drivers.c.id.in_(offered).label("offered"),
                    hours.c.online_ns,
                    drivers.c.rest_until_ns,
                    drivers.c.fasting,
                )
                .outerjoin(hours, hours.c.driver_id == drivers.c.id)
                .where(
                    drivers.c.city == city_id,
                    drivers.c.vehicle_type == vehicle_type,
                    drivers.c.online.is_(True),
                    drivers.c.documents == "approved",
                    drivers.c.customer_id != (rider_customer_id or 0),
                )
            ).all()
        return {
            row.id: dispatch.DriverState(
                busy=bool(row.busy),
                offered=bool(row.offered),
                online_s_24=(row.online_ns or 0) / _NS,
                resting=row.rest_until_ns is not None and row.rest_until_ns > now,
                fasting=bool(row.fasting),
            )
            for row in rows
        }

    def _catch_up(self) -> None:
        """Bring this process's index up to date with drivers changed elsewhere since the last look."""
        with self._index_lock:
            since = self._seen_ns
            with self._engine.connect() as connection:
                rows = connection.execute(
                    select(
                        drivers.c.id,
                        drivers.c.online,
                        drivers.c.lat,
                        drivers.c.lng,
                        drivers.c.located_at_ns,
                        drivers.c.changed_at_ns,
                    )
                    .where(drivers.c.changed_at_ns > since)
                    .order_by(drivers.c.changed_at_ns)
                ).all()
            for row in rows:
                if (
                    row.online
                    and row.lat is not None
                    and row.lng is not None
                    and row.located_at_ns is not None
                ):
                    self.index.update(row.id, Point(row.lat, row.lng), row.located_at_ns / _NS)
                else:
                    self.index.remove(row.id)
                self._seen_ns = max(self._seen_ns, row.changed_at_ns)

    def _rank(
        self, city: City, vehicle: Vehicle, pickup: Point, *, radius_m: float, limit: int
    ) -> list[dispatch.Candidate]:
        self._catch_up()
        return dispatch.rank(
            pickup,
            index=self.index,
            router=self._router,
            speed_kmh=vehicle.speed_kmh,
            radius_m=radius_m,
            now_s=self._clock_ns() / _NS,
            max_age_s=city.location_max_age_s,
            available=self._free(city.id, vehicle.type),
            limit=limit,
        )

    def hours_tick(self) -> None:
        """Warn drivers near their cap; put those past it (and on no trip) offline to rest."""
        now = self._clock_ns()
        with self._engine.connect() as connection:
            busy = set(connection.execute(select(trips.c.driver_id).where(
                trips.c.status.in_(ACTIVE_STATES), trips.c.driver_id.is_not(None))).scalars())
        for ended in self.hours.tick(now, busy):
            self.index.remove(ended.driver_id)

    def driver_hours(self, driver_id: int) -> HoursNow:
        return self.hours.now(driver_id, self.driver(driver_id).city, self._clock_ns())

    def set_fasting(self, driver_id: int, *, fasting: bool) -> Driver:
        """Fasting mode, the driver's choice: a shorter cap, no long trip just before Maghrib."""
        self._update_driver(driver_id, fasting=fasting)
        return self.driver(driver_id)

    def _fasting_guard(self, driver: Driver) -> bool:
        """A fasting driver in the minutes before Maghrib on a Ramadan day."""
        with self._engine.connect() as connection:
            fasting = connection.execute(select(drivers.c.fasting).where(drivers.c.id == driver.id)).scalar()
        return bool(fasting) and self.hours.before_iftar(driver.city, self._clock_ns())

    def _free(self, city_id: str, vehicle_type: str) -> Callable[[int], bool]:
        """Drivers a quote counts: online, holding no trip, not resting (any trip's rules aside)."""
        states = self._driver_states(city_id, vehicle_type)

        def free(driver_id: int) -> bool:
            state = states.get(driver_id)
            return state is not None and not state.busy and not state.resting

        return free

    # The driver answers --------------------------------------------------------------------------

    def accept(self, driver_id: int, trip_id: str) -> Trip:
        """Take the trip. The database makes sure it gets one driver and the driver one trip."""
        now = self._clock_ns()
        trip = self.trip(trip_id)
        try:
            with self._engine.begin() as connection:
                # The trip row first, in every accept: concurrent accepts queue on it rather than
                # deadlock on each other's offer rows.
                taken = connection.execute(
                    update(trips)
                    .where(trips.c.id == trip_id, trips.c.status == "requested")
                    .values(
                        # The state we move from is the one the WHERE requires: the machine says where to.
                        status=str(next_status(TripStatus.REQUESTED, Event.ASSIGN)),
                        driver_id=driver_id,
                        assigned_at_ns=now,
                        updated_at_ns=now,
                    )
                ).rowcount
                if not taken:
                    raise DriverError("another driver took this trip", code="trip_taken")
                if trip.rider_customer_id == self.driver(driver_id).customer_id:  # rolls back
                    raise DriverError("a driver cannot take their own trip", code="own_trip")
                offer = connection.execute(
                    update(offers)
                    .where(
                        offers.c.trip_id == trip_id,
                        offers.c.driver_id == driver_id,
                        offers.c.status == "pending",
                        offers.c.expires_at_ns > now,
                    )
                    .values(status="accepted")
                ).rowcount
                if not offer:  # rolls the assignment back
                    raise DriverError(
                        "no open offer for this trip: it expired or went to someone else", code="offer_closed"
                    )
                connection.execute(
                    update(offers)
                    .where(offers.c.trip_id == trip_id, offers.c.status == "pending")
                    .values(status="lapsed")
                )
                connection.execute(
                    update(drivers).where(drivers.c.id == driver_id).values(accepted=drivers.c.accepted + 1)
                )
        except IntegrityError as exc:
            raise DriverError("finish your current trip first", code="driver_busy") from exc
        driver = self.driver(driver_id)
        eta = self._eta_to_pickup(driver, trip)
        self._notify(
            trip,
            "ride_assigned",
            {
                "driver": driver.name,
                "plate": driver.plate,
                "eta_min": max(1, round(eta / 60)) if eta else None,
            },
        )
        return self.trip(trip_id)

    def decline(self, driver_id: int, trip_id: str) -> None:
        """Say no to an offer. It counts against the driver's acceptance, except for a fasting driver in
        the minutes before Maghrib: stopping to break the fast is not a refusal to work."""
        driver = self.driver(driver_id)
        free = self._fasting_guard(driver)
        penalty = {"offers": drivers.c.offers - 1} if free else {"declined": drivers.c.declined + 1}
        with self._engine.begin() as connection:
            done = connection.execute(
                update(offers)
                .where(
                    offers.c.trip_id == trip_id, offers.c.driver_id == driver_id, offers.c.status == "pending"
                )
                .values(status="declined")
            ).rowcount
            if done:
                connection.execute(update(drivers).where(drivers.c.id == driver_id).values(penalty))
        if not done:
            raise DriverError("no open offer for this trip", code="offer_closed")
        trip = self.trip(trip_id)
        if trip.status is TripStatus.REQUESTED and self.matcher == "greedy":
            self._dispatch_one(trip)

    def arrive(self, driver_id: int, trip_id: str) -> Trip:
        trip = self._own(driver_id, trip_id)
        if not self._transition(trip, Event.ARRIVE, arrived_at_ns=self._clock_ns()):
            raise IllegalTransition("this trip moved on meanwhile")
        driver = self.driver(driver_id)
        self._notify(trip, "ride_arrived", {"driver": driver.name, "plate": driver.plate})
        return self.trip(trip_id)

    def start(self, driver_id: int, trip_id: str) -> Trip:
        trip = self._own(driver_id, trip_id)
        if not self._transition(trip, Event.START, started_at_ns=self._clock_ns()):
            raise IllegalTransition("this trip moved on meanwhile")
        return self.trip(trip_id)

    def complete(self, driver_id: int, trip_id: str, *, distance_m: int | None = None) -> Trip:
        """End the trip: the final fare from the distance ridden and the time taken, then payment."""
        trip = self._own(driver_id, trip_id)
        city = self.city(trip.city)
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
        fare = self.billing.final_fare(trip, priced)
        with self._engine.begin() as connection:
            done = connection.execute(
                update(trips)
                .where(trips.c.id == trip.id, trips.c.status == str(TripStatus.IN_PROGRESS))
                .values(
                    status=str(next_status(trip.status, Event.COMPLETE)),
                    final_fare=fare,
                    distance_m=ridden,
                    finished_at_ns=now,
                    updated_at_ns=now,
                )
            ).rowcount
            if done:
                connection.execute(
                    update(drivers).where(drivers.c.id == driver_id).values(completed=drivers.c.completed + 1)
                )
        if not done:
            raise IllegalTransition(f"a trip that is {trip.status} cannot complete")
        trip = self.trip(trip_id)
        try:
            self.billing.charge(trip, fare)
        except SikaError as exc:
            if trip.payment_method != "card":
                raise
            # The card refused the fare at once: the rider pays the driver in cash, as on the street.
            log.warning("card refused for trip %s (%s): paid in cash instead", trip.id, exc.code)
            with self._engine.begin() as connection:
                connection.execute(
                    update(trips).where(trips.c.id == trip.id).values(payment_method="cash", card_token=None)
                )
            trip = self.trip(trip_id)
            self.billing.charge(trip, fare)
        self._notify(trip, "ride_completed", {"amount": fare, "payment": trip.payment_method})
        earning = fare - vehicle.fares.commission(fare)
        self._notify_driver(
            trip,
            driver_id,
            "ride_earning",
            {"amount": fare, "earning": earning, "payment": trip.payment_method},
        )
        return self.trip(trip_id)

    def cancel(self, trip_id: str, *, by: str, reason: str = "", driver_id: int | None = None) -> Trip:
        """``by`` rider or system ends the trip; ``by`` driver hands it back to dispatch."""
        trip = self.trip(trip_id)
        reason = " ".join(reason.split())[:140]
        now = self._clock_ns()
        if by == "driver":
            trip = self._own(driver_id or 0, trip_id)
            with self._engine.connect() as connection:
                state = json.loads(
                    connection.execute(select(trips.c.dispatch).where(trips.c.id == trip_id)).scalar_one()
                )
            # Search again from the nearest ring, but not among those who already said no.
            state["step"] = 0
            if not self._transition(
                trip,
                Event.DRIVER_CANCEL,
                driver_id=None,
                assigned_at_ns=None,
                arrived_at_ns=None,
                dispatch=json.dumps(state),
            ):
                raise IllegalTransition("this trip moved on meanwhile")
            with self._engine.begin() as connection:
                connection.execute(
                    update(drivers)
                    .where(drivers.c.id == trip.driver_id)
                    .values(cancelled=drivers.c.cancelled + 1)
                )
            self._notify(trip, "ride_reassigning", {})
            retried = self.trip(trip_id)
            if self.matcher == "greedy":
                self._dispatch_one(retried)
            return self.trip(trip_id)
        if by not in ("rider", "system"):
            raise SikaError(
                "a trip is cancelled by the rider, the driver or the system", code="validation_error"
            )
        policy = self.city(trip.city).vehicle(trip.vehicle_type).fares
        late = (
            by == "rider"
            and trip.assigned_at_ns is not None
            and policy.late_cancel_fee > 0
            and now - trip.assigned_at_ns > policy.late_cancel_after_s * _NS
            and trip.payment_method != "cash"
        )
        fee = policy.late_cancel_fee if late else 0
        if not self._transition(
            trip,
            Event.CANCEL,
            cancelled_by=by,
            cancel_reason=reason or None,
            cancel_fee=fee,
            finished_at_ns=now,
        ):
            raise IllegalTransition("this trip moved on meanwhile")
        trip = self.trip(trip_id)
        if fee:
            try:
                self.billing.charge(trip, fee)
            except SikaError as exc:  # the card refused a small charge: the fee is waived, not lost
                log.warning("late-cancellation fee of trip %s waived: %s", trip.id, exc.code)
                with self._engine.begin() as connection:
                    connection.execute(update(trips).where(trips.c.id == trip.id).values(cancel_fee=0))
                self.billing.release(trip, "ride_cancelled")
                trip = self.trip(trip_id)
        else:
            self.billing.release(trip, "ride_cancelled")
        self._notify(trip, "ride_cancelled", {"by": by, "fee": fee})
        if trip.driver_id is not None:
            self._notify_driver(trip, trip.driver_id, "ride_cancelled", {"by": by})
        return trip

    def rate(self, trip_id: str, *, by: str, stars: int, customer_id: int) -> Trip:
        """One rating each way after a completed trip: 1 to 5 stars."""
        if not RATING_MIN <= stars <= RATING_MAX:
            raise SikaError("a rating is 1 to 5 stars", code="validation_error")
        trip = self.trip(trip_id)
        if trip.status is not TripStatus.COMPLETED:
            raise IllegalTransition("a trip is rated once it is completed")
        column = trips.c.rider_rating if by == "rider" else trips.c.driver_rating
        if by == "rider" and trip.rider_customer_id != customer_id:
            raise SikaError(f"no trip {trip_id}", code="unknown_trip")
        if by == "driver" and (
            trip.driver_id is None or self.driver(trip.driver_id).customer_id != customer_id
        ):
            raise SikaError(f"no trip {trip_id}", code="unknown_trip")
        with self._engine.begin() as connection:
            done = connection.execute(
                update(trips).where(trips.c.id == trip_id, column.is_(None)).values({column.name: stars})
            ).rowcount
            if done and by == "rider" and trip.driver_id is not None:
                connection.execute(
                    update(drivers)
                    .where(drivers.c.id == trip.driver_id)
                    .values(rating_sum=drivers.c.rating_sum + stars, rating_count=drivers.c.rating_count + 1)
                )
        if not done:
            raise DriverError("this trip was rated already", code="already_rated")
        return self.trip(trip_id)

    # Internals -----------------------------------------------------------------------------------

    def _transition(self, trip: Trip, event: Event, **values: Any) -> bool:
        target = next_status(trip.status, event)
        with self._engine.begin() as connection:
            return bool(
                connection.execute(
                    update(trips)
                    .where(trips.c.id == trip.id, trips.c.status == str(trip.status))
                    .values(status=str(target), updated_at_ns=self._clock_ns(), **values)
                ).rowcount
            )

    def _own(self, driver_id: int, trip_id: str) -> Trip:
        trip = self.trip(trip_id)
        if trip.driver_id != driver_id:
            raise SikaError(f"no trip {trip_id} for this driver", code="unknown_trip")
        return trip

    def _no_active_trip(self, rider: Customer) -> None:
        if self.active_trip_of_rider(rider.id) is not None:
            raise DriverError("you already have a trip under way", code="trip_in_progress")

    def _eta_to_pickup(self, driver: Driver, trip: Trip) -> float | None:
        if driver.lat is None or driver.lng is None:
            return None
        vehicle = self.city(trip.city).vehicle(trip.vehicle_type)
        return self._router.eta_s(Point(driver.lat, driver.lng), trip.pickup, vehicle.speed_kmh)

    def _notify(self, trip: Trip, kind: str, params: dict[str, Any]) -> None:
        now = self._clock_ns()
        with self._engine.begin() as connection:
            enqueue(
                connection,
                dedupe_key=f"{trip.id}:{kind}:{trip.status}:{now}",
                msisdn=trip.rider_msisdn,
                kind=kind,
                now_ns=now,
                params={"trip": trip.id, **params},
            )

    def _notify_driver(self, trip: Trip, driver_id: int, kind: str, params: dict[str, Any]) -> None:
        now = self._clock_ns()
        # Read before the write transaction: on SQLite a transaction that reads first cannot wait for
        # the write lock another connection holds.
        with self._engine.connect() as connection:
            msisdn = self._driver_msisdn(connection, driver_id)
        with self._engine.begin() as connection:
            enqueue(
                connection,
                dedupe_key=f"{trip.id}:{kind}:driver:{now}",
                msisdn=msisdn,
                kind=kind,
                now_ns=now,
                params={"trip": trip.id, **params},
            )

    def _driver_msisdn(self, connection: Any, driver_id: int) -> str:
        """The driver's number, through the wallet's service (rides keep off the wallet's tables)."""
        customer_id = connection.execute(
            select(drivers.c.customer_id).where(drivers.c.id == driver_id)
        ).scalar_one()
        return self._customers.by_id(int(customer_id)).msisdn

    def _find(self, trip_id: str) -> Trip | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(trips).where(trips.c.id == trip_id)).mappings().first()
        return None if row is None else trip_of_row(row)

    def _driver_where(self, *where: Any) -> Driver:
        with self._engine.connect() as connection:
            row = connection.execute(select(drivers).where(and_(*where))).mappings().first()
        if row is None:
            raise SikaError("no such driver", code="unknown_driver")
        return driver_of_row(row)

    def _update_driver(self, driver_id: int, **values: Any) -> None:
        with self._engine.begin() as connection:
            done = connection.execute(
                update(drivers).where(drivers.c.id == driver_id).values(values)
            ).rowcount
        if not done:
            raise SikaError("no such driver", code="unknown_driver")


def _inside(city: City, point: Point, what: str) -> None:
    if not city.area.contains(point.lat, point.lng):
        raise SikaError(f"the {what} is outside {city.name}'s service area", code="outside_service_area")
