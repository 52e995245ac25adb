"""Where the drivers are: the k nearest drivers to a point, among those whose position is fresh.

Two implementations of :class:`LocationIndex` (the protocol, its errors and limits in
:mod:`sika.rides.locations`), chosen by :func:`location_index`:

- :class:`H3Index` (:mod:`sika.rides.h3_index`), in the process: drivers bucketed by H3 cell, searched
  ring by ring outwards from the query's cell with a proof of when to stop; the default, and what one
  process needs;
- :class:`RedisGeoIndex` (:mod:`sika.rides.redis_index`), in Redis (``SIKA_REDIS_URL``): ``GEOSEARCH``
  on a geo set plus a sorted set of last-update times, so that several processes share one picture of
  the city.

Both give the same answers: exact great-circle distances on :data:`~sika.rides.geo.EARTH_RADIUS_M`
(Redis's up to its geohash cells, about 0.6 m by 0.3 m), nearest first, ties by driver id; a driver
whose last update is older than ``max_age_s`` drops out of searches; an update older than the stored
one is ignored, because positions arrive out of order over mobile networks.
"""

from __future__ import annotations

from sika.rides.h3_index import RESOLUTION_DEFAULT, RESOLUTIONS, H3Index
from sika.rides.locations import (
    DRIVER_ID_MAX,
    K_MAX,
    RADIUS_M_MAX,
    InvalidLocationQuery,
    LocationIndex,
    LocationIndexError,
    LocationIndexUnavailable,
    Update,
)
from sika.rides.redis_index import REDIS_EARTH_RADIUS_M, RedisGeoIndex

__all__ = [
    "DRIVER_ID_MAX",
    "K_MAX",
    "RADIUS_M_MAX",
    "REDIS_EARTH_RADIUS_M",
    "RESOLUTIONS",
    "RESOLUTION_DEFAULT",
    "H3Index",
    "InvalidLocationQuery",
    "LocationIndex",
    "LocationIndexError",
    "LocationIndexUnavailable",
    "RedisGeoIndex",
    "Update",
    "location_index",
]


def location_index(redis_url: str | None) -> LocationIndex:
    """Redis when a URL is given (processes share the index), else an in-process :class:`H3Index`."""
    if redis_url is None:
        return H3Index()
    return RedisGeoIndex(redis_url)
