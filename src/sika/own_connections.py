"""A thread's own database connections, kept out of the pool (:mod:`sika.prepared` runs on them).

On SQLite each thread reads on a connection of its own (:func:`reader`), closed when its engine is
disposed; on PostgreSQL a thread that reads all the time may keep one in autocommit
(:func:`kept_connections`), which only that thread closes. A checkout from the pool and the reset at
its return cost as much as the statement or more.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

from sika.db import PING_IDLE_S, plan_once

__all__ = ["Kept", "close_quietly", "kept_by_pool", "kept_connection", "kept_connections", "reader"]


# Each thread's own SQLite connection for reads, by pool (weakly: gone with the pool).
_readers = threading.local()
# Every engine's readers, closed when it is disposed: the database's last connection then closes and
# checkpoints its WAL, as without them.
_READERS_OF = "_sika_readers"
_readers_lock = threading.Lock()


@dataclass(slots=True)
class Kept:
    driver: Any
    used_at: float
    engine: weakref.ref[Engine]  # whose pool it came from; once disposed (a new pool), it is closed


# The PostgreSQL connections of this thread's own, by pool, while it is within kept_connections().
_kept = threading.local()


@contextlib.contextmanager
def kept_connections() -> Iterator[None]:
    """Within it, this thread's reads and lone writes on a PostgreSQL engine, which would each take a
    pooled connection and switch it to autocommit, go through one connection of the thread's own,
    kept in autocommit out of the pool: a checkout and a check-in cost two thirds of the statement
    (146 µs of CPU a read by key through the pool, 88 µs on a kept connection, on this machine).
    For the threads that read all the time (a worker's inbox, outbox and sender): each holds one
    connection more while within. One that sat idle ``PING_IDLE_S`` is pinged first, as a pooled one
    is; one found lost is dropped and the statement fails, the next one opens a new connection.
    Only this thread closes them (another could close one under a running statement): on the way
    out, or, for an engine disposed meanwhile, at its next statement on that engine."""
    assert getattr(_kept, "by_pool", None) is None, "kept_connections() does not nest"
    by_pool: dict[Any, Kept] = {}  # strongly: a disposed pool's entry waits for its sweep
    _kept.by_pool = by_pool
    try:
        yield
    finally:
        _kept.by_pool = None
        for kept in list(by_pool.values()):
            close_quietly(kept.driver)


def kept_connection(by_pool: dict[Any, Kept], engine: Engine) -> Kept:
    kept = by_pool.get(engine.pool)
    if kept is not None and not _usable(kept, engine):
        by_pool.pop(engine.pool, None)
        close_quietly(kept.driver)
        kept = None
    if kept is None:
        _close_disposed(by_pool)
        raw = engine.raw_connection()  # made by the pool, so with its settings (options, isolation)
        raw.detach()  # then this thread's alone
        driver: Any = raw.dbapi_connection
        try:
            driver.autocommit = True
            if engine.dialect.name == "postgresql":
                # Planning was a third of the server's time on these threads' statements.
                plan_once(driver)
        except BaseException:
            close_quietly(driver)
            raise
        kept = by_pool[engine.pool] = Kept(driver, time.monotonic(), weakref.ref(engine))
    return kept


def _close_disposed(by_pool: dict[Any, Kept]) -> None:
    """Close the kept connections whose pool its engine has replaced (``dispose()``)."""
    for pool, kept in list(by_pool.items()):
        owner = kept.engine()
        if owner is None or owner.pool is not pool:
            by_pool.pop(pool, None)
            close_quietly(kept.driver)


def _usable(kept: Kept, engine: Engine) -> bool:
    """Whether a kept connection can take a statement: open, idle (a statement interrupted in the
    middle leaves it busy), and, after ``PING_IDLE_S`` unused, answering a ping."""
    driver = kept.driver
    if driver.closed or driver.info.transaction_status != driver.info.transaction_status.IDLE:
        return False
    if time.monotonic() - kept.used_at < PING_IDLE_S:
        return True
    try:
        engine.dialect.do_ping(driver)
    except Exception:
        return False
    return True


def close_quietly(driver: Any) -> None:
    with contextlib.suppress(Exception):
        driver.close()


def reader(engine: Engine) -> Any:
    """This thread's SQLite connection for reads, kept out of the pool: a checkout and the reset at its
    return cost twice the read (25 µs against 6 µs for a lookup by key). In autocommit, each read is
    its own read transaction, holding nothing between reads; with WAL it never waits for a writer."""
    by_pool: weakref.WeakKeyDictionary[Any, Any] | None = getattr(_readers, "by_pool", None)
    if by_pool is None:
        by_pool = _readers.by_pool = weakref.WeakKeyDictionary()
    pool = engine.pool
    connection = by_pool.get(pool)
    if connection is None:
        kept = engine.raw_connection()  # made by the pool, so with its settings (WAL, busy timeout)
        kept.detach()  # then this thread's alone: it takes no place in the pool
        connection = by_pool[pool] = kept.dbapi_connection
        _register(engine, connection)
    return connection


def _register(engine: Engine, connection: Any) -> None:
    """Close ``connection`` (a thread's SQLite reader) when the engine is disposed."""
    with _readers_lock:
        readers: list[tuple[weakref.ref[Any], Any]] | None = getattr(engine, _READERS_OF, None)
        if readers is None:
            readers = []
            setattr(engine, _READERS_OF, readers)
            event.listen(engine, "engine_disposed", _close_readers)
        readers.append((weakref.ref(engine.pool), connection))


def _close_readers(engine: Engine) -> None:
    """After ``engine.dispose()``: close the readers of its pools but the new one (threads that read
    again open one on the new pool)."""
    with _readers_lock:
        readers: list[tuple[weakref.ref[Any], Any]] = getattr(engine, _READERS_OF, [])
        old = [(ref, c) for ref, c in readers if ref() is not engine.pool]
        readers[:] = [(ref, c) for ref, c in readers if ref() is engine.pool]
    for _ref, connection in old:
        connection.close()


def kept_by_pool() -> dict[Any, Kept] | None:
    """This thread's kept connections by pool, or None outside :func:`kept_connections`."""
    by_pool: dict[Any, Kept] | None = getattr(_kept, "by_pool", None)
    return by_pool
