"""A calendar for the five default cities plus two with summer time, for window tests."""

from __future__ import annotations

from sika.calendar import Calendar
from sika.rides.cities import DEFAULT_CITIES, Area, City


def _city(city_id: str, name: str, country: str, zone: str, *, lat: float, lng: float) -> City:
    return DEFAULT_CITIES[0].model_copy(update={
        "id": city_id, "name": name, "country": country, "timezone": zone,
        "area": Area(lat_min=lat - 0.05, lat_max=lat + 0.05, lng_min=lng - 0.05, lng_max=lng + 0.05)})


# Casablanca leaves UTC+1 for UTC+0 during Ramadan; Madrid has European summer time.
CASABLANCA = _city("casablanca", "Casablanca", "MA", "Africa/Casablanca", lat=33.57, lng=-7.59)
MADRID = _city("madrid", "Madrid", "ES", "Europe/Madrid", lat=40.42, lng=-3.70)


def calendar_with_summer_time() -> Calendar:
    return Calendar([*DEFAULT_CITIES, CASABLANCA, MADRID])
