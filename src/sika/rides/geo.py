"""Points on the Earth, great-circle distances, and travel-time estimates.

Distances are great-circle distances on a sphere of the Earth's mean radius (IUGG, 6,371,008.8 m): within
0.5 % of the ellipsoid over the few kilometres that dispatch cares about, and far cheaper.

Travel times go through a :class:`Router`. The default, :class:`StraightLineRouter`, multiplies the
straight-line distance by a detour factor (streets are not straight: 1.3 is typical of African cities'
grids) and divides by an average speed. A routing engine plugs in behind the same protocol: an OSRM
adapter, for instance, would answer ``distance_m`` and ``eta_s`` from ``GET /route/v1/driving/{lng},{lat};
{lng},{lat}`` (or its ``/table`` service for many pairs at once), scale OSRM's free-flow ``duration`` by
``speed_kmh`` against its profile's speed, and fall back to the straight line when the engine is down.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from sika.errors import SikaError

__all__ = [
    "EARTH_RADIUS_M",
    "BBox",
    "InvalidPoint",
    "Point",
    "Router",
    "StraightLineRouter",
    "arc_m",
    "bearing_deg",
    "chord2",
    "destination",
    "haversine_m",
    "random_point_in",
    "unit_vector",
]

EARTH_RADIUS_M = 6_371_008.8
# Speeds beyond this are a unit mistake (m/s for km/h, or a typo), not a moto-taxi.
SPEED_KMH_MAX = 300.0
DETOUR_FACTOR_MAX = 5.0


class InvalidPoint(SikaError, ValueError):
    """A latitude or longitude out of range (also a ``ValueError``, so validators report it as such)."""

    code = "invalid_point"


@dataclass(frozen=True, slots=True)
class Point:
    """A position in degrees (WGS 84): ``lat`` in [-90, 90], ``lng`` in [-180, 180]."""

    lat: float
    lng: float

    def __post_init__(self) -> None:
        # Written so that NaN fails too: every comparison with NaN is false.
        if not -90.0 <= self.lat <= 90.0:
            raise InvalidPoint(f"latitude must be between -90 and 90, not {self.lat!r}")
        if not -180.0 <= self.lng <= 180.0:
            raise InvalidPoint(f"longitude must be between -180 and 180, not {self.lng!r}")


@dataclass(frozen=True, slots=True)
class BBox:
    """A latitude/longitude box (not crossing the antimeridian): ``south < north``, ``west < east``."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        Point(self.south, self.west)  # validates the ranges
        Point(self.north, self.east)
        if not (self.south < self.north and self.west < self.east):
            raise InvalidPoint(f"a box needs south < north and west < east: {self}")

    def contains(self, point: Point) -> bool:
        return self.south <= point.lat <= self.north and self.west <= point.lng <= self.east


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres (haversine formula, accurate at every distance)."""
    phi_a, phi_b = math.radians(a.lat), math.radians(b.lat)
    half_dphi = (phi_b - phi_a) / 2
    half_dlambda = math.radians(b.lng - a.lng) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def bearing_deg(a: Point, b: Point) -> float:
    """Initial bearing from ``a`` towards ``b``, in degrees clockwise from north, in [0, 360)."""
    phi_a, phi_b = math.radians(a.lat), math.radians(b.lat)
    dlambda = math.radians(b.lng - a.lng)
    y = math.sin(dlambda) * math.cos(phi_b)
    x = math.cos(phi_a) * math.sin(phi_b) - math.sin(phi_a) * math.cos(phi_b) * math.cos(dlambda)
    return math.degrees(math.atan2(y, x)) % 360.0


def destination(point: Point, bearing_deg: float, distance_m: float) -> Point:
    """Where one arrives going ``distance_m`` along a great circle from ``point`` at ``bearing_deg``."""
    delta = distance_m / EARTH_RADIUS_M
    theta = math.radians(bearing_deg)
    phi = math.radians(point.lat)
    sin_phi2 = math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(theta)
    phi2 = math.asin(max(-1.0, min(1.0, sin_phi2)))
    lambda2 = math.radians(point.lng) + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi),
        math.cos(delta) - math.sin(phi) * sin_phi2,
    )
    lng = (math.degrees(lambda2) + 540.0) % 360.0 - 180.0  # back into [-180, 180)
    return Point(max(-90.0, min(90.0, math.degrees(phi2))), lng)


def random_point_in(bbox: BBox, rng: random.Random) -> Point:
    """A point drawn uniformly by area (not by degree) in ``bbox``."""
    # Uniform in sin(latitude): a degree of latitude holds less area towards the poles.
    low, high = math.sin(math.radians(bbox.south)), math.sin(math.radians(bbox.north))
    lat = math.degrees(math.asin(rng.uniform(low, high)))
    return Point(min(max(lat, bbox.south), bbox.north), rng.uniform(bbox.west, bbox.east))


class Router(Protocol):
    """Road distance and travel time between two points (straight line, OSRM, Valhalla, …)."""

    def distance_m(self, a: Point, b: Point) -> float:
        """Length of the route from ``a`` to ``b``, in metres."""
        ...

    def eta_s(self, a: Point, b: Point, speed_kmh: float) -> float:
        """Seconds to go from ``a`` to ``b`` at an average ``speed_kmh``."""
        ...


@dataclass(frozen=True, slots=True)
class StraightLineRouter:
    """The great-circle distance times ``detour_factor``, at the given average speed."""

    detour_factor: float = 1.3

    def __post_init__(self) -> None:
        if not 1.0 <= self.detour_factor <= DETOUR_FACTOR_MAX:
            raise ValueError(
                f"detour_factor must be between 1 and {DETOUR_FACTOR_MAX}, not {self.detour_factor}"
            )

    def distance_m(self, a: Point, b: Point) -> float:
        return haversine_m(a, b) * self.detour_factor

    def eta_s(self, a: Point, b: Point, speed_kmh: float) -> float:
        if not 0.0 < speed_kmh <= SPEED_KMH_MAX:
            raise ValueError(f"speed_kmh must be above 0 and at most {SPEED_KMH_MAX}, not {speed_kmh}")
        return self.distance_m(a, b) / (speed_kmh / 3.6)


# Unit vectors and chords: what the location index ranks by (cheaper than haversine, same order).


def chord2(distance_m: float) -> float:
    """The squared chord, on the unit sphere, of a great-circle distance: same order, cheaper."""
    half = min(max(distance_m, 0.0) / (2 * EARTH_RADIUS_M), math.pi / 2)
    return (2 * math.sin(half)) ** 2


def unit_vector(lat: float, lng: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lng)
    cos_phi = math.cos(phi)
    return cos_phi * math.cos(lam), cos_phi * math.sin(lam), math.sin(phi)


def arc_m(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Great-circle distance between two unit vectors, from their chord (exact at short range)."""
    chord = math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, chord / 2))
