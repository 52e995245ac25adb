"""The rider's side of a trip: a quote, a booking, a cancellation.

A booking is idempotent on the trip's id (the API's Idempotency-Key): run again, it returns the trip, or
finishes what a first run stopped by a busy database started. A wallet trip's fare is held at booking
(:meth:`~sika.rides.billing.Billing.hold_fare`) and released if the trip ends without a ride. A rider
who cancels more than the city's ``late_cancel_after_s`` after a driver was assigned pays the
late-cancellation fee (never on a cash trip: there is nothing to take it from).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from sika.errors import SikaError
from sika.payments import Status
from sika.rides.billing import Billing
from sika.rides.cities import City
from sika.rides.dispatcher import Dispatcher
from sika.rides.drivers import inside
from sika.rides.geo import Point, haversine_m
from sika.rides.notices import Notices
from sika.rides.records import DriverError, Quote, Trip
from sika.rides.store import Store
from sika.rides.trips import Event, IllegalTransition, TripStatus
from sika.wallet import Customer, Customers, Pin

__all__ = ["PAYMENT_METHODS", "Booking"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
PAYMENT_METHODS = ("cash", "wallet", "card")
CANCEL_REASON_CHARS_MAX = 140


class Booking:
    def __init__(self, store: Store, dispatcher: Dispatcher, billing: Billing, notices: Notices,
                 customers: Customers, *, city: Callable[[str], City], clock_ns: Callable[[], int]) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._billing = billing
        self._notices = notices
        self._customers = customers
        self._city = city
        self._clock_ns = clock_ns

    def quote(self, city_id: str, vehicle_type: str, pickup: Point, dropoff: Point) -> Quote:
        city = self._city(city_id)
        vehicle = city.vehicle(vehicle_type)
        inside(city, pickup, "pickup")
        inside(city, dropoff, "dropoff")
        distance = int(haversine_m(pickup, dropoff) * city.detour_factor)
        duration = int(distance / (vehicle.speed_kmh / 3.6))
        fare = vehicle.fares.price(distance, duration, city.local_hour(self._clock_ns() / _NS))
        nearest = self._dispatcher.rank(city, vehicle, pickup, radius_m=city.search_radii_m[-1], limit=1)
        return Quote(
            city=city.id,
            vehicle=vehicle.type,
            fare=fare,
            distance_m=distance,
            duration_s=duration,
            pickup_eta_s=int(nearest[0].eta_s) if nearest else None,
        )

    def request(self, trip_id: str, rider: Customer, *, city_id: str, vehicle_type: str, pickup: Point,
                dropoff: Point, payment_method: str, card_token: str | None = None, pin: Pin | None = None
                ) -> Trip:
        """Book a trip (idempotent on ``trip_id``): hold the fare for a wallet trip, then dispatch.

        A wallet trip moves money: ``pin`` is checked when given (the chat asks for it); without it the
        caller authenticated the rider with the PIN already (a session token), and a PIN lock still
        stops it.
        """
        existing = self._store.find(trip_id)
        if existing is not None:
            return self._again(existing, rider)
        _check_payment(payment_method, card_token)
        self._no_active_trip(rider)
        quote = self.quote(city_id, vehicle_type, pickup, dropoff)
        if payment_method == "card":
            assert card_token is not None
            self._billing.check_card(card_token, quote.fare)
        if payment_method == "wallet":
            rider = self._authorised(rider, pin)
        city = self._city(city_id)
        now = self._clock_ns()
        payment_id = None
        if payment_method == "wallet":
            payment_id = self._billing.hold_fare(trip_id, rider, city, vehicle_type, quote.fare)
        try:
            self._store.insert_trip(
                id=trip_id, rider_customer_id=rider.id, rider_msisdn=rider.msisdn, city=city.id,
                vehicle_type=vehicle_type, pickup_lat=pickup.lat, pickup_lng=pickup.lng,
                dropoff_lat=dropoff.lat, dropoff_lng=dropoff.lng, distance_m=quote.distance_m,
                duration_s=quote.duration_s, quoted_fare=quote.fare, payment_method=payment_method,
                card_token=card_token, payment_id=payment_id, status=str(TripStatus.REQUESTED),
                dispatch=json.dumps({"step": 0, "asked": []}), requested_at_ns=now, updated_at_ns=now,
            )
        except IntegrityError as exc:
            # Another booking of this rider won the race for "one trip under way": give the hold back.
            if payment_id is not None:
                self._billing.drop_hold(payment_id)
            raise DriverError("you already have a trip under way", code="trip_in_progress") from exc
        if self._dispatcher.greedy:
            self._dispatcher.dispatch_one(self._store.trip(trip_id))
        return self._store.trip(trip_id)

    def _again(self, existing: Trip, rider: Customer) -> Trip:
        """A booking run again with the same id: the trip as it is (the rider's own only)."""
        if existing.rider_customer_id != rider.id:
            raise SikaError("this Idempotency-Key was used for another request", code="idempotency_conflict")
        if existing.status is TripStatus.REQUESTED and self._dispatcher.greedy:
            # A first run stopped by a busy database may have stored the trip but not its offers.
            self._dispatcher.dispatch_one(existing)  # nothing when an offer is open already
            return self._store.trip(existing.id)
        return existing

    def _authorised(self, rider: Customer, pin: Pin | None) -> Customer:
        """A wallet rider may move money: the PIN checked when given, a PIN lock refused either way."""
        if pin is not None:
            return self._customers.verify_pin(rider.msisdn, pin)
        self._customers.ensure_unlocked(rider)
        return rider

    def _no_active_trip(self, rider: Customer) -> None:
        if self._store.active_trip_of_rider(rider.id) is not None:
            raise DriverError("you already have a trip under way", code="trip_in_progress")

    def cancel(self, trip_id: str, *, by: str, reason: str = "") -> Trip:
        """``by`` the rider or the system: the trip ends, the hold is released (less a late fee)."""
        trip = self._store.trip(trip_id)
        reason = " ".join(reason.split())[:CANCEL_REASON_CHARS_MAX]
        if by not in ("rider", "system"):
            raise SikaError(
                "a trip is cancelled by the rider, the driver or the system", code="validation_error"
            )
        now = self._clock_ns()
        fee = self._late_fee(trip, by, now)
        if not self._store.transition(
            trip, Event.CANCEL, cancelled_by=by, cancel_reason=reason or None, cancel_fee=fee,
            finished_at_ns=now,
        ):
            raise IllegalTransition("this trip moved on meanwhile")
        trip = self._store.trip(trip_id)
        if fee:
            trip = self._charge_fee(trip, fee)
        else:
            self._billing.release(trip, "ride_cancelled")
        # The fee as it stands: waived when it could not be taken.
        self._notices.rider(trip, "ride_cancelled", {"by": by, "fee": trip.cancel_fee})
        if trip.driver_id is not None:
            self._notices.driver(trip, trip.driver_id, "ride_cancelled", {"by": by})
        return trip

    def _late_fee(self, trip: Trip, by: str, now: int) -> int:
        policy = self._city(trip.city).vehicle(trip.vehicle_type).fares
        late = (
            by == "rider"
            and trip.assigned_at_ns is not None
            and policy.late_cancel_fee > 0
            and now - trip.assigned_at_ns > policy.late_cancel_after_s * _NS
            and trip.payment_method != "cash"
        )
        return policy.late_cancel_fee if late else 0

    def _charge_fee(self, trip: Trip, fee: int) -> Trip:
        try:
            self._billing.charge(trip, fee)
        except SikaError as exc:  # the card refused a small charge: the fee is waived, not lost
            log.warning("late-cancellation fee of trip %s waived: %s", trip.id, exc.code)
            self._store.set_trip(trip.id, cancel_fee=0)
            try:
                released = self._billing.release(trip, "ride_cancelled")
            except SikaError as again:  # the hold runs out by itself (its deadline): nothing is taken
                log.warning("trip %s: the hold was not given back now (%s)", trip.id, again.code)
                released = None
            if released is not None and released.status is Status.COMPLETED:
                # The fee's capture went through before the error: it was taken, and is said so.
                log.warning("late-cancellation fee of trip %s taken after all", trip.id)
                self._store.set_trip(trip.id, cancel_fee=released.amount)
            return self._store.trip(trip.id)
        return trip


def _check_payment(payment_method: str, card_token: str | None) -> None:
    if payment_method not in PAYMENT_METHODS:
        raise SikaError("pay by cash, wallet or card", code="validation_error")
    if payment_method == "card" and not (card_token and card_token.startswith("tok_")):
        # A saved card's token only: card numbers are never stored with a trip.
        raise SikaError("a card trip needs a saved card's token (tok_…)", code="validation_error")
