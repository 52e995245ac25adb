"""The driver-location index in Redis (``SIKA_REDIS_URL``): ``GEOSEARCH`` on a geo set plus a sorted set
of last-update times, so that several processes share one picture of the city.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.commands.core import Script

from sika.rides.geo import EARTH_RADIUS_M, InvalidPoint, Point
from sika.rides.locations import (
    LocationIndexError,
    LocationIndexUnavailable,
    Update,
    check_driver,
    check_query,
    check_time,
)

__all__ = ["PIPELINE_CALLS_MAX", "REDIS_BATCH_MAX", "REDIS_EARTH_RADIUS_M", "REDIS_LAT_MAX", "RedisGeoIndex"]

# Updates sent to Redis per script call (each call holds Redis for about a millisecond), and calls per
# pipelined round trip.
REDIS_BATCH_MAX = 1_000
PIPELINE_CALLS_MAX = 10
# Redis's GEO commands stop at the Web Mercator latitudes.
REDIS_LAT_MAX = 85.05112878
# The sphere Redis's GEO commands measure on (src/geohash_helper.c).
REDIS_EARTH_RADIUS_M = 6_372_797.560856
_TO_REDIS = REDIS_EARTH_RADIUS_M / EARTH_RADIUS_M


# KEYS: geo set, last-update set. ARGV: (member, lng, lat, at_s) × n. Atomic, and older updates lose.
_UPDATE_LUA = """
local applied = 0
for i = 1, #ARGV, 4 do
  local at = tonumber(ARGV[i + 3])
  local last = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if not last or tonumber(last) <= at then
    redis.call('GEOADD', KEYS[1], ARGV[i + 1], ARGV[i + 2], ARGV[i])
    redis.call('ZADD', KEYS[2], at, ARGV[i])
    applied = applied + 1
  end
end
return applied
"""

# KEYS: geo set, last-update set. ARGV: lng, lat, radius (m, on Redis's sphere), k, fresh-after (s).
# GEOSEARCH the k nearest; if stale drivers crowd them out, ask for four times more, up to everyone.
_NEAREST_LUA = """
local k = tonumber(ARGV[4])
local fresh_after = tonumber(ARGV[5])
local total = redis.call('ZCARD', KEYS[1])
local count = k
while true do
  local found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2],
                           'BYRADIUS', ARGV[3], 'm', 'ASC', 'COUNT', count, 'WITHDIST')
  local out = {}
  for first = 1, #found, 1000 do
    local last = math.min(first + 999, #found)
    local members = {}
    for i = first, last do members[#members + 1] = found[i][1] end
    local seen = redis.call('ZMSCORE', KEYS[2], unpack(members))
    for i = first, last do
      local at = seen[i - first + 1]
      if at and tonumber(at) >= fresh_after and #out < 2 * k then
        out[#out + 1] = found[i][1]
        out[#out + 1] = found[i][2]
      end
    end
  end
  if #out >= 2 * k or #found < count or count >= total then return out end
  count = math.min(count * 4, total)
end
"""

# KEYS: geo set, last-update set. ARGV: "(fresh-after", limit. Removes up to limit stale drivers.
_PRUNE_LUA = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for first = 1, #stale, 1000 do
  local chunk = {unpack(stale, first, math.min(first + 999, #stale))}
  redis.call('ZREM', KEYS[1], unpack(chunk))
  redis.call('ZREM', KEYS[2], unpack(chunk))
end
return #stale
"""


class RedisGeoIndex:
    """The index in Redis (6.2 or later): a geo set ``key`` and a sorted set ``key:seen`` of update times.

    Writes and searches are Lua scripts, one round trip each and atomic across both keys; batches of
    updates are pipelined. For Redis Cluster give a hash-tagged key (``{sika}:drivers``) so that both
    keys live on one shard. Distances are converted between Redis's sphere and Sika's, so radii and
    answers mean the same as :class:`H3Index`'s.
    """

    def __init__(self, redis_url: str, key: str = "sika:drivers", *, timeout_s: float = 5.0) -> None:
        self._shown = _redacted(redis_url)
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
        except ValueError as exc:
            raise LocationIndexError(
                f"{self._shown} is not a Redis URL (check SIKA_REDIS_URL): {exc}", code="configuration_error"
            ) from exc
        self._keys = [key, f"{key}:seen"]
        self._update: Script = self._client.register_script(_UPDATE_LUA)
        self._nearest: Script = self._client.register_script(_NEAREST_LUA)
        self._prune: Script = self._client.register_script(_PRUNE_LUA)

    @property
    def key(self) -> str:
        return self._keys[0]

    @contextmanager
    def _redis(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise LocationIndexUnavailable(
                f"the driver-location index in Redis ({self._shown}) failed: {exc};"
                " check that Redis 6.2+ runs there, or unset SIKA_REDIS_URL to keep the index in-process"
            ) from exc

    def update(self, driver_id: int, point: Point, at_s: float) -> None:
        with self._redis():
            self._update(keys=self._keys, args=_update_args(driver_id, point, at_s))

    def update_many(self, updates: Iterable[Update]) -> None:
        """Scripts of up to REDIS_BATCH_MAX updates each, PIPELINE_CALLS_MAX of them per round trip."""
        args: list[Any] = []
        with self._redis():
            pipe = self._client.pipeline(transaction=False)
            for driver_id, point, at_s in updates:
                args.extend(_update_args(driver_id, point, at_s))
                if len(args) == 4 * REDIS_BATCH_MAX:
                    self._update(keys=self._keys, args=args, client=pipe)
                    args = []
                    if len(pipe) == PIPELINE_CALLS_MAX:
                        pipe.execute()
            if args:
                self._update(keys=self._keys, args=args, client=pipe)
            if len(pipe):
                pipe.execute()

    def remove(self, driver_id: int) -> None:
        with self._redis():
            pipe = self._client.pipeline(transaction=True)
            pipe.zrem(self._keys[0], driver_id)
            pipe.zrem(self._keys[1], driver_id)
            pipe.execute()

    def nearest(
        self, point: Point, k: int, radius_m: float, now_s: float, max_age_s: float
    ) -> list[tuple[int, float]]:
        check_query(k, radius_m, max_age_s)
        _check_redis_lat(point)
        fresh_after_s = max(now_s - max_age_s, -1e300)  # Lua's tonumber reads no infinity
        args: list[float | str] = [point.lng, point.lat, radius_m * _TO_REDIS, k, repr(fresh_after_s)]
        with self._redis():
            flat = self._nearest(keys=self._keys, args=args)
        found = [(int(flat[i]), float(flat[i + 1]) / _TO_REDIS) for i in range(0, len(flat), 2)]
        # Redis orders by its own rounded distance; make ties deterministic, as H3Index does.
        found.sort(key=lambda item: (item[1], item[0]))
        return found

    def position(self, driver_id: int) -> Point | None:
        with self._redis():
            (found,) = self._client.geopos(self._keys[0], driver_id)
        if found is None:
            return None
        lng, lat = found
        return Point(float(lat), float(lng))

    def prune(self, now_s: float, max_age_s: float) -> int:
        removed = 0
        with self._redis():
            while True:
                count = int(self._prune(keys=self._keys, args=[f"({now_s - max_age_s!r}", REDIS_BATCH_MAX]))
                removed += count
                if count < REDIS_BATCH_MAX:
                    return removed

    def __len__(self) -> int:
        with self._redis():
            return int(self._client.zcard(self._keys[0]))

    def clear(self) -> None:
        """Delete both keys (tests and benchmarks)."""
        with self._redis():
            self._client.delete(*self._keys)

    def close(self) -> None:
        self._client.close()


def _update_args(driver_id: int, point: Point, at_s: float) -> list[Any]:
    check_driver(driver_id)
    check_time(at_s)
    _check_redis_lat(point)
    return [driver_id, point.lng, point.lat, repr(float(at_s))]


def _check_redis_lat(point: Point) -> None:
    if abs(point.lat) > REDIS_LAT_MAX:
        raise InvalidPoint(f"Redis's geo index stops at ±{REDIS_LAT_MAX}° of latitude, not {point.lat}")


def _redacted(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    except ValueError:
        return "<unparsable URL>"
