"""Cities, from configuration: where the service runs, in what time zone and currency, with which
vehicles, at what speeds and fares.

The defaults open Lomé first, then Kara, Cotonou, Ouagadougou and Bamako (one city after another, as
Gozem did). Override them with ``SIKA_CITIES`` (JSON: a list of :class:`City`). A service area is a
latitude/longitude box: simple, fast to test, and close enough for cities whose dispatch radius is a
few kilometres. A city's ``places`` are the named places a ride can be booked by
(:mod:`sika.rides.places`), each inside the area.
"""

from __future__ import annotations

import enum
import zoneinfo
from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from sika.errors import SikaError
from sika.rides.fares import FarePolicy
from sika.rides.hours import HoursRule
from sika.rides.place_lists import DEFAULT_PLACES
from sika.rides.places import PLACES_MAX, Place

__all__ = ["DEFAULT_CITIES", "Area", "City", "UnknownCity", "Vehicle", "VehicleType", "city_by_id"]


class VehicleType(enum.StrEnum):
    MOTO = "moto"  # the zémidjan: the workhorse of West African cities
    TRICYCLE = "tricycle"
    CAR = "car"


class UnknownCity(SikaError):
    code = "unknown_city"


class Area(BaseModel, frozen=True):
    lat_min: float = Field(ge=-90, le=90)
    lat_max: float = Field(ge=-90, le=90)
    lng_min: float = Field(ge=-180, le=180)
    lng_max: float = Field(ge=-180, le=180)

    @model_validator(mode="after")
    def _ordered(self) -> Area:
        if not (self.lat_min < self.lat_max and self.lng_min < self.lng_max):
            raise ValueError("an area's minimum is below its maximum")
        return self

    def contains(self, lat: float, lng: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lng_min <= lng <= self.lng_max

    @property
    def center(self) -> tuple[float, float]:
        return (self.lat_min + self.lat_max) / 2, (self.lng_min + self.lng_max) / 2


class Vehicle(BaseModel, frozen=True):
    type: VehicleType
    speed_kmh: float = Field(gt=0, le=120, description="average speed in the city's traffic")
    fares: FarePolicy


class City(BaseModel, frozen=True):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    name: str = Field(min_length=1, max_length=60)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    timezone: str
    currency: str = "XOF"
    area: Area
    vehicles: list[Vehicle] = Field(min_length=1)
    # Dispatch: how far to look for drivers, step by step, and how long a driver has to answer.
    search_radii_m: list[int] = Field(default_factory=lambda: [1_000, 2_000, 3_000, 5_000])
    offer_batch: int = Field(default=3, ge=1, le=10)
    offer_timeout_s: int = Field(default=15, ge=5, le=120)
    # A driver whose last location is older than this is not offered trips.
    location_max_age_s: int = Field(default=60, ge=5, le=3_600)
    detour_factor: float = Field(default=1.3, ge=1.0, le=3.0)
    # Drivers' hours: the cap in any 24 h, the rest after it, warnings, fasting mode (sika.rides.hours).
    hours: HoursRule = Field(default_factory=HoursRule)
    # Markets, stations, landmarks: what riders without a location to share book by.
    places: list[Place] = Field(default_factory=list, max_length=PLACES_MAX)

    @model_validator(mode="after")
    def _places_inside(self) -> City:
        ids = [place.id for place in self.places]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.id}: two places have the same id")
        for place in self.places:
            if not self.area.contains(place.lat, place.lng):
                raise ValueError(f"{self.id}: place {place.id} is outside the service area")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def vehicle(self, vehicle_type: str) -> Vehicle:
        for vehicle in self.vehicles:
            if vehicle.type == vehicle_type:
                return vehicle
        raise SikaError(f"{self.name} has no {vehicle_type} service", code="unknown_vehicle_type")

    def local_hour(self, at_s: float) -> int:
        return datetime.fromtimestamp(at_s, UTC).astimezone(zoneinfo.ZoneInfo(self.timezone)).hour


def _vehicles(scale: float = 1.0) -> list[Vehicle]:
    """Moto, tricycle and car fares for a city; ``scale`` adapts them to its prices."""

    def fares(base: int, per_km: int, per_min: int, minimum: int) -> FarePolicy:
        return FarePolicy(
            base=round(base * scale),
            per_km=round(per_km * scale),
            per_min=round(per_min * scale),
            minimum=round(minimum * scale / 25) * 25,
            night_surcharge_bp=2_000,
        )

    return [
        Vehicle(type=VehicleType.MOTO, speed_kmh=22, fares=fares(150, 100, 10, 300)),
        Vehicle(type=VehicleType.TRICYCLE, speed_kmh=18, fares=fares(200, 150, 15, 500)),
        Vehicle(type=VehicleType.CAR, speed_kmh=20, fares=fares(500, 250, 25, 1_000)),
    ]


DEFAULT_CITIES: list[City] = [
    City(
        id="lome",
        name="Lomé",
        country="TG",
        timezone="Africa/Lome",
        area=Area(lat_min=6.10, lat_max=6.30, lng_min=1.10, lng_max=1.35),
        vehicles=_vehicles(),
        places=DEFAULT_PLACES["lome"],
    ),
    City(
        id="kara",
        name="Kara",
        country="TG",
        timezone="Africa/Lome",
        area=Area(lat_min=9.50, lat_max=9.60, lng_min=1.14, lng_max=1.24),
        vehicles=_vehicles(0.9),
        places=DEFAULT_PLACES["kara"],
    ),
    City(
        id="cotonou",
        name="Cotonou",
        country="BJ",
        timezone="Africa/Porto-Novo",
        area=Area(lat_min=6.34, lat_max=6.42, lng_min=2.33, lng_max=2.47),
        vehicles=_vehicles(1.1),
        places=DEFAULT_PLACES["cotonou"],
    ),
    City(
        id="ouagadougou",
        name="Ouagadougou",
        country="BF",
        timezone="Africa/Ouagadougou",
        area=Area(lat_min=12.30, lat_max=12.42, lng_min=-1.60, lng_max=-1.45),
        vehicles=_vehicles(),
        places=DEFAULT_PLACES["ouagadougou"],
    ),
    City(
        id="bamako",
        name="Bamako",
        country="ML",
        timezone="Africa/Bamako",
        area=Area(lat_min=12.56, lat_max=12.70, lng_min=-8.08, lng_max=-7.90),
        vehicles=_vehicles(),
        places=DEFAULT_PLACES["bamako"],
    ),
]


def city_by_id(cities: list[City], city_id: str) -> City:
    for city in cities:
        if city.id == city_id:
            return city
    raise UnknownCity(f"Sika rides do not run in {city_id!r} (yet): {', '.join(c.id for c in cities)}")
