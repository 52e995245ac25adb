"""What the rides map and a trip's page show: drivers where they stand, trips under way, a trip's
timeline with its offers. Read straight from the rides tables, one query each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from sika.rides.schema import drivers, offers, trips

__all__ = ["live", "trip_offers"]

DRIVERS_MAX = 2_000
TRIPS_MAX = 200
_OPEN = ("requested", "driver_assigned", "driver_arrived", "in_progress")


def live(engine: Engine, city: str) -> dict[str, Any]:
    """Drivers with a position (online or not) and open trips of a city, plus its latest trips."""
    with engine.connect() as c:
        fleet = [
            {"id": r.id, "name": r.name, "plate": r.plate, "online": bool(r.online), "lat": r.lat,
             "lng": r.lng, "at": r.located_at_ns}
            for r in c.execute(select(drivers.c.id, drivers.c.name, drivers.c.plate, drivers.c.online,
                                      drivers.c.lat, drivers.c.lng, drivers.c.located_at_ns)
                               .where(drivers.c.city == city, drivers.c.lat.is_not(None))
                               .order_by(drivers.c.id).limit(DRIVERS_MAX))]
        columns = (trips.c.id, trips.c.status, trips.c.driver_id, trips.c.pickup_lat, trips.c.pickup_lng,
                   trips.c.dropoff_lat, trips.c.dropoff_lng, trips.c.quoted_fare, trips.c.final_fare,
                   trips.c.payment_method, trips.c.requested_at_ns, trips.c.rider_msisdn)
        under_way = [_trip(r) for r in c.execute(
            select(*columns).where(trips.c.city == city, trips.c.status.in_(_OPEN))
            .order_by(trips.c.requested_at_ns.desc()).limit(TRIPS_MAX))]
        latest = [_trip(r) for r in c.execute(
            select(*columns).where(trips.c.city == city).order_by(trips.c.requested_at_ns.desc()).limit(20))]
    busy = {t["driver_id"] for t in under_way if t["driver_id"] is not None}
    names = {driver["id"]: driver["name"] for driver in fleet}
    for driver in fleet:
        driver["busy"] = driver["id"] in busy
    for trip in latest:
        trip["driver"] = names.get(trip["driver_id"], "")
    return {"city": city, "drivers": fleet, "trips": under_way, "latest": latest}


def _trip(r: Any) -> dict[str, Any]:
    return {"id": r.id, "status": r.status, "driver_id": r.driver_id,
            "pickup": [r.pickup_lat, r.pickup_lng], "dropoff": [r.dropoff_lat, r.dropoff_lng],
            "fare": r.final_fare if r.final_fare is not None else r.quoted_fare, "payment": r.payment_method,
            "requested_at_ns": r.requested_at_ns, "rider": r.rider_msisdn}


def trip_offers(engine: Engine, trip_id: str) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(select(offers.c.driver_id, drivers.c.name, offers.c.status, offers.c.eta_s,
                                offers.c.sent_at_ns, offers.c.expires_at_ns)
                         .join(drivers, drivers.c.id == offers.c.driver_id)
                         .where(offers.c.trip_id == trip_id).order_by(offers.c.id).limit(100)).mappings()
        return [dict(row) for row in rows]
