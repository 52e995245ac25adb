"""Where the drivers are: the k nearest drivers to a point, among those whose position is fresh.

Two implementations of :class:`LocationIndex`, chosen by :func:`location_index`:

- :class:`H3Index`, in the process: drivers bucketed by H3 cell, searched ring by ring outwards from
  the query's cell with a proof of when to stop; the default, and what one process needs;
- :class:`RedisGeoIndex`, in Redis (``SIKA_REDIS_URL``): ``GEOSEARCH`` on a geo set plus a sorted set
  of last-update times, so that several processes share one picture of the city.

Both give the same answers: exact great-circle distances on :data:`~sika.rides.geo.EARTH_RADIUS_M`
(Redis's up to its geohash cells, about 0.6 m by 0.3 m), nearest first, ties by driver id; a driver
whose last update is older than ``max_age_s`` drops out of searches; an update older than the stored
one is ignored, because positions arrive out of order over mobile networks.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeAlias
from urllib.parse import urlsplit

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt
import redis
from h3 import H3BaseException
from redis.commands.core import Script

from sika.errors import SikaError
from sika.rides.geo import EARTH_RADIUS_M, InvalidPoint, Point

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

# Measured with `sika bench dispatch --resolution R` (docs/benchmarks.md): fastest for 50,000 drivers
# over Lomé and 10 nearest within 3 km.
RESOLUTION_DEFAULT = 9
RESOLUTIONS = range(5, 13)
K_MAX = 1_000
RADIUS_M_MAX = 100_000.0
# Rings are cached per query cell up to this many; wider searches compute the outer rings afresh.
RINGS_CACHED = 4
# Past this many rings a search scans every driver instead: by then that is cheaper, and it bounds the
# work of one query whatever the radius and the density.
RINGS_MAX = 40
# Cell geometry cached (the city's cells and their neighbours); cleared whole when full.
CELLS_CACHED_MAX = 200_000
# Updates sent to Redis per script call (each call holds Redis for about a millisecond), and calls per
# pipelined round trip.
REDIS_BATCH_MAX = 1_000
PIPELINE_CALLS_MAX = 10
# Redis's GEO commands stop at the Web Mercator latitudes.
REDIS_LAT_MAX = 85.05112878
# The sphere Redis's GEO commands measure on (src/geohash_helper.c).
REDIS_EARTH_RADIUS_M = 6_372_797.560856
_TO_REDIS = REDIS_EARTH_RADIUS_M / EARTH_RADIUS_M
# Rounding margin on the proof that no unseen driver is nearer (a millimetre: far above the float and
# H3 rounding, far below any distance that matters).
_MARGIN_M = 1e-3

# Driver ids travel as float64 inside H3Index's rows: exact below 2**53.
DRIVER_ID_MAX = 2**53 - 1

Update: TypeAlias = tuple[int, Point, float]
_Floats: TypeAlias = npt.NDArray[np.float64]

# H3Index's row: x, y, z (unit vector), last update (s), driver id.
_COLUMNS = 5
_AT, _ID = 3, 4
_XYZ = np.array((1.0, 1.0, 1.0, 0.0, 0.0))  # sums the squared coordinate differences, nothing else
_EMPTY: npt.NDArray[np.float64] = np.empty(0)


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


def location_index(redis_url: str | None) -> LocationIndex:
    """Redis when a URL is given (processes share the index), else an in-process :class:`H3Index`."""
    if redis_url is None:
        return H3Index()
    return RedisGeoIndex(redis_url)


def _check_query(k: int, radius_m: float, max_age_s: float) -> None:
    if not 1 <= k <= K_MAX:
        raise InvalidLocationQuery(f"k must be between 1 and {K_MAX}, not {k}")
    if not 0.0 < radius_m <= RADIUS_M_MAX:
        raise InvalidLocationQuery(f"radius_m must be above 0 and at most {RADIUS_M_MAX:g}, not {radius_m}")
    if not max_age_s >= 0.0:  # NaN fails too
        raise InvalidLocationQuery(f"max_age_s must be 0 or more, not {max_age_s}")


def _check_driver(driver_id: int) -> None:
    if not 0 <= driver_id <= DRIVER_ID_MAX:
        raise InvalidLocationQuery(f"a driver id must be between 0 and {DRIVER_ID_MAX}, not {driver_id}")


def _check_time(at_s: float) -> None:
    if not math.isfinite(at_s):
        raise InvalidLocationQuery(f"a position's time must be a finite number of seconds, not {at_s}")


def _chord2(distance_m: float) -> float:
    """The squared chord, on the unit sphere, of a great-circle distance: same order, cheaper."""
    half = min(max(distance_m, 0.0) / (2 * EARTH_RADIUS_M), math.pi / 2)
    return (2 * math.sin(half)) ** 2


def _unit(lat: float, lng: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lng)
    cos_phi = math.cos(phi)
    return cos_phi * math.cos(lam), cos_phi * math.sin(lam), math.sin(phi)


# In-process: H3 ---------------------------------------------------------------------------------------


class _Cell:
    """One H3 cell's geometry, and for cells that were queried, its rings and how far they reach.

    ``reach_m[r]``: no point outside the disk of ``r`` rings around this cell is nearer than that to the
    cell's centre. Every path from the centre to such a point enters a cell of ring ``r + 1`` (the grid
    distance changes by one from a cell to its neighbour), so the bound is the least, over ring
    ``r + 1``, of (distance between centres − that cell's circumradius): true on the real, irregular
    cells, not on an idealised average hexagon (near Lomé, resolution 9 edges are 5 to 17 % shorter than
    the world average that ``h3.average_hexagon_edge_length`` gives).
    """

    __slots__ = ("center", "circumradius_m", "reach_m", "rings")

    def __init__(self, center: tuple[float, float, float], circumradius_m: float) -> None:
        self.center = center
        self.circumradius_m = circumradius_m
        self.rings: list[tuple[int, ...]] = []
        self.reach_m: list[float] = []


class H3Index:
    """Drivers bucketed by H3 cell (``resolution`` 5..12), their data in one flat numpy array.

    Each driver owns a slot, a row of ``_rows``: its unit vector (x, y, z), its last update time and
    its id, so that one gather fetches everything a search needs; a cell maps to the set of its
    drivers' slots. A search gathers the slots of rings 0, 1, 2… around the query's cell and ranks them
    by squared chord (monotone in, and exactly convertible to, the great-circle distance), stopping once
    the ``k`` best fresh candidates are nearer than anything outside the rings can be (:class:`_Cell`),
    or the rings cover the radius. All methods are thread-safe (one lock).
    """

    def __init__(self, resolution: int = RESOLUTION_DEFAULT, *, capacity: int = 1_024) -> None:
        if resolution not in RESOLUTIONS:
            raise InvalidLocationQuery(
                f"resolution must be between {RESOLUTIONS[0]} and {RESOLUTIONS[-1]}, not {resolution}"
            )
        self.resolution = resolution
        self._lock = threading.Lock()
        # driver id -> (point, cell, slot, at_s)
        self._drivers: dict[int, tuple[Point, int, int, float]] = {}
        self._cells: dict[int, set[int]] = {}
        self._geometry: dict[int, _Cell] = {}
        self._rows: _Floats = np.full((max(capacity, 16), _COLUMNS), np.nan)  # NaN time: a free slot
        self._used = 0  # slots below this have been handed out
        self._free: list[int] = []

    # Writes -------------------------------------------------------------------------------------------

    def update(self, driver_id: int, point: Point, at_s: float) -> None:
        _check_driver(driver_id)
        _check_time(at_s)
        cell = h3.latlng_to_cell(point.lat, point.lng, self.resolution)
        x, y, z = _unit(point.lat, point.lng)
        with self._lock:
            known = self._drivers.get(driver_id)
            if known is None:
                slot = self._allocate()
                self._cells.setdefault(cell, set()).add(slot)
            else:
                _, old_cell, slot, last_s = known
                if at_s < last_s:
                    return
                if old_cell != cell:
                    self._leave(old_cell, slot)
                    self._cells.setdefault(cell, set()).add(slot)
            self._rows[slot] = (x, y, z, at_s, driver_id)
            self._drivers[driver_id] = (point, cell, slot, at_s)

    def update_many(self, updates: Iterable[Update]) -> None:
        for driver_id, point, at_s in updates:
            self.update(driver_id, point, at_s)

    def remove(self, driver_id: int) -> None:
        with self._lock:
            self._forget(driver_id)

    def prune(self, now_s: float, max_age_s: float) -> int:
        fresh_after_s = now_s - max_age_s
        with self._lock:  # one critical section: a driver updated meanwhile is not pruned by mistake
            stale = [d for d, (_, _, _, at_s) in self._drivers.items() if at_s < fresh_after_s]
            for driver_id in stale:
                self._forget(driver_id)
        return len(stale)

    def _forget(self, driver_id: int) -> None:
        known = self._drivers.pop(driver_id, None)
        if known is None:
            return
        _, cell, slot, _ = known
        self._leave(cell, slot)
        self._rows[slot] = np.nan
        self._free.append(slot)

    def _allocate(self) -> int:
        if self._free:
            return self._free.pop()
        if self._used == len(self._rows):
            rows = np.full((2 * len(self._rows), _COLUMNS), np.nan)
            rows[: self._used] = self._rows
            self._rows = rows
        self._used += 1
        return self._used - 1

    def _leave(self, cell: int, slot: int) -> None:
        members = self._cells[cell]
        assert slot in members, (cell, slot)
        members.remove(slot)
        if not members:
            del self._cells[cell]

    # Reads --------------------------------------------------------------------------------------------

    def position(self, driver_id: int) -> Point | None:
        with self._lock:
            known = self._drivers.get(driver_id)
        return None if known is None else known[0]

    def __len__(self) -> int:
        return len(self._drivers)

    def close(self) -> None:
        """Nothing to release: the index lives in this process."""

    def nearest(
        self, point: Point, k: int, radius_m: float, now_s: float, max_age_s: float
    ) -> list[tuple[int, float]]:
        _check_query(k, radius_m, max_age_s)
        cell = h3.latlng_to_cell(point.lat, point.lng, self.resolution)
        search = _Search(_unit(point.lat, point.lng), k, _chord2(radius_m), now_s - max_age_s)
        with self._lock:
            if not self._drivers:
                return []
            if not self._search_rings(search, cell, radius_m):
                search.reset()
                search.add(self._rows[: self._used].copy())  # add() squares what it is given
            return search.best()

    def _search_rings(self, search: _Search, cell: int, radius_m: float) -> bool:
        """Walk the rings until the answer is proven; False if that would take more than RINGS_MAX.

        Rings are gathered cheaply (set lookups) and ranked in numpy only when that can conclude: once
        there are ``k`` candidates to rank, and then once the rings reach as far as the ``k``-th best.
        """
        info = self._cell(cell)
        slack_m = _arc_m(search.xyz, info.center)  # the query point is this far from the centre
        cells = self._cells
        pending: list[int] = []
        for ring in range(RINGS_MAX + 1):
            for neighbour in self._ring(cell, info, ring):
                members = cells.get(neighbour)
                if members:
                    pending.extend(members)
            # No driver outside the rings so far is nearer to the query point than this.
            reach_m = self._reach_m(cell, info, ring) - slack_m - _MARGIN_M
            covered = reach_m >= radius_m
            reach_chord2 = _chord2(reach_m)
            if not covered and (
                reach_m <= 0
                or len(pending) + len(search) < search.k
                or reach_chord2 < search.kth_chord2 < math.inf  # short of the k-th best so far
            ):
                continue  # nothing can be proven with this ring: gather the next one first
            if pending:
                search.add(self._rows.take(pending, axis=0))
                pending.clear()
            if covered or reach_chord2 >= search.kth_chord2:
                return True
        return False

    def _cell(self, cell: int) -> _Cell:
        info = self._geometry.get(cell)
        if info is None:
            if len(self._geometry) >= CELLS_CACHED_MAX:
                self._geometry.clear()
            center = _unit(*h3.cell_to_latlng(cell))
            circumradius_m = max(_arc_m(center, _unit(*vertex)) for vertex in h3.cell_to_boundary(cell))
            info = _Cell(center, circumradius_m)
            self._geometry[cell] = info
        return info

    def _ring(self, cell: int, info: _Cell, ring: int) -> tuple[int, ...]:
        if ring < len(info.rings):
            return info.rings[ring]
        cells = _grid_ring(cell, ring)
        if ring == len(info.rings) and ring < RINGS_CACHED:
            info.rings.append(cells)
        return cells

    def _reach_m(self, cell: int, info: _Cell, ring: int) -> float:
        while len(info.reach_m) <= ring:
            outer = len(info.reach_m) + 1
            info.reach_m.append(
                min(
                    _arc_m(info.center, neighbour.center) - neighbour.circumradius_m
                    for neighbour in map(self._cell, self._ring(cell, info, outer))
                )
            )
        return info.reach_m[ring]


def _grid_ring(cell: int, ring: int) -> tuple[int, ...]:
    try:
        return tuple(h3.grid_ring(cell, ring))
    except H3BaseException:  # near a pentagon, with h3 releases before 4.2: the disk is always defined
        inner = set(h3.grid_disk(cell, ring - 1)) if ring else set()
        return tuple(c for c in h3.grid_disk(cell, ring) if c not in inner)


def _arc_m(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Great-circle distance between two unit vectors, from their chord (exact at short range)."""
    chord = math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, chord / 2))


class _Search:
    """The fresh candidates within the radius that may still be among the ``k`` nearest.

    Candidates farther than the ``k``-th best so far are dropped as they come (the ``k``-th best only
    gets nearer), so that the arrays stay about ``k`` long.
    """

    __slots__ = ("chord2", "fresh_after_s", "ids", "k", "kth_chord2", "origin", "radius_chord2", "xyz")

    def __init__(
        self, xyz: tuple[float, float, float], k: int, radius_chord2: float, fresh_after_s: float
    ) -> None:
        self.xyz = xyz
        self.origin = np.array((*xyz, 0.0, 0.0))  # subtracted from rows: leaves time and id alone
        self.k = k
        self.radius_chord2 = radius_chord2
        self.fresh_after_s = fresh_after_s
        self.reset()

    def reset(self) -> None:
        self.chord2: _Floats = _EMPTY
        self.ids: _Floats = _EMPTY
        self.kth_chord2 = math.inf  # until there are k candidates

    def __len__(self) -> int:
        return len(self.chord2)

    def add(self, rows: _Floats) -> None:
        """Take in the rows (a copy: they are modified) of drivers that may be candidates."""
        fresh = rows[:, _AT] >= self.fresh_after_s  # NaN, a free slot, is never fresh
        ids = rows[:, _ID].copy()  # before the squaring below
        rows -= self.origin
        rows *= rows
        chord2 = rows @ _XYZ
        keep = (chord2 <= min(self.radius_chord2, self.kth_chord2)) & fresh
        if not keep.all():
            chord2, ids = chord2[keep], ids[keep]
        if len(self.chord2):
            chord2, ids = np.concatenate((self.chord2, chord2)), np.concatenate((self.ids, ids))
        if len(chord2) > self.k:
            self.kth_chord2 = float(np.partition(chord2, self.k - 1)[self.k - 1])
            near = chord2 <= self.kth_chord2  # ties at the k-th stay, for the ids to decide between them
            chord2, ids = chord2[near], ids[near]
        elif len(chord2) == self.k:
            self.kth_chord2 = float(chord2.max())
        self.chord2, self.ids = chord2, ids

    def best(self) -> list[tuple[int, float]]:
        ranked = sorted(zip(self.chord2.tolist(), self.ids.tolist(), strict=True))[: self.k]
        return [(int(i), 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(c) / 2))) for c, i in ranked]


# Shared: Redis ------------------------------------------------------------------------------------

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
        _check_query(k, radius_m, max_age_s)
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
    _check_driver(driver_id)
    _check_time(at_s)
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
