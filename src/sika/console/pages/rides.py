"""Rides: a live map of a city's drivers and trips (Leaflet over the city's own GeoJSON, no remote
tiles; the page polls ``/console/rides/live.json``), and a trip's timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika.console.fleet import live, trip_offers
from sika.console.guard import ConsoleRoute, current
from sika.console.services import services_of
from sika.console.sessions import ConsoleSession
from sika.console.templating import SECURITY_HEADERS, page
from sika.errors import SikaError
from sika.rides.service import Rides

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Session = Annotated[ConsoleSession, Depends(current)]


def _rides(request: Request) -> Rides:
    rides = services_of(request).container.rides
    if rides is None:
        raise SikaError("rides are not running in this process", code="rides_unavailable")
    return rides


@router.get("/console/rides")
async def rides_map(request: Request, session: Session, city: str = "lome") -> Response:
    rides = _rides(request)
    chosen = rides.city(city[:32])
    assets = services_of(request).assets
    outline = assets.find(f"geo/{chosen.id}.geojson")
    data = await run_in_threadpool(live, services_of(request).container.engine, chosen.id)
    return page(request, "rides.html", session=session, city=chosen, cities=rides.cities, live=data,
                geo_url=outline.url if outline else "", area=chosen.area)


@router.get("/console/rides/live.json")
async def rides_live(request: Request, _session: Session, city: str = "lome") -> Response:
    chosen = _rides(request).city(city[:32])
    data = await run_in_threadpool(live, services_of(request).container.engine, chosen.id)
    return JSONResponse(data, headers=SECURITY_HEADERS)


@router.get("/console/rides/table")
async def rides_table(request: Request, session: Session, city: str = "lome") -> Response:
    """The trips table alone, for htmx to swap in every few seconds."""
    chosen = _rides(request).city(city[:32])
    data = await run_in_threadpool(live, services_of(request).container.engine, chosen.id)
    return page(request, "_trips.html", session=session, live=data)


@router.get("/console/trips/{trip_id}")
async def trip(request: Request, trip_id: str, session: Session) -> Response:
    rides = _rides(request)
    found = await run_in_threadpool(rides.trip, trip_id[:40])
    driver = await run_in_threadpool(rides.driver, found.driver_id) if found.driver_id is not None else None
    offered = await run_in_threadpool(trip_offers, services_of(request).container.engine, found.id)
    steps = [(label, at) for label, at in (
        ("requested", found.requested_at_ns), ("driver_assigned", found.assigned_at_ns),
        ("driver_arrived", found.arrived_at_ns), ("in_progress", found.started_at_ns),
        (found.status.value if found.status.final else "", found.finished_at_ns)) if label and at]
    return page(request, "trip.html", session=session, trip=found, driver=driver, offers=offered, steps=steps)
