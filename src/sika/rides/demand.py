"""Where and when riders ask for trips, for the city simulator.

- **When.** A Poisson process whose rate follows :data:`DAILY_PROFILE`: one weight per local hour, their
  mean 1, so that ``requests_per_hour`` is the average over a whole day. The shape is a working day in a
  West African city: quiet nights, a sharp morning peak (school, market, office), a midday bump and a
  longer evening peak. Arrivals are drawn by thinning (Lewis and Shedler): candidates at the peak rate,
  each kept with probability rate(t) / peak rate, which is exact for a rate that changes every hour.
  :data:`RAMADAN_PROFILE` is a Ramadan day: quiet while people fast (about 40 % less by day), a sharp
  peak in the hour before iftar (everyone heading home to break the fast: Maghrib is 18:00-18:20 all
  year in these cities, near the equator), almost nobody during iftar itself, then a late-night peak
  (tarawih prayers, visits, night markets) to past midnight and a small one at suhoor.
- **Where.** Pickups are a mix: half uniform over the service area, half concentrated around its centre
  (a normal law with a sixth of the box's span as standard deviation, redrawn when it falls outside).
- **How far.** The route length is log-normal, median 4 km: 90 % of trips between 2 and 8 km, as on
  a moto-taxi; the drop-off lies that far (less the detour factor, in a straight line) in a random
  direction, kept inside the area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sika.rides.cities import Area
from sika.rides.geo import Point, destination

__all__ = ["DAILY_PROFILE", "PROFILES", "RAMADAN_PROFILE", "DemandModel", "rate_weight"]

_RAW_PROFILE = (
    0.15, 0.08, 0.06, 0.06, 0.15, 0.50,   # 00:00-05:59 night, first workers from 05:00
    1.30, 2.00, 1.80, 1.20, 1.00, 1.00,   # morning peak at 07:00
    1.25, 1.10, 1.00, 1.05, 1.35, 1.90,   # midday bump, evening builds up
    2.00, 1.60, 1.10, 0.75, 0.50, 0.30,   # evening peak at 18:00, then the night
)
_RAW_RAMADAN = (
    1.40, 0.90, 0.45, 0.55, 0.50, 0.35,   # late night to 01:00, suhoor around 03:00-04:00
    0.55, 0.90, 0.85, 0.65, 0.55, 0.55,   # a quieter morning
    0.60, 0.55, 0.55, 0.70, 1.20, 2.60,   # the afternoon builds up to the rush before iftar (17:00)
    0.45, 0.90, 1.50, 2.00, 2.00, 1.70,   # iftar at Maghrib, then the night out
)


def _normalised(raw: tuple[float, ...]) -> tuple[float, ...]:
    """Weights per local hour 0..23, scaled so that their mean is exactly 1."""
    assert len(raw) == 24 and min(raw) > 0
    return tuple(w * 24 / sum(raw) for w in raw)


DAILY_PROFILE: tuple[float, ...] = _normalised(_RAW_PROFILE)
RAMADAN_PROFILE: tuple[float, ...] = _normalised(_RAW_RAMADAN)
PROFILES: dict[str, tuple[float, ...]] = {"normal": DAILY_PROFILE, "ramadan": RAMADAN_PROFILE}

TRIP_MEDIAN_M = 4_000.0
TRIP_SIGMA = 0.42          # log-normal: 5 % of trips under 2.0 km, 5 % over 8.0 km
TRIP_MIN_M = 1_000.0
TRIP_MAX_M = 15_000.0
CENTRE_SHARE = 0.5
# Limits on redraws, so that an odd area (a thin strip) cannot loop forever.
_DRAWS_MAX = 16


def rate_weight(local_hour_float: float, profile: tuple[float, ...] = DAILY_PROFILE) -> float:
    """The profile's weight at a local time of day given in hours (any float: it wraps)."""
    return profile[math.floor(local_hour_float) % 24]


@dataclass(frozen=True, slots=True)
class DemandModel:
    area: Area
    detour_factor: float
    requests_per_hour: float
    start_hour: float
    profile: tuple[float, ...] = DAILY_PROFILE

    def next_arrival_s(self, now_s: float, rng: np.random.Generator) -> float:
        """The time of the next request after ``now_s`` (simulated seconds since the start)."""
        assert self.requests_per_hour > 0
        peak = max(self.profile)
        peak_per_s = self.requests_per_hour * peak / 3_600
        t = now_s
        while True:  # ends with probability 1: every hour's weight is above zero
            t += float(rng.exponential(1 / peak_per_s))
            if float(rng.random()) * peak <= rate_weight(self.start_hour + t / 3_600, self.profile):
                return t

    def pickup(self, rng: np.random.Generator) -> Point:
        area = self.area
        if float(rng.random()) < CENTRE_SHARE:
            lat_c, lng_c = area.center
            for _ in range(_DRAWS_MAX):
                lat = lat_c + float(rng.normal()) * (area.lat_max - area.lat_min) / 6
                lng = lng_c + float(rng.normal()) * (area.lng_max - area.lng_min) / 6
                if area.contains(lat, lng):
                    return Point(lat, lng)
        return Point(float(rng.uniform(area.lat_min, area.lat_max)),
                     float(rng.uniform(area.lng_min, area.lng_max)))

    def dropoff(self, pickup: Point, rng: np.random.Generator) -> Point:
        route_m = TRIP_MEDIAN_M * math.exp(TRIP_SIGMA * float(rng.normal()))
        straight_m = min(max(route_m, TRIP_MIN_M), TRIP_MAX_M) / self.detour_factor
        bearing = float(rng.uniform(0, 360))
        for attempt in range(_DRAWS_MAX):
            point = destination(pickup, (bearing + attempt * 360 / _DRAWS_MAX) % 360, straight_m)
            if self.area.contains(point.lat, point.lng):
                return point
        return self._clamp(point)

    def _clamp(self, point: Point) -> Point:
        area = self.area
        return Point(min(max(point.lat, area.lat_min), area.lat_max),
                     min(max(point.lng, area.lng_min), area.lng_max))
