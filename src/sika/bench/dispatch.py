"""``sika bench dispatch``: nearest-driver search in Sika's H3 index and in Redis ``GEOSEARCH``.

One run, on the same seeded data for both:

1. places ``drivers`` drivers uniformly (by area) over Lomé's service area, all seen in the last 30 s;
2. loads them: into :class:`~sika.rides.index.H3Index` by ``update()`` calls; into Redis by pipelined
   ``GEOADD`` batches, then again through :class:`~sika.rides.index.RedisGeoIndex` (Lua batches that also
   record update times); each load is timed;
3. moves up to ``MOVES_MAX`` drivers 0..50 m in a random direction, as a GPS ping does: ``update()``
   calls for Sika, one ``GEOADD`` per round trip for Redis, one ``RedisGeoIndex.update`` per round trip;
4. warms Sika's per-cell caches with one query at the centre of every cell of the area (what a
   dispatcher has done after its first minutes), and Redis's connection with a few queries;
5. times ``queries`` random rider points, one call each: ``H3Index.nearest`` in the process;
   ``GEOSEARCH … FROMLONLAT … BYRADIUS 3000 m ASC COUNT 10 WITHDIST`` over one persistent connection
   (the raw baseline); and, on a sample, ``RedisGeoIndex.nearest`` (a script that also drops stale
   drivers, which a raw ``GEOSEARCH`` cannot);
6. checks on a sample that both answers name the same drivers at the same distances, up to Redis's
   precision (positions stored as 52-bit geohashes, about 0.6 m) and ties.

The issue's goal: Sika's median at most a fifth of Redis's ``GEOSEARCH`` median.
"""

from __future__ import annotations

import gc
import math
import random
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import h3
import redis

from sika.bench.common import SILENT, BenchError, Progress, check_ranges, percentile, rounded_json
from sika.bench.dispatch_live import measure_live
from sika.config import settings
from sika.devservers import temporary_redis
from sika.rides.geo import EARTH_RADIUS_M, BBox, Point, destination, haversine_m, random_point_in
from sika.rides.index import (
    K_MAX,
    RADIUS_M_MAX,
    REDIS_EARTH_RADIUS_M,
    RESOLUTION_DEFAULT,
    RESOLUTIONS,
    H3Index,
    RedisGeoIndex,
)

__all__ = [
    "DRIVERS_DEFAULT",
    "LOME_SERVICE_AREA",
    "QUERIES_DEFAULT",
    "DispatchBenchError",
    "DispatchConfig",
    "DispatchResult",
    "Progress",
    "bench_redis",
    "run_dispatch_bench",
]

# Grand Lomé as its moto-taxis serve it: from the Ghana border (Aflao) in the west to Baguida in the east,
# from the beach to Adétikopé's road in the north. About 20 by 22 km (440 km²) around the 280 km²
# metropolitan area, with a corner of sea and one of Ghana. (cities.py's Lomé box, 6.10-6.30 N by
# 1.10-1.35 E, is wider still: the same drivers would be sparser there, and searches a little slower.)
LOME_SERVICE_AREA = BBox(south=6.12, west=1.15, north=6.30, east=1.35)
DRIVERS_DEFAULT = 50_000
QUERIES_DEFAULT = 10_000
DRIVERS_MAX = 2_000_000
QUERIES_MAX = 1_000_000
K_DEFAULT = 10
RADIUS_M_DEFAULT = 3_000.0
# Drivers moved one update per round trip: enough for a rate, short enough for a run.
MOVES_MAX = 10_000
MOVE_M_MAX = 50.0
# Queries through RedisGeoIndex's script, and answers compared between Sika and Redis.
INDEX_SAMPLE_MAX = 2_000
AGREEMENT_SAMPLE_MAX = 1_000
REDIS_WARMUP = 200
PIPELINE_BATCH = 1_000
# Two answers agree when their i-th distances, both measured exactly on the true positions, differ by
# at most this: Redis's geohash cells are about 0.6 m across, so its ranking can swap near-ties.
AGREEMENT_TOLERANCE_M = 1.0
# The clock the bench's drivers live on: seen within the last 30 s, searched with a 60 s freshness.
NOW_S = 1_000_000.0
SEEN_WITHIN_S = 30.0
MAX_AGE_S = 60.0
TARGET = "sika_p50_us <= redis_p50_us / 5"


class DispatchBenchError(BenchError):
    code = "bench_invalid_argument"



@dataclass(frozen=True, slots=True)
class DispatchConfig:
    drivers: int = DRIVERS_DEFAULT
    queries: int = QUERIES_DEFAULT
    k: int = K_DEFAULT
    radius_m: float = RADIUS_M_DEFAULT
    resolution: int = RESOLUTION_DEFAULT
    seed: int = 1

    def validate(self) -> None:
        """Raise :class:`DispatchBenchError` naming the first argument out of its range."""
        check_ranges((
            ("--drivers", self.drivers, 1, DRIVERS_MAX),
            ("--queries", self.queries, 1, QUERIES_MAX),
            ("--k", self.k, 1, K_MAX),
            ("--radius-m", self.radius_m, 1, RADIUS_M_MAX),
            ("--resolution", self.resolution, RESOLUTIONS[0], RESOLUTIONS[-1]),
        ), DispatchBenchError)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    drivers: int
    queries: int
    k: int
    radius_m: float
    resolution: int
    seed: int
    sika_p50_us: float
    sika_p99_us: float
    redis_p50_us: float
    redis_p99_us: float
    # RedisGeoIndex.nearest: GEOSEARCH plus the freshness filter, in one script call.
    redis_index_p50_us: float
    redis_index_p99_us: float
    redis_index_queries: int
    sika_inserts_per_s: float
    sika_updates_per_s: float
    redis_pipelined_updates_per_s: float
    redis_single_updates_per_s: float
    redis_index_updates_per_s: float
    redis_index_single_updates_per_s: float
    moves: int
    agreement: float
    redis_index_agreement: float
    agreement_sample: int
    speedup_p50: float
    target: str
    target_met: bool
    redis_version: str
    # The live path through the rides service (sika.bench.dispatch_live), on a SQLite database.
    live_drivers: int
    live_searches: int
    live_search_p50_us: float
    live_search_p99_us: float
    live_sql_p50_us: float
    live_sql_p99_us: float
    live_updates: int
    live_updates_per_s: float
    live_update_p50_us: float
    live_update_p99_us: float

    def as_json(self) -> dict[str, Any]:
        return rounded_json(self)


@dataclass(frozen=True, slots=True)
class _Data:
    drivers: list[Point]
    seen_s: list[float]
    moves: list[Point]  # new positions of drivers 0..len(moves)-1
    queries: list[Point]


@contextmanager
def bench_redis(redis_url: str | None = None) -> Iterator[str]:
    """``redis_url``, else ``SIKA_REDIS_URL``, else a throwaway ``redis-server`` for the run."""
    configured = redis_url or settings().redis_url
    if configured:
        yield configured
        return
    with temporary_redis() as url:
        yield url


def run_dispatch_bench(
    config: DispatchConfig, *, redis_url: str, progress: Progress | None = None
) -> DispatchResult:
    config.validate()
    reporter = progress or SILENT
    data = _data(config)
    key = f"sika:bench:{secrets.token_hex(4)}:drivers"
    index = RedisGeoIndex(redis_url, key=key, timeout_s=30)  # refuses a malformed URL in one line
    try:
        raw, version = _connect(redis_url)
        try:
            return _run(config, data, raw=raw, index=index, version=version, progress=reporter)
        finally:
            index.clear()
            raw.close()
    finally:
        index.close()


def _connect(redis_url: str) -> tuple[redis.Redis, str]:
    """One persistent connection for the raw baseline, and the server's version."""
    try:
        raw = redis.Redis.from_url(redis_url, single_connection_client=True, socket_timeout=30)
        try:
            return raw, str(raw.info("server")["redis_version"])
        except BaseException:
            raw.close()
            raise
    except redis.RedisError as exc:
        raise DispatchBenchError(
            f"cannot reach Redis: {exc}; start it, or unset SIKA_REDIS_URL and --redis-url to use a"
            " throwaway server",
            code="bench_redis_unavailable",
        ) from exc


def _run(
    config: DispatchConfig,
    data: _Data,
    *,
    raw: redis.Redis,
    index: RedisGeoIndex,
    version: str,
    progress: Progress,
) -> DispatchResult:
    sika = H3Index(config.resolution)
    rates = _load(sika, raw, index, data, progress)
    search = _Searches(config, raw, index.key)
    _warm_up(sika, search, config, progress)
    sika_s, sika_found = _time_queries(
        "Sika H3Index.nearest",
        data.queries,
        progress,
        lambda q: sika.nearest(q, config.k, config.radius_m, NOW_S, MAX_AGE_S),
    )
    redis_s, redis_found = _time_queries("Redis GEOSEARCH", data.queries, progress, search.geosearch)
    sample = data.queries[:INDEX_SAMPLE_MAX]
    index_s, index_found = _time_queries(
        "RedisGeoIndex.nearest",
        sample,
        progress,
        lambda q: index.nearest(q, config.k, config.radius_m, NOW_S, MAX_AGE_S),
    )
    positions = _positions(data)
    agreed = _agreement(positions, data.queries, sika_found, redis_found)
    index_agreed = _agreement(positions, data.queries, sika_found, index_found)
    sika_p50, redis_p50 = percentile(sika_s, 0.5) * 1e6, percentile(redis_s, 0.5) * 1e6
    return DispatchResult(
        drivers=config.drivers,
        queries=config.queries,
        k=config.k,
        radius_m=config.radius_m,
        resolution=config.resolution,
        seed=config.seed,
        sika_p50_us=sika_p50,
        sika_p99_us=percentile(sika_s, 0.99) * 1e6,
        redis_p50_us=redis_p50,
        redis_p99_us=percentile(redis_s, 0.99) * 1e6,
        redis_index_p50_us=percentile(index_s, 0.5) * 1e6,
        redis_index_p99_us=percentile(index_s, 0.99) * 1e6,
        redis_index_queries=len(sample),
        moves=len(data.moves),
        agreement=agreed[0] / agreed[1],
        redis_index_agreement=index_agreed[0] / index_agreed[1],
        agreement_sample=agreed[1],
        speedup_p50=redis_p50 / sika_p50,
        target=TARGET,
        target_met=sika_p50 <= redis_p50 / 5,
        redis_version=version,
        **rates,
        **asdict(measure_live(positions, data.queries, seed=config.seed, progress=progress)),
    )


# Data ---------------------------------------------------------------------------------------------


def _data(config: DispatchConfig) -> _Data:
    rng = random.Random(config.seed)  # noqa: S311  (a benchmark's positions, not secrets)
    drivers = [random_point_in(LOME_SERVICE_AREA, rng) for _ in range(config.drivers)]
    seen_s = [NOW_S - 1.0 - rng.uniform(0.0, SEEN_WITHIN_S) for _ in range(config.drivers)]
    moves = [
        destination(point, rng.uniform(0.0, 360.0), rng.uniform(0.0, MOVE_M_MAX))
        for point in drivers[: min(config.drivers, MOVES_MAX)]
    ]
    queries = [random_point_in(LOME_SERVICE_AREA, rng) for _ in range(config.queries)]
    return _Data(drivers=drivers, seen_s=seen_s, moves=moves, queries=queries)


def _positions(data: _Data) -> list[Point]:
    """Every driver's position after the moves: what both sides hold during the queries."""
    return [*data.moves, *data.drivers[len(data.moves) :]]


# Loading and moving ------------------------------------------------------------------------------


def _load(
    sika: H3Index, raw: redis.Redis, index: RedisGeoIndex, data: _Data, progress: Progress
) -> dict[str, Any]:
    """Load every driver, then move some, into each store; the rates, in updates per second."""
    n = len(data.drivers)
    updates = list(zip(range(n), data.drivers, data.seen_s, strict=True))

    def sika_insert(chunk: Sequence[tuple[int, Point, float]]) -> None:
        for driver_id, point, at_s in chunk:
            sika.update(driver_id, point, at_s)

    def redis_pipelined(chunk: Sequence[tuple[int, Point, float]]) -> None:
        pipe = raw.pipeline(transaction=False)
        for driver_id, point, _ in chunk:
            pipe.geoadd(index.key, (point.lng, point.lat, driver_id))
        pipe.execute()

    def index_batches(chunk: Sequence[tuple[int, Point, float]]) -> None:
        index.update_many(chunk)

    rates = {
        "sika_inserts_per_s": _rate("loading Sika (update() calls)", updates, sika_insert, progress),
        "redis_pipelined_updates_per_s": _rate(
            "loading Redis (pipelined GEOADD)", updates, redis_pipelined, progress
        ),
        "redis_index_updates_per_s": _rate(
            "loading RedisGeoIndex (pipelined scripts)", updates, index_batches, progress
        ),
    }
    moves = [(driver_id, point, NOW_S) for driver_id, point in enumerate(data.moves)]

    def redis_single(chunk: Sequence[tuple[int, Point, float]]) -> None:
        for driver_id, point, _ in chunk:
            raw.geoadd(index.key, (point.lng, point.lat, driver_id))

    def index_single(chunk: Sequence[tuple[int, Point, float]]) -> None:
        for driver_id, point, at_s in chunk:
            index.update(driver_id, point, at_s)

    rates["sika_updates_per_s"] = _rate("moving drivers in Sika", moves, sika_insert, progress)
    rates["redis_single_updates_per_s"] = _rate(
        "moving drivers in Redis (GEOADD)", moves, redis_single, progress
    )
    rates["redis_index_single_updates_per_s"] = _rate(
        "moving drivers in RedisGeoIndex (update())", moves, index_single, progress
    )
    assert len(sika) == n, (len(sika), n)
    assert len(index) == n, (len(index), n)
    return rates


def _rate(
    description: str,
    updates: Sequence[tuple[int, Point, float]],
    apply: Callable[[Sequence[tuple[int, Point, float]]], None],
    progress: Progress,
) -> float:
    """Updates per second, timing chunks of PIPELINE_BATCH (the progress bar is drawn between them)."""
    advance = progress.phase(description, len(updates))
    gc.collect()
    seconds = 0.0
    for start in range(0, len(updates), PIPELINE_BATCH):
        chunk = updates[start : start + PIPELINE_BATCH]
        began = time.perf_counter()
        apply(chunk)
        seconds += time.perf_counter() - began
        advance(len(chunk))
    return len(updates) / seconds if seconds > 0 else math.inf


# Queries ------------------------------------------------------------------------------------------

_Found = list[tuple[int, float]]


class _Searches:
    """The raw Redis baseline: one GEOSEARCH per round trip on one connection."""

    def __init__(self, config: DispatchConfig, raw: redis.Redis, key: str) -> None:
        # The leanest call redis-py has: no argument building beyond the command's words.
        self._command: Callable[..., Any] = raw.execute_command
        self._key = key
        self._k = config.k
        # Redis measures on a sphere 0.03 % larger than Sika's: ask for the same ground radius.
        self._radius = config.radius_m * REDIS_EARTH_RADIUS_M / EARTH_RADIUS_M

    def geosearch(self, query: Point) -> _Found:
        found = self._command(
            "GEOSEARCH",
            self._key,
            "FROMLONLAT",
            query.lng,
            query.lat,
            "BYRADIUS",
            self._radius,
            "m",
            "ASC",
            "COUNT",
            self._k,
            "WITHDIST",
        )
        return [(int(member), float(distance)) for member, distance in found]


def _warm_up(sika: H3Index, search: _Searches, config: DispatchConfig, progress: Progress) -> None:
    area = LOME_SERVICE_AREA
    shape = h3.LatLngPoly(
        [(area.south, area.west), (area.south, area.east), (area.north, area.east), (area.north, area.west)]
    )
    centres = [Point(*h3.cell_to_latlng(cell)) for cell in h3.h3shape_to_cells(shape, config.resolution)]
    advance = progress.phase("warming up (a query per cell, a few GEOSEARCH)", len(centres) + REDIS_WARMUP)
    for centre in centres:
        sika.nearest(centre, config.k, config.radius_m, NOW_S, MAX_AGE_S)
    advance(len(centres))
    rng = random.Random(config.seed + 1)  # noqa: S311
    for _ in range(REDIS_WARMUP):
        search.geosearch(random_point_in(area, rng))
    advance(REDIS_WARMUP)


def _time_queries(
    description: str, queries: Sequence[Point], progress: Progress, call: Callable[[Point], _Found]
) -> tuple[list[float], list[_Found]]:
    """Each call's latency in seconds, and the answers of the first AGREEMENT_SAMPLE_MAX."""
    advance = progress.phase(description, len(queries))
    latencies_s: list[float] = []
    kept: list[_Found] = []
    gc.collect()
    clock = time.perf_counter
    for i, query in enumerate(queries):
        began = clock()
        found = call(query)
        latencies_s.append(clock() - began)
        if i < AGREEMENT_SAMPLE_MAX:
            kept.append(found)
        if i % 500 == 499:
            advance(500)
    advance(len(queries) % 500)
    return latencies_s, kept


def _agreement(
    positions: Sequence[Point], queries: Sequence[Point], ours: Sequence[_Found], theirs: Sequence[_Found]
) -> tuple[int, int]:
    """How many of the sampled answers agree, and how many were compared.

    Each answer's i-th driver is measured exactly on its true position: the answers agree when those
    distances differ by at most AGREEMENT_TOLERANCE_M at every rank (so equal-distance swaps agree).
    """
    sample = min(len(ours), len(theirs))
    agreed = 0
    for query, a, b in zip(queries[:sample], ours[:sample], theirs[:sample], strict=True):
        if len(a) != len(b):
            continue
        exact_a = [haversine_m(query, positions[driver]) for driver, _ in a]
        exact_b = [haversine_m(query, positions[driver]) for driver, _ in b]
        if all(abs(x - y) <= AGREEMENT_TOLERANCE_M for x, y in zip(exact_a, exact_b, strict=True)):
            agreed += 1
    return agreed, max(sample, 1)


