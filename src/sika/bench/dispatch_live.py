"""The live path of ``sika bench dispatch``: searches and location updates through the rides service.

The index alone answers in tens of microseconds; a search in production also reads the database
around it. On a fresh SQLite database (a temporary file) this opens ``drivers`` drivers of Lomé,
online, approved and just located (written in bulk: the setup is not measured), then times, one call
each:

* ``Rides.quote`` at random rider points: the whole search as a price quote runs it (the catch-up of
  this process's index with drivers changed elsewhere, the query of free drivers, the index search,
  the fare), and apart the time its two queries take (``sql``);
* ``Rides.update_location`` for distinct drivers (one position each: the service refuses two within
  two seconds), each a database write, a read and an index update: updates a second from one thread.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from sika.bench.common import Progress, percentile
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger.schema import accounts as ledger_accounts
from sika.rides.cities import DEFAULT_CITIES
from sika.rides.geo import Point, destination
from sika.rides.schema import drivers as drivers_table
from sika.rides.service import Rides
from sika.wallet.schema import customers as customers_table

__all__ = ["LIVE_DRIVERS_MAX", "LiveResult", "measure_live"]

LIVE_DRIVERS_MAX = 50_000
SEARCHES_MAX = 1_000
UPDATES_MAX = 5_000
CITY = "lome"
VEHICLE = "moto"
_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class LiveResult:
    live_drivers: int
    live_searches: int
    # A whole search (Rides.quote), and the database queries it makes around the index.
    live_search_p50_us: float
    live_search_p99_us: float
    live_sql_p50_us: float
    live_sql_p99_us: float
    live_updates: int
    live_updates_per_s: float
    live_update_p50_us: float
    live_update_p99_us: float


def measure_live(positions: Sequence[Point], queries: Sequence[Point], *, seed: int,
                 progress: Progress) -> LiveResult:
    positions = positions[:LIVE_DRIVERS_MAX]
    with _rides() as container:
        rides = container.rides
        assert rides is not None
        ids = _open_drivers(container, positions, progress)
        searches = list(queries[:SEARCHES_MAX])
        search_s, sql_s = _time_searches(rides, searches, progress)
        update_s = _time_updates(rides, ids, positions, seed, progress)
    return LiveResult(
        live_drivers=len(positions),
        live_searches=len(searches),
        live_search_p50_us=percentile(search_s, 0.5) * 1e6,
        live_search_p99_us=percentile(search_s, 0.99) * 1e6,
        live_sql_p50_us=percentile(sql_s, 0.5) * 1e6,
        live_sql_p99_us=percentile(sql_s, 0.99) * 1e6,
        live_updates=len(update_s),
        live_updates_per_s=len(update_s) / max(sum(update_s), 1e-9),
        live_update_p50_us=percentile(update_s, 0.5) * 1e6,
        live_update_p99_us=percentile(update_s, 0.99) * 1e6,
    )


@contextmanager
def _rides() -> Iterator[Container]:
    with tempfile.TemporaryDirectory(prefix="sika-bench-dispatch-") as directory:
        container = bootstrap(Settings(database_url=f"sqlite:///{Path(directory) / 'rides.db'}",
                                       providers="off", redis_url=None))
        try:
            yield container
        finally:
            container.close()


def _open_drivers(container: Container, positions: Sequence[Point], progress: Progress) -> list[int]:
    """A wallet, a ledger account and an online, approved, located driver for each position."""
    advance = progress.phase("live path: opening drivers", len(positions))
    now = time.time_ns()
    ids: list[int] = []
    for start in range(0, len(positions), _CHUNK):
        chunk = range(start, min(start + _CHUNK, len(positions)))
        with container.engine.begin() as connection:
            connection.execute(insert(ledger_accounts), [
                {"currency": "XOF", "kind": "driver_wallet", "flags": 0, "metadata": f'{{"bench":{i}}}',
                 "created_at_ns": now} for i in chunk])
            accounts = dict(connection.execute(select(ledger_accounts.c.metadata, ledger_accounts.c.id).where(
                ledger_accounts.c.metadata.in_([f'{{"bench":{i}}}' for i in chunk]))).all())
            connection.execute(insert(customers_table), [
                {"msisdn": f"+22891{i:06d}", "name": f"Driver {i}", "language": "fr", "tier": 1,
                 "created_at_ns": now} for i in chunk])
            people = dict(connection.execute(select(customers_table.c.msisdn, customers_table.c.id).where(
                customers_table.c.msisdn.in_([f"+22891{i:06d}" for i in chunk]))).all())
            rows: list[dict[str, Any]] = [
                {"customer_id": people[f"+22891{i:06d}"], "name": f"Driver {i}", "city": CITY,
                 "vehicle_type": VEHICLE, "plate": f"TG{i:07d}", "documents": "approved", "online": True,
                 "account_id": accounts[f'{{"bench":{i}}}'], "lat": positions[i].lat, "lng": positions[i].lng,
                 "located_at_ns": now, "changed_at_ns": now, "created_at_ns": now} for i in chunk]
            connection.execute(insert(drivers_table), rows)
            ids += list(connection.execute(select(drivers_table.c.id).where(
                drivers_table.c.customer_id.in_(list(people.values()))).order_by(drivers_table.c.id)).scalars())
        advance(len(chunk))
    return ids


def _time_searches(rides: Rides, queries: Sequence[Point],
                   progress: Progress) -> tuple[list[float], list[float]]:
    """Each search's seconds, and the seconds of its queries around the index."""
    sql_s = 0.0
    timed: dict[str, Callable[..., Any]] = {}
    for name in ("states", "catch_up"):  # the drivers' state query, the index's catch-up
        original = getattr(rides.drivers, name)

        def measured(*args: Any, _original: Callable[..., Any] = original) -> Any:
            nonlocal sql_s
            began = time.perf_counter()
            try:
                return _original(*args)
            finally:
                sql_s += time.perf_counter() - began

        timed[name] = measured
    for name, wrapper in timed.items():
        setattr(rides.drivers, name, wrapper)  # on this instance only: the bench's own service
    advance = progress.phase("live path: searches (Rides.quote)", len(queries))
    dropoff = Point(6.1375, 1.2123)  # the Grand Marché: a quote needs somewhere to go
    rides.quote(CITY, VEHICLE, queries[0], dropoff)  # the first catch-up reads every driver
    search_s: list[float] = []
    sql_samples: list[float] = []
    for query in queries:
        sql_s = 0.0
        began = time.perf_counter()
        rides.quote(CITY, VEHICLE, query, dropoff)
        search_s.append(time.perf_counter() - began)
        sql_samples.append(sql_s)
        advance(1)
    return search_s, sql_samples


def _time_updates(rides: Rides, ids: Sequence[int], positions: Sequence[Point], seed: int,
                  progress: Progress) -> list[float]:
    rng = random.Random(seed)  # noqa: S311 - a benchmark's positions, not a secret
    count = min(len(ids), UPDATES_MAX)
    advance = progress.phase("live path: location updates (Rides.update_location)", count)
    # The drivers were located just now: their next position is accepted two seconds later.
    time.sleep(2.05)
    update_s: list[float] = []
    area = next(city.area for city in DEFAULT_CITIES if city.id == CITY)
    for driver_id, position in zip(ids[:count], positions[:count], strict=True):
        bearing, metres = rng.uniform(0, 360), rng.uniform(0, 50)
        moved = destination(position, bearing, metres)
        if not area.contains(moved.lat, moved.lng):  # the service refuses a driver leaving the city
            moved = destination(position, bearing + 180, metres)
        began = time.perf_counter()
        rides.update_location(driver_id, moved)
        update_s.append(time.perf_counter() - began)
        advance(1)
    return update_s
