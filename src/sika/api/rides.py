"""``/v1/rides``: cities, quotes and trips for riders; onboarding, availability, locations, offers and
the trip's steps for drivers (a driver app uses these with the driver's customer token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, caller, container_of, customer_of
from sika.api.fields import IdPath, RowIdPath
from sika.api.payments import IdempotencyKey, money_post
from sika.api.ride_requests import (
    Availability,
    Cancel,
    Complete,
    Documents,
    Onboard,
    Position,
    QuoteRequest,
    Rating,
    TripRequest,
)
from sika.auth import Role
from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.texts.payouts import explain
from sika.errors import SikaError
from sika.rides.payouts import pay_out
from sika.rides.service import Driver, Rides, Trip

__all__ = ["DriverOut", "driver_out", "router"]

router = APIRouter(prefix="/v1/rides", tags=["rides"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown_city, unknown_trip, unknown_driver"},
    409: {"description": "illegal_transition, trip_taken, driver_busy, offer_closed, trip_in_progress"},
    422: {"description": "validation_error, outside_service_area"},
}


class QuoteOut(BaseModel):
    city: str
    vehicle: str
    fare: int
    currency: str
    distance_m: int
    duration_s: int
    pickup_eta_s: int | None = Field(description="null: no driver nearby right now")


class TripOut(BaseModel):
    id: str
    status: str
    city: str
    vehicle: str
    pickup: Position
    dropoff: Position
    quoted_fare: int
    final_fare: int | None
    payment: str
    payment_id: str | None
    driver: dict[str, Any] | None
    cancelled_by: str | None
    cancel_reason: str | None
    cancel_fee: int
    rider_rating: int | None
    driver_rating: int | None


class DriverOut(BaseModel):
    id: int
    name: str
    city: str
    vehicle: str
    plate: str
    documents: str
    online: bool
    rating: float | None
    acceptance_ratio: float | None
    offers: int
    accepted: int
    declined: int
    timed_out: int
    cancelled: int
    completed: int
    balance: int = Field(description="earnings not paid out yet; negative: commissions owed on cash trips")


def _rides(container: Container) -> Rides:
    rides = container.rides
    assert rides is not None
    return rides


def _me(container: Container, who: Caller) -> Driver:
    return _rides(container).driver_of(customer_of(container, who).id)


def _trip_out(container: Container, trip: Trip) -> TripOut:
    driver = None
    if trip.driver_id is not None:
        d = _rides(container).driver(trip.driver_id)
        driver = {"id": d.id, "name": d.name, "plate": d.plate, "vehicle": d.vehicle_type, "rating": d.rating}
        if trip.status.value in ("driver_assigned", "driver_arrived", "in_progress"):
            # Where the driver is, only while the trip is under way.
            driver.update(lat=d.lat, lng=d.lng)
    return TripOut(
        id=trip.id,
        status=str(trip.status),
        city=trip.city,
        vehicle=trip.vehicle_type,
        pickup=Position(lat=trip.pickup.lat, lng=trip.pickup.lng),
        dropoff=Position(lat=trip.dropoff.lat, lng=trip.dropoff.lng),
        quoted_fare=trip.quoted_fare,
        final_fare=trip.final_fare,
        payment=trip.payment_method,
        payment_id=trip.payment_id,
        driver=driver,
        cancelled_by=trip.cancelled_by,
        cancel_reason=trip.cancel_reason,
        cancel_fee=trip.cancel_fee,
        rider_rating=trip.rider_rating,
        driver_rating=trip.driver_rating,
    )


def driver_out(container: Container, driver: Driver) -> DriverOut:
    balance = container.ledger.get_account(driver.account_id).balance
    return DriverOut(
        id=driver.id,
        name=driver.name,
        city=driver.city,
        vehicle=driver.vehicle_type,
        plate=driver.plate,
        documents=driver.documents,
        online=driver.online,
        rating=driver.rating,
        acceptance_ratio=driver.acceptance_ratio,
        offers=driver.offers,
        accepted=driver.accepted,
        declined=driver.declined,
        timed_out=driver.timed_out,
        cancelled=driver.cancelled,
        completed=driver.completed,
        balance=balance,
    )


def _visible(container: Container, who: Caller, trip: Trip) -> None:
    if who.role is Role.ADMIN:
        return
    customer = customer_of(container, who)
    if trip.rider_customer_id == customer.id:
        return
    if trip.driver_id is not None and _rides(container).driver(trip.driver_id).customer_id == customer.id:
        return
    raise SikaError(f"no trip {trip.id}", code="unknown_trip")


# Riders ------------------------------------------------------------------------------------------------


@router.get("/cities", summary="Where rides run: service areas, vehicles, fares")
async def cities(container: Annotated[Container, Depends(container_of)]) -> list[dict[str, Any]]:
    return [city.model_dump(mode="json") for city in _rides(container).cities]


@router.post(
    "/quotes", response_model=QuoteOut, responses=_ERRORS, summary="Price and pickup ETA before booking"
)
async def quote(body: QuoteRequest, container: Annotated[Container, Depends(container_of)]) -> QuoteOut:
    def run() -> QuoteOut:
        q = _rides(container).quote(body.city, body.vehicle, body.pickup.point(), body.dropoff.point())
        return QuoteOut(
            city=q.city,
            vehicle=q.vehicle,
            fare=q.fare,
            currency="XOF",
            distance_m=q.distance_m,
            duration_s=q.duration_s,
            pickup_eta_s=q.pickup_eta_s,
        )

    return await run_in_threadpool(run)


@router.post(
    "/trips",
    status_code=201,
    response_model=TripOut,
    responses=_ERRORS,
    summary="Book a trip (cash, wallet or card); dispatch starts at once",
)
async def book(
    body: TripRequest,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A wallet trip holds 150 % of the quote until the end; the final fare is captured, the rest
    returns. Needs an ``Idempotency-Key``: a retry books one trip."""

    def run(mid: str) -> JSONResponse:
        rider = customer_of(container, who)
        trip = _rides(container).request(
            "trip_" + mid.removeprefix("mv_"),
            rider,
            city_id=body.city,
            vehicle_type=body.vehicle,
            pickup=body.pickup.point(),
            dropoff=body.dropoff.point(),
            payment_method=body.payment,
            card_token=body.card_token,
        )
        return JSONResponse(_trip_out(container, trip).model_dump(), status_code=201)

    return await money_post(container, who, idempotency_key, "POST /v1/rides/trips", body=body, run=run)


@router.get(
    "/trips/{trip_id}", response_model=TripOut, responses=_ERRORS, summary="A trip (rider, driver, admin)"
)
async def get_trip(
    trip_id: IdPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> TripOut:
    def run() -> TripOut:
        trip = _rides(container).trip(trip_id[:40])
        _visible(container, who, trip)
        return _trip_out(container, trip)

    return await run_in_threadpool(run)


@router.post(
    "/trips/{trip_id}/cancel",
    response_model=TripOut,
    responses=_ERRORS,
    summary="Cancel: the rider ends the trip (a fee when late); the driver hands it back",
)
async def cancel(
    trip_id: IdPath,
    body: Cancel,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> TripOut:
    def run() -> TripOut:
        rides = _rides(container)
        trip = rides.trip(trip_id[:40])
        if who.role is Role.ADMIN:
            return _trip_out(container, rides.cancel(trip.id, by="system", reason=body.reason))
        customer = customer_of(container, who)
        if trip.rider_customer_id == customer.id:
            return _trip_out(container, rides.cancel(trip.id, by="rider", reason=body.reason))
        driver = _me(container, who)
        return _trip_out(
            container, rides.cancel(trip.id, by="driver", reason=body.reason, driver_id=driver.id)
        )

    return await run_in_threadpool(run)


@router.post(
    "/trips/{trip_id}/rating",
    response_model=TripOut,
    responses=_ERRORS,
    summary="Rate the other side after the trip: 1 to 5 stars, once",
)
async def rate(
    trip_id: IdPath,
    body: Rating,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> TripOut:
    def run() -> TripOut:
        rides = _rides(container)
        customer = customer_of(container, who)
        trip = rides.trip(trip_id[:40])
        by = "rider" if trip.rider_customer_id == customer.id else "driver"
        return _trip_out(container, rides.rate(trip.id, by=by, stars=body.stars, customer_id=customer.id))

    return await run_in_threadpool(run)


# Drivers -----------------------------------------------------------------------------------------------


@router.post(
    "/drivers",
    status_code=201,
    response_model=DriverOut,
    responses=_ERRORS,
    summary="Become a driver (a wallet holder with a vehicle and a plate)",
)
async def onboard(
    body: Onboard,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> DriverOut:
    def run() -> DriverOut:
        driver = _rides(container).onboard(
            customer_of(container, who), city_id=body.city, vehicle_type=body.vehicle, plate=body.plate
        )
        return driver_out(container, driver)

    return await run_in_threadpool(run)


@router.put(
    "/drivers/{driver_id}/documents",
    response_model=DriverOut,
    responses=_ERRORS,
    summary="Record the driver's documents check (admin)",
)
async def documents(
    driver_id: RowIdPath,
    body: Documents,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> DriverOut:
    def run() -> DriverOut:
        who.require(Role.ADMIN)
        return driver_out(container, _rides(container).set_documents(driver_id, body.status))

    return await run_in_threadpool(run)


@router.get(
    "/drivers/me", response_model=DriverOut, summary="The calling driver: status, statistics, balance"
)
async def me(
    who: Annotated[Caller, Depends(caller)], container: Annotated[Container, Depends(container_of)]
) -> DriverOut:
    return await run_in_threadpool(lambda: driver_out(container, _me(container, who)))


@router.put(
    "/drivers/me/availability", response_model=DriverOut, responses=_ERRORS, summary="Go online or offline"
)
async def availability(
    body: Availability,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> DriverOut:
    def run() -> DriverOut:
        return driver_out(
            container, _rides(container).set_online(_me(container, who).id, online=body.online)
        )

    return await run_in_threadpool(run)


@router.put(
    "/drivers/me/location",
    status_code=204,
    responses={429: {"description": "too_many_updates"}},
    summary="The driver's position (at most one every 2 seconds)",
)
async def location(
    body: Position,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> None:
    def run() -> None:
        _rides(container).update_location(_me(container, who).id, body.point())

    await run_in_threadpool(run)


@router.get("/drivers/me/offers", summary="Trips offered to the calling driver, waiting for an answer")
async def my_offers(
    who: Annotated[Caller, Depends(caller)], container: Annotated[Container, Depends(container_of)]
) -> list[dict[str, Any]]:
    return await run_in_threadpool(lambda: _rides(container).pending_offers(_me(container, who).id))


@router.post(
    "/drivers/me/payout",
    responses=_ERRORS,
    summary="Pay earnings out to the wallet, or settle cash commissions owed from it",
)
async def payout(
    who: Annotated[Caller, Depends(caller)], container: Annotated[Container, Depends(container_of)]
) -> dict[str, Any]:
    """What moved and what is still owed, explained in the driver's language (docs/wallet.md)."""

    def run() -> dict[str, Any]:
        me = _me(container, who)
        done = pay_out(_rides(container), container.ledger, container.customers, me.id)
        language = container.customers.by_id(me.customer_id).language
        return {**done.as_dict(), "explanation": explain(translator(language), done)}

    return await run_in_threadpool(run)


def _driver_step(name: str, summary: str) -> None:
    async def step(
        trip_id: IdPath,
        who: Annotated[Caller, Depends(caller)],
        container: Annotated[Container, Depends(container_of)],
    ) -> TripOut:
        def run() -> TripOut:
            rides = _rides(container)
            driver = _me(container, who)
            return _trip_out(container, getattr(rides, name)(driver.id, trip_id[:40]))

        return await run_in_threadpool(run)

    step.__name__ = f"trip_{name}"
    router.post(f"/trips/{{trip_id}}/{name}", response_model=TripOut, responses=_ERRORS, summary=summary)(
        step
    )


_driver_step("accept", "Accept an offered trip (the first driver to accept gets it)")
_driver_step("arrive", "The driver is at the pickup")
_driver_step("start", "The rider is on board")


@router.post(
    "/trips/{trip_id}/decline", status_code=204, responses=_ERRORS, summary="Decline an offered trip"
)
async def decline(
    trip_id: IdPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> None:
    await run_in_threadpool(lambda: _rides(container).decline(_me(container, who).id, trip_id[:40]))


@router.post(
    "/trips/{trip_id}/complete",
    response_model=TripOut,
    responses=_ERRORS,
    summary="End the trip: final fare, payment, receipts",
)
async def complete(
    trip_id: IdPath,
    body: Complete,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> TripOut:
    def run() -> TripOut:
        rides = _rides(container)
        trip = rides.complete(_me(container, who).id, trip_id[:40], distance_m=body.distance_m)
        return _trip_out(container, trip)

    return await run_in_threadpool(run)
