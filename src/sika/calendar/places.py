"""Where prayer times are computed: a city's id, country, zone and coordinates, and its method."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sika.calendar.prayers import PrayerMethod
from sika.errors import ConfigurationError
from sika.rides.cities import City

__all__ = ["ALL_CITIES", "Place", "places_of"]

ALL_CITIES = "*"  # the SIKA_PRAYER key that applies to every city without its own


@dataclass(frozen=True, slots=True, eq=False)
class Place:
    id: str
    name: str
    country: str
    zone: zoneinfo.ZoneInfo
    latitude: float
    longitude: float
    method: PrayerMethod

    @classmethod
    def of(cls, city: City, method: PrayerMethod) -> Place:
        # The service area's centre is within a few km of the city's mosques: under a minute of sun.
        latitude, longitude = city.area.center
        if method.latitude is not None and method.longitude is not None:
            latitude, longitude = method.latitude, method.longitude
        return cls(id=city.id, name=city.name, country=city.country, zone=zoneinfo.ZoneInfo(city.timezone),
                   latitude=latitude, longitude=longitude, method=method)


def places_of(cities: Sequence[City], methods: Mapping[str, PrayerMethod]) -> dict[str, Place]:
    """Every city as a :class:`Place`; a method keyed by an unknown city is a configuration error."""
    ids = {city.id for city in cities}
    unknown = sorted(set(methods) - ids - {ALL_CITIES})
    if unknown:
        raise ConfigurationError(f"SIKA_PRAYER names unknown cities: {', '.join(unknown)}")
    default = methods.get(ALL_CITIES, PrayerMethod())
    return {city.id: Place.of(city, methods.get(city.id, default)) for city in cities}
