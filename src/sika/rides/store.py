"""The rides' rows: trips, drivers and offers, read and written one transaction at a time.

Every statement that changes a trip's status takes its target from :func:`sika.rides.trips.next_status`
and requires, in its WHERE, the status it moves from: two processes racing on one trip cannot both win,
and no status is written that the state machine does not allow. Counters on the driver row (offers,
accepted, declined, timed out, completed, ratings) move in the transaction of the change they count; a
driver's cancellation is counted just after the trip goes back to ``requested``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from sika.db import writing
from sika.errors import SikaError
from sika.rides.records import Driver, DriverError, Trip, driver_of_row, trip_of_row
from sika.rides.schema import ACTIVE_STATES, drivers, offers, trips
from sika.rides.trips import Event, TripStatus, next_status

__all__ = ["NewOffer", "Store", "bump"]

# An offer to write: driver id and pickup ETA in seconds.
NewOffer = tuple[int, float]


def bump(connection: Connection, driver_id: int, **deltas: int) -> None:
    """Add ``deltas`` to the driver's counters (``offers=1``, ``declined=1``…) in ``connection``."""
    connection.execute(
        update(drivers)
        .where(drivers.c.id == driver_id)
        .values({name: drivers.c[name] + delta for name, delta in deltas.items()})
    )


class Store:
    def __init__(self, engine: Engine, *, clock_ns: Callable[[], int]) -> None:
        self.engine = engine
        self._clock_ns = clock_ns

    # Trips ---------------------------------------------------------------------------------------

    def find(self, trip_id: str) -> Trip | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(trips).where(trips.c.id == trip_id)).mappings().first()
        return None if row is None else trip_of_row(row)

    def trip(self, trip_id: str) -> Trip:
        found = self.find(trip_id)
        if found is None:
            raise SikaError(f"no trip {trip_id}", code="unknown_trip")
        return found

    def trip_of_driver(self, driver_id: int, trip_id: str) -> Trip:
        """The trip, if ``driver_id`` drives it (anyone else is told there is no such trip)."""
        trip = self.trip(trip_id)
        if trip.driver_id != driver_id:
            raise SikaError(f"no trip {trip_id} for this driver", code="unknown_trip")
        return trip

    def insert_trip(self, **values: Any) -> None:
        """A new trip, ``requested`` (IntegrityError: the rider has another trip under way)."""
        assert values["status"] == str(TripStatus.REQUESTED)
        with self.engine.begin() as connection:
            connection.execute(insert(trips).values(values))

    def transition(self, trip: Trip, event: Event, **values: Any) -> bool:
        """Move ``trip`` by ``event`` if it is still in the status it was read in; False if it moved on."""
        target = next_status(trip.status, event)
        with self.engine.begin() as connection:
            return bool(
                connection.execute(
                    update(trips)
                    .where(trips.c.id == trip.id, trips.c.status == str(trip.status))
                    .values(status=str(target), updated_at_ns=self._clock_ns(), **values)
                ).rowcount
            )

    def set_trip(self, trip_id: str, **values: Any) -> None:
        """Change columns other than the status (a card refused: cash; a fee waived)."""
        assert "status" not in values, "a status changes through transition()"
        with self.engine.begin() as connection:
            connection.execute(update(trips).where(trips.c.id == trip_id).values(values))

    def active_trip_of_rider(self, customer_id: int) -> Trip | None:
        with self.engine.connect() as connection:
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
        with self.engine.connect() as connection:
            row = (
                connection.execute(
                    select(trips).where(trips.c.driver_id == driver_id, trips.c.status.in_(ACTIVE_STATES))
                )
                .mappings()
                .first()
            )
        return None if row is None else trip_of_row(row)

    def busy_driver_ids(self) -> set[int]:
        """Drivers holding a trip."""
        with self.engine.connect() as connection:
            return set(connection.execute(select(trips.c.driver_id).where(
                trips.c.status.in_(ACTIVE_STATES), trips.c.driver_id.is_not(None))).scalars())

    def waiting_trips(self, limit: int) -> list[Trip]:
        """Trips still looking for a driver, oldest first."""
        with self.engine.connect() as connection:
            return [
                trip_of_row(row)
                for row in connection.execute(
                    select(trips)
                    .where(trips.c.status == "requested")
                    .order_by(trips.c.requested_at_ns)
                    .limit(limit)
                ).mappings()
            ]

    def dispatch_state(self, trip_id: str) -> dict[str, Any]:
        """Where the trip's search stands: ``step`` (the radius) and ``asked`` (drivers offered it)."""
        with self.engine.connect() as connection:
            state: dict[str, Any] = json.loads(
                connection.execute(select(trips.c.dispatch).where(trips.c.id == trip_id)).scalar_one()
            )
        return state

    def complete(self, trip: Trip, driver_id: int, **values: Any) -> bool:
        """The trip in progress ends (the driver's completed count with it); False if it moved on."""
        with self.engine.begin() as connection:
            done = connection.execute(
                update(trips)
                .where(trips.c.id == trip.id, trips.c.status == str(TripStatus.IN_PROGRESS))
                .values(status=str(next_status(trip.status, Event.COMPLETE)), **values)
            ).rowcount
            if done:
                bump(connection, driver_id, completed=1)
        return bool(done)

    def rate(self, trip: Trip, *, by: str, stars: int) -> bool:
        """One rating each way; the rider's counts in the driver's average. False if rated already."""
        column = trips.c.rider_rating if by == "rider" else trips.c.driver_rating
        with self.engine.begin() as connection:
            done = connection.execute(
                update(trips).where(trips.c.id == trip.id, column.is_(None)).values({column.name: stars})
            ).rowcount
            if done and by == "rider" and trip.driver_id is not None:
                bump(connection, trip.driver_id, rating_sum=stars, rating_count=1)
        return bool(done)

    # Offers --------------------------------------------------------------------------------------

    def pending_offers(self, driver_id: int) -> list[dict[str, Any]]:
        now = self._clock_ns()
        with self.engine.connect() as connection:
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

    def offered_trips(self, trip_ids: Iterable[str], now: int) -> set[str]:
        """Those of ``trip_ids`` with an offer open now."""
        with self.engine.connect() as connection:
            return set(
                connection.execute(
                    select(offers.c.trip_id).where(
                        offers.c.trip_id.in_(list(trip_ids)),
                        offers.c.status == "pending",
                        offers.c.expires_at_ns > now,
                    )
                ).scalars()
            )

    def expire_offers(self, now: int) -> None:
        """Unanswered offers past their time expire; each counts against its driver."""
        with self.engine.begin() as connection:
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
                bump(connection, driver_id, timed_out=1)

    def add_offers(self, trip: Trip, found: list[NewOffer], state: dict[str, Any] | None, *, now: int,
                   expires: int, tell: Callable[[Connection, int, float], None]) -> None:
        """Offer ``trip`` to ``found`` (never to the rider), saving the search's ``state``; ``tell`` queues
        each driver's message in the same transaction, so that an offer and its message go together."""
        # It reads before it writes: on SQLite take the write lock first, or a write committed by another
        # process in between (the dispatch job's) fails this one with "database is locked".
        with writing(self.engine).begin() as connection:
            own = connection.execute(select(drivers.c.id).where(
                drivers.c.customer_id == trip.rider_customer_id)).scalar()
            if state is not None:
                connection.execute(
                    update(trips)
                    .where(trips.c.id == trip.id, trips.c.status == "requested")
                    .values(dispatch=json.dumps(state), updated_at_ns=now)
                )
            for driver_id, eta_s in found:
                if driver_id == own:
                    continue
                try:
                    with connection.begin_nested():
                        connection.execute(insert(offers).values(
                            trip_id=trip.id, driver_id=driver_id, status="pending", eta_s=int(eta_s),
                            sent_at_ns=now, expires_at_ns=expires))
                except IntegrityError:
                    continue  # offered before (a reassignment): the driver already said no
                bump(connection, driver_id, offers=1)
                tell(connection, driver_id, eta_s)

    def assign(self, trip: Trip, driver_id: int) -> None:
        """The driver takes the trip: one driver for the trip, one trip for the driver, the open offer
        accepted and the others lapsed, all or nothing."""
        now = self._clock_ns()
        try:
            with self.engine.begin() as connection:
                # The trip row first, in every accept: concurrent accepts queue on it rather than
                # deadlock on each other's offer rows.
                taken = connection.execute(
                    update(trips)
                    .where(trips.c.id == trip.id, trips.c.status == "requested")
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
                self._accept_offer(connection, trip.id, driver_id, now)
        except IntegrityError as exc:
            raise DriverError("finish your current trip first", code="driver_busy") from exc

    def _accept_offer(self, connection: Connection, trip_id: str, driver_id: int, now: int) -> None:
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
        bump(connection, driver_id, accepted=1)

    def decline(self, trip_id: str, driver_id: int, **penalty: int) -> bool:
        """The driver says no to an open offer (``penalty``: the counters it moves); False if none."""
        with self.engine.begin() as connection:
            done = connection.execute(
                update(offers)
                .where(
                    offers.c.trip_id == trip_id, offers.c.driver_id == driver_id, offers.c.status == "pending"
                )
                .values(status="declined")
            ).rowcount
            if done:
                bump(connection, driver_id, **penalty)
        return bool(done)

    # Drivers -------------------------------------------------------------------------------------

    def driver(self, driver_id: int) -> Driver:
        return self._driver_where(drivers.c.id == driver_id)

    def driver_of(self, customer_id: int) -> Driver:
        return self._driver_where(drivers.c.customer_id == customer_id)

    def _driver_where(self, *where: Any) -> Driver:
        with self.engine.connect() as connection:
            row = connection.execute(select(drivers).where(and_(*where))).mappings().first()
        if row is None:
            raise SikaError("no such driver", code="unknown_driver")
        return driver_of_row(row)

    def insert_driver(self, **values: Any) -> None:
        """A new driver row (IntegrityError: this wallet or this plate has one already)."""
        with self.engine.begin() as connection:
            connection.execute(insert(drivers).values(values))

    def update_driver(self, driver_id: int, **values: Any) -> None:
        with self.engine.begin() as connection:
            done = connection.execute(
                update(drivers).where(drivers.c.id == driver_id).values(values)
            ).rowcount
        if not done:
            raise SikaError("no such driver", code="unknown_driver")

    def bump(self, driver_id: int, **deltas: int) -> None:
        with self.engine.begin() as connection:
            bump(connection, driver_id, **deltas)

    def move_driver(self, driver_id: int, lat: float, lng: float, *, now: int, interval_ns: int) -> bool:
        """Record the driver's position unless the last one is younger than ``interval_ns``."""
        with self.engine.begin() as connection:
            return bool(connection.execute(
                update(drivers)
                .where(
                    drivers.c.id == driver_id,
                    or_(drivers.c.located_at_ns.is_(None), drivers.c.located_at_ns <= now - interval_ns),
                )
                .values(lat=lat, lng=lng, located_at_ns=now, changed_at_ns=now)
            ).rowcount)

    def lease_payout(self, driver_id: int, *, now: int, until: int) -> bool:
        """Hold the driver's payout lease until ``until``; False while another payout holds it."""
        with self.engine.begin() as connection:
            return bool(connection.execute(
                update(drivers)
                .where(
                    drivers.c.id == driver_id,
                    or_(drivers.c.payout_lock_until_ns.is_(None), drivers.c.payout_lock_until_ns < now),
                )
                .values(payout_lock_until_ns=until)
            ).rowcount)

    def fasting(self, driver_id: int) -> bool:
        with self.engine.connect() as connection:
            fasting = connection.execute(select(drivers.c.fasting).where(drivers.c.id == driver_id)).scalar()
        return bool(fasting)

    def changed_since(self, since_ns: int) -> list[Any]:
        """Drivers' positions and online flags changed after ``since_ns``, in the order they changed."""
        with self.engine.connect() as connection:
            return list(connection.execute(
                select(drivers.c.id, drivers.c.online, drivers.c.lat, drivers.c.lng, drivers.c.located_at_ns,
                       drivers.c.changed_at_ns)
                .where(drivers.c.changed_at_ns > since_ns)
                .order_by(drivers.c.changed_at_ns)
            ).all())
