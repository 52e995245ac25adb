"""What rides read back from the database: a quote, a driver, a trip, and the driver's errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sika.errors import SikaError
from sika.rides.geo import Point
from sika.rides.trips import TripStatus

__all__ = ["Driver", "DriverError", "Quote", "Trip", "driver_of_row", "trip_of_row"]


class DriverError(SikaError):
    """A refusal about a driver, an offer or a trip; its code says which."""


@dataclass(frozen=True, slots=True)
class Quote:
    city: str
    vehicle: str
    fare: int
    distance_m: int
    duration_s: int
    pickup_eta_s: int | None  # None: no driver near right now


@dataclass(frozen=True, slots=True)
class Driver:
    id: int
    customer_id: int
    name: str
    city: str
    vehicle_type: str
    plate: str
    documents: str
    online: bool
    account_id: int
    lat: float | None
    lng: float | None
    located_at_ns: int | None
    offers: int
    accepted: int
    declined: int
    timed_out: int
    cancelled: int
    completed: int
    rating: float | None

    @property
    def acceptance_ratio(self) -> float | None:
        return self.accepted / self.offers if self.offers else None


@dataclass(frozen=True, slots=True)
class Trip:
    id: str
    rider_customer_id: int
    rider_msisdn: str
    city: str
    vehicle_type: str
    pickup: Point
    dropoff: Point
    distance_m: int
    duration_s: int
    quoted_fare: int
    final_fare: int | None
    payment_method: str
    payment_id: str | None
    status: TripStatus
    driver_id: int | None
    cancelled_by: str | None
    cancel_reason: str | None
    cancel_fee: int
    rider_rating: int | None
    driver_rating: int | None
    requested_at_ns: int
    assigned_at_ns: int | None
    arrived_at_ns: int | None
    started_at_ns: int | None
    finished_at_ns: int | None


def driver_of_row(row: Any) -> Driver:
    count = row["rating_count"]
    return Driver(
        id=row["id"],
        customer_id=row["customer_id"],
        name=row["name"],
        city=row["city"],
        vehicle_type=row["vehicle_type"],
        plate=row["plate"],
        documents=row["documents"],
        online=bool(row["online"]),
        account_id=row["account_id"],
        lat=row["lat"],
        lng=row["lng"],
        located_at_ns=row["located_at_ns"],
        offers=row["offers"],
        accepted=row["accepted"],
        declined=row["declined"],
        timed_out=row["timed_out"],
        cancelled=row["cancelled"],
        completed=row["completed"],
        rating=row["rating_sum"] / count if count else None,
    )


def trip_of_row(row: Any) -> Trip:
    return Trip(
        id=row["id"],
        rider_customer_id=row["rider_customer_id"],
        rider_msisdn=row["rider_msisdn"],
        city=row["city"],
        vehicle_type=row["vehicle_type"],
        pickup=Point(row["pickup_lat"], row["pickup_lng"]),
        dropoff=Point(row["dropoff_lat"], row["dropoff_lng"]),
        distance_m=row["distance_m"],
        duration_s=row["duration_s"],
        quoted_fare=row["quoted_fare"],
        final_fare=row["final_fare"],
        payment_method=row["payment_method"],
        payment_id=row["payment_id"],
        status=TripStatus(row["status"]),
        driver_id=row["driver_id"],
        cancelled_by=row["cancelled_by"],
        cancel_reason=row["cancel_reason"],
        cancel_fee=row["cancel_fee"],
        rider_rating=row["rider_rating"],
        driver_rating=row["driver_rating"],
        requested_at_ns=row["requested_at_ns"],
        assigned_at_ns=row["assigned_at_ns"],
        arrived_at_ns=row["arrived_at_ns"],
        started_at_ns=row["started_at_ns"],
        finished_at_ns=row["finished_at_ns"],
    )
