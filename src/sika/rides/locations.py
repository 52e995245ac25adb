"""What every driver-location index shares: the :class:`LocationIndex` protocol, its errors, its limits
and the checks on what it is given. The implementations are :mod:`sika.rides.h3_index` (in the process)
and :mod:`sika.rides.redis_index` (in Redis); :mod:`sika.rides.index` chooses between them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol, TypeAlias

from sika.errors import SikaError
from sika.rides.geo import Point

__all__ = [
    "DRIVER_ID_MAX",
    "K_MAX",
    "RADIUS_M_MAX",
    "InvalidLocationQuery",
    "LocationIndex",
    "LocationIndexError",
    "LocationIndexUnavailable",
    "Update",
    "check_driver",
    "check_query",
    "check_time",
]

K_MAX = 1_000
RADIUS_M_MAX = 100_000.0
# Driver ids travel as float64 inside H3Index's rows: exact below 2**53.
DRIVER_ID_MAX = 2**53 - 1

Update: TypeAlias = tuple[int, Point, float]


class LocationIndexError(SikaError):
    code = "location_index_error"


class InvalidLocationQuery(LocationIndexError, ValueError):
    code = "invalid_location_query"


class LocationIndexUnavailable(LocationIndexError):
    code = "location_index_unavailable"


class LocationIndex(Protocol):
    """Drivers' last known positions, searchable by distance.

    ``at_s`` and ``now_s`` are seconds on one clock (the simulator's or the wall clock), never mixed.
    """

    def update(self, driver_id: int, point: Point, at_s: float) -> None:
        """Record that ``driver_id`` was at ``point`` at ``at_s`` (ignored if older than the stored one)."""
        ...

    def update_many(self, updates: Iterable[Update]) -> None:
        """:meth:`update` for many ``(driver_id, point, at_s)`` at once (batched where that helps)."""
        ...

    def remove(self, driver_id: int) -> None:
        """Forget the driver (gone offline); unknown drivers are ignored."""
        ...

    def nearest(
        self, point: Point, k: int, radius_m: float, now_s: float, max_age_s: float
    ) -> list[tuple[int, float]]:
        """At most ``k`` ``(driver_id, distance_m)`` within ``radius_m`` of ``point``, nearest first.

        Only drivers whose last update is at least ``now_s - max_age_s`` count.
        """
        ...

    def position(self, driver_id: int) -> Point | None:
        """The driver's last known position, stale or not; ``None`` when unknown."""
        ...

    def prune(self, now_s: float, max_age_s: float) -> int:
        """Forget drivers whose last update is older than ``now_s - max_age_s``; how many went."""
        ...

    def __len__(self) -> int:
        """Drivers known, stale ones included."""
        ...

    def close(self) -> None:
        """Release connections; the index is unusable afterwards."""
        ...


def check_query(k: int, radius_m: float, max_age_s: float) -> None:
    if not 1 <= k <= K_MAX:
        raise InvalidLocationQuery(f"k must be between 1 and {K_MAX}, not {k}")
    if not 0.0 < radius_m <= RADIUS_M_MAX:
        raise InvalidLocationQuery(f"radius_m must be above 0 and at most {RADIUS_M_MAX:g}, not {radius_m}")
    if not max_age_s >= 0.0:  # NaN fails too
        raise InvalidLocationQuery(f"max_age_s must be 0 or more, not {max_age_s}")


def check_driver(driver_id: int) -> None:
    if not 0 <= driver_id <= DRIVER_ID_MAX:
        raise InvalidLocationQuery(f"a driver id must be between 0 and {DRIVER_ID_MAX}, not {driver_id}")


def check_time(at_s: float) -> None:
    if not math.isfinite(at_s):
        raise InvalidLocationQuery(f"a position's time must be a finite number of seconds, not {at_s}")
