"""Drivers: joining, documents, going online, positions, hours and fasting, payouts, and what dispatch
needs to know of each (:class:`~sika.rides.dispatch.DriverState`).

The database holds the truth (drivers' last positions, online flags); the location index
(:mod:`sika.rides.index`: in-process H3 cells, or Redis GEO shared by processes) answers "who is
near". A process with its own in-process index catches up from the drivers' ``changed_at_ns`` before
each dispatch decision (:meth:`Drivers.catch_up`), so ``sika serve`` and ``sika worker`` agree on who
is where.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sika.errors import SikaError
from sika.ledger import AccountFlags, AccountKind, Ledger
from sika.rides import dispatch
from sika.rides.billing import Billing, Movement
from sika.rides.cities import City
from sika.rides.driver_hours import DriverHours, HoursNow, online_ns_by_driver
from sika.rides.geo import Point
from sika.rides.index import LocationIndex
from sika.rides.records import Driver, DriverError
from sika.rides.schema import ACTIVE_STATES, drivers, offers, trips
from sika.rides.store import Store
from sika.wallet import Customer

__all__ = ["Drivers", "inside"]

_NS = 1_000_000_000
LOCATION_INTERVAL_S_MIN = 2.0
PLATE_CHARS_MAX = 16
# Longer than a payout takes (two ledger reads and one movement); a crashed payout frees it then.
PAYOUT_LEASE_S = 60


def inside(city: City, point: Point, what: str) -> None:
    if not city.area.contains(point.lat, point.lng):
        raise SikaError(f"the {what} is outside {city.name}'s service area", code="outside_service_area")


class Drivers:
    def __init__(self, store: Store, ledger: Ledger, billing: Billing, hours: DriverHours,
                 index: LocationIndex, *, city: Callable[[str], City], clock_ns: Callable[[], int]) -> None:
        self._store = store
        self._engine = store.engine
        self._ledger = ledger
        self._billing = billing
        self.hours = hours
        self.index = index
        self._city = city
        self._clock_ns = clock_ns
        self._seen_ns = -1
        self._index_lock = threading.Lock()

    def onboard(self, customer: Customer, *, city_id: str, vehicle_type: str, plate: str) -> Driver:
        """A wallet holder becomes a driver; documents start ``pending`` until an operator checks them."""
        city = self._city(city_id)
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
            self._store.insert_driver(
                customer_id=customer.id,
                name=customer.name,
                city=city.id,
                vehicle_type=vehicle_type,
                plate=plate,
                account_id=account.id,
                created_at_ns=self._clock_ns(),
            )
        except IntegrityError as exc:
            self._ledger.close_account(account.id)
            raise DriverError("this wallet or this plate already has a driver", code="driver_exists") from exc
        return self._store.driver_of(customer.id)

    def set_documents(self, driver_id: int, status: str) -> Driver:
        if status not in ("pending", "approved", "rejected"):
            raise SikaError("documents are pending, approved or rejected", code="validation_error")
        self._store.update_driver(driver_id, documents=status)
        if status != "approved":
            self.set_online(driver_id, online=False)
        return self._store.driver(driver_id)

    def set_online(self, driver_id: int, *, online: bool) -> Driver:
        driver = self._store.driver(driver_id)
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
        self._store.update_driver(driver_id, online=online, changed_at_ns=now)
        if not online:
            self.index.remove(driver_id)
        elif driver.lat is not None and driver.lng is not None and driver.located_at_ns is not None:
            self.index.update(driver_id, Point(driver.lat, driver.lng), driver.located_at_ns / _NS)
        return self._store.driver(driver_id)

    def update_location(self, driver_id: int, point: Point) -> None:
        """A driver's position, inside the driver's city; more than one every two seconds is refused."""
        inside(self._city(self._store.driver(driver_id).city), point, "driver's position")
        now = self._clock_ns()
        if not self._store.move_driver(driver_id, point.lat, point.lng, now=now,
                                       interval_ns=int(LOCATION_INTERVAL_S_MIN * _NS)):
            self._store.driver(driver_id)  # unknown driver -> 404
            raise DriverError("locations are accepted every 2 seconds at most", code="too_many_updates")
        driver = self._store.driver(driver_id)
        if driver.online:
            self.index.update(driver_id, point, now / _NS)

    def settle(self, driver_id: int) -> Movement | None:
        """Pay a driver's earnings out to the wallet, or take what the driver owes from it.

        The driver's account may go negative (cash commissions owed), so the ledger alone cannot stop
        two payouts of one balance: a payout holds a lease on the driver row while it reads the
        balance and moves it; a second one at the same time is refused (409 ``payout_in_progress``).
        """
        now = self._clock_ns()
        if not self._store.lease_payout(driver_id, now=now, until=now + PAYOUT_LEASE_S * _NS):
            self._store.driver(driver_id)  # unknown driver -> 404
            raise DriverError("a payout is already running for this driver", code="payout_in_progress")
        try:
            return self._billing.pay_out(self._store.driver(driver_id))
        finally:
            self._store.update_driver(driver_id, payout_lock_until_ns=None)

    # Hours and fasting ---------------------------------------------------------------------------

    def hours_tick(self) -> None:
        """Warn drivers near their cap; put those past it (and on no trip) offline to rest."""
        now = self._clock_ns()
        busy = self._store.busy_driver_ids()
        for ended in self.hours.tick(now, busy):
            self.index.remove(ended.driver_id)

    def driver_hours(self, driver_id: int) -> HoursNow:
        return self.hours.now(driver_id, self._store.driver(driver_id).city, self._clock_ns())

    def set_fasting(self, driver_id: int, *, fasting: bool) -> Driver:
        """Fasting mode, the driver's choice: a shorter cap, no long trip just before Maghrib."""
        self._store.update_driver(driver_id, fasting=fasting)
        return self._store.driver(driver_id)

    def before_iftar(self, driver: Driver) -> bool:
        """A fasting driver in the minutes before Maghrib on a Ramadan day."""
        return self._store.fasting(driver.id) and self.hours.before_iftar(driver.city, self._clock_ns())

    # What dispatch knows of them -----------------------------------------------------------------

    def states(self, city_id: str, vehicle_type: str, rider_customer_id: int | None = None
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

    def free(self, city_id: str, vehicle_type: str) -> Callable[[int], bool]:
        """Drivers a quote counts: online, holding no trip, not resting (any trip's rules aside)."""
        states = self.states(city_id, vehicle_type)

        def free(driver_id: int) -> bool:
            state = states.get(driver_id)
            return state is not None and not state.busy and not state.resting

        return free

    def catch_up(self) -> None:
        """Bring this process's index up to date with drivers changed elsewhere since the last look."""
        with self._index_lock:
            for row in self._store.changed_since(self._seen_ns):
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
