"""``/v1/drivers``: a driver as the hours rule sees it (``online_h_24``, ``rest_until``) and fasting mode.

The driver (with the driver's customer token) or an admin; anyone else gets 404, whether the driver
exists or not. The driver's app keeps using ``/v1/rides/drivers/me…`` for the rest.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, caller, container_of
from sika.api.fields import Body, RowIdPath
from sika.api.rides import DriverOut, driver_out
from sika.auth import Role
from sika.bootstrap import Container
from sika.errors import SikaError
from sika.rides.service import Driver, Rides

__all__ = ["router"]

router = APIRouter(prefix="/v1/drivers", tags=["rides"])

_ERRORS: dict[int | str, dict[str, object]] = {404: {"description": "unknown_driver"}}


class DriverHoursOut(DriverOut):
    online_h_24: float = Field(description="hours online in the last 24 hours")
    cap_h: float = Field(description="the most hours online in any 24 hours (shorter in fasting mode)")
    rest_until: str | None = Field(
        description="ISO-8601 in the city's time: resting after the cap until then; null: not resting"
    )
    fasting: bool = Field(description="fasting mode: shorter cap, no long trip just before Maghrib")


class Fasting(Body):
    fasting: bool


def _rides(container: Container) -> Rides:
    rides = container.rides
    assert rides is not None
    return rides


def _visible(container: Container, who: Caller, driver_id: int) -> Driver:
    driver = _rides(container).driver(driver_id)
    if who.role is Role.ADMIN or (who.customer_id is not None and who.customer_id == driver.customer_id):
        return driver
    raise SikaError("no such driver", code="unknown_driver")


def _out(container: Container, driver: Driver) -> DriverHoursOut:
    rides = _rides(container)
    hours = rides.driver_hours(driver.id)
    rest_until = None
    if hours.rest_until_ns is not None:
        zone = zoneinfo.ZoneInfo(rides.city(driver.city).timezone)
        rest_until = datetime.fromtimestamp(hours.rest_until_ns / 1e9, UTC).astimezone(zone).isoformat(
            timespec="seconds")
    return DriverHoursOut(**driver_out(container, driver).model_dump(),
                          online_h_24=round(hours.online_s_24 / 3_600, 2),
                          cap_h=round(hours.cap_s / 3_600, 2), rest_until=rest_until, fasting=hours.fasting)


@router.get("/{driver_id}", response_model=DriverHoursOut, responses=_ERRORS,
            summary="A driver: statistics, balance, hours online in the last 24 h, rest (the driver, admin)")
async def get_driver(
    driver_id: RowIdPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> DriverHoursOut:
    return await run_in_threadpool(lambda: _out(container, _visible(container, who, driver_id)))


@router.put("/{driver_id}/fasting", response_model=DriverHoursOut, responses=_ERRORS,
            summary="Fasting mode on or off (the driver's choice; the driver, admin)")
async def set_fasting(
    driver_id: RowIdPath,
    body: Fasting,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> DriverHoursOut:
    def run() -> DriverHoursOut:
        driver = _visible(container, who, driver_id)
        return _out(container, _rides(container).set_fasting(driver.id, fasting=body.fasting))

    return await run_in_threadpool(run)
