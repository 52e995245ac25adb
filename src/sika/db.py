"""Database engines: SQLite (embedded default) and PostgreSQL (psycopg 3), set up for durability.

SQLite runs in WAL mode, and a commit that returned survives a power cut: its log is synced right
after the write lock is given back (:mod:`sika.wal_sync`, with ``synchronous=NORMAL``), with foreign
keys on and a busy timeout so that writers from several processes queue instead of
failing. Python's sqlite3 module is put in autocommit mode and every transaction is opened by us, so
that a writer can say ``BEGIN IMMEDIATE`` (take the write lock first, never upgrade and deadlock).

Hot writers open their transactions with :func:`writing`: on SQLite they first wait for their turn
among the machine's writers (:mod:`sika.write_turn`, a queue in the kernel), then take the write lock
at ``BEGIN IMMEDIATE``, waiting for it in steps of at most 2 ms when a writer outside the turns holds
it. SQLite's own busy handler sleeps 1, 2,
5, 10, … up to 100 ms between tries, so a writer that arrives while another holds the lock for a few
milliseconds often sleeps much longer than the lock is held: with the webhook and the inbox workers
writing side by side, those sleeps were most of the webhook's worst latencies (docs/benchmarks.md).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError

from sika.errors import ConfigurationError
from sika.wal_sync import SyncedConnection, WalSync
from sika.write_turn import WriteTurn

__all__ = ["UNAVAILABLE", "begin", "connect", "create_db_engine", "is_sqlite", "ping", "plan_once", "shared",
           "together",
           "wal_sync", "write_turn", "writing"]

# How long a writer waits between tries for SQLite's write lock: short, then doubling up to the most.
LOCK_PAUSE_S_MIN = 0.000_2
LOCK_PAUSE_S_MAX = 0.002
_IMMEDIATE = "sika_begin_immediate"
# The database is away, restarting, or too busy for now: through SQLAlchemy, or straight from a driver
# (the ledger store speaks to psycopg and sqlite3 directly). A request failing so may be run again.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, sqlite3.OperationalError,
                                             psycopg.OperationalError)
SQLITE_OVERFLOW_MIN = 90
# A pooled PostgreSQL connection idle this long is pinged before use (see _ping_when_idle).
PING_IDLE_S = 1.0
_IDLE_SINCE = "sika_idle_since"
POOL_WAIT_S_MARGIN = 30


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_db_engine(url: str, *, pool_size: int = 10, busy_timeout_ms: int = 10_000) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"SIKA_DATABASE_URL is not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigurationError(
                "SQLite needs a file (sqlite:///path/sika.db): an in-memory database is not shared"
                " between connections"
            )
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            # A request thread may hold two connections at once (a write transaction, and a read it
            # makes meanwhile), and the server runs up to 40 request threads besides its workers: a
            # pool smaller than that deadlocks under load until the pool's timeout turns into a 5xx.
            # A SQLite connection is a file handle and a small cache, so the overflow is generous.
            max_overflow=max(pool_size, SQLITE_OVERFLOW_MIN),
            pool_timeout=busy_timeout_ms / 1000 + POOL_WAIT_S_MARGIN,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False,
                          "factory": SyncedConnection},
        )
        _configure_sqlite(engine, busy_timeout_ms, WriteTurn(parsed.database, busy_timeout_ms / 1000),
                          WalSync(parsed.database))
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            isolation_level="READ COMMITTED",
            # psycopg prepares a statement after a few runs; a generic plan made while a table was
            # small (a seq scan) would then stick as it grows. Custom plans keep index lookups.
            # Reads and lone writes run in autocommit (sika.prepared), where no BEGIN carries the
            # isolation level: the session's default is pinned to the engine's.
            connect_args={"options": "-c plan_cache_mode=force_custom_plan"
                                     " -c default_transaction_isolation=read\\ committed"},
        )
        _ping_when_idle(engine)
        return engine
    raise ConfigurationError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def plan_once(driver: Any) -> None:
    """On a psycopg connection of one long-lived user (a ledger writer, a thread's kept connection):
    generic plans, made once for a statement psycopg prepares rather than at every run as on the
    pool's connections, and by index, never by a sequential scan, so that a plan made while a table
    was small never scans it once it is full. A statement whose best plan turns on its values (a
    queue's claim) does not belong on such a connection (``Prepared``'s ``planned_each_run``)."""
    driver.execute("SET plan_cache_mode = force_generic_plan")
    driver.execute("SET enable_seqscan = off")


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection before use only when it sat idle for ``PING_IDLE_S``.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip before each of a worker's
    reads, 9 % of its CPU with the realistic chat mix (docs/benchmarks.md). A connection handed back
    a moment ago is as alive as the server; one that slept may have outlived a restart. One that
    died anyway fails its statement and the request answers 503 ``database_unavailable`` (its retry
    finds a fresh one): through SQLAlchemy the error is a disconnect and every connection of that
    age is dropped; through the ledger's raw connections only the one that failed is, so after a
    restart up to one request a pooled connection may fail so.
    """
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the connection did not answer a ping") from exc


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, turn: WriteTurn, wal: WalSync) -> None:
    # On the dialect, which the engines writing() derives share with this one.
    dialect = engine.dialect
    dialect._sika_turn = turn  # type: ignore[attr-defined]
    dialect._sika_wal = wal  # type: ignore[attr-defined]
    for name in ("do_rollback", "do_close"):
        _give_back_after(dialect, name, turn)
    _synced_after_commit(dialect, turn, wal)

    @event.listens_for(engine, "engine_disposed")
    def _on_disposed(_engine: Engine) -> None:
        turn.close()
        wal.close()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        journal = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        # In WAL mode the log is synced after the commit, outside the write lock (sika.wal_sync);
        # a database that cannot keep a log (a file system without shared memory) syncs as it commits.
        synced = dbapi_connection if isinstance(dbapi_connection, SyncedConnection) else None
        files = {row[1]: row[2] for row in cursor.execute("PRAGMA database_list").fetchall()}
        deferred = (synced is not None and str(journal).lower() == "wal"
                    and wal.serves(str(files.get("main") or "")))
        cursor.execute(f"PRAGMA synchronous={'NORMAL' if deferred else 'FULL'}")
        if synced is not None:
            synced.deferred_sync = deferred
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight to the driver: through SQLAlchemy's execution, BEGIN cost as much as the SELECT
        # after it on the chat's hot reads.
        dbapi_connection = connection.connection.dbapi_connection
        if connection.get_execution_options().get(_IMMEDIATE):
            # Another writer on this thread while its together() holds the lock would wait for itself.
            assert shared(connection.engine) is None, "a write outside the shared transaction"
            try:
                wal.refuse_if_broken()
                turn.take(id(dbapi_connection))
            except sqlite3.OperationalError as exc:
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            try:
                _begin_immediate(dbapi_connection, busy_timeout_ms)
            except BaseException:
                turn.give_back(id(dbapi_connection))
                raise
        else:
            dbapi_connection.execute("BEGIN")


def _give_back_after(dialect: Any, name: str, turn: WriteTurn) -> None:
    """The dialect's ``name`` (commit, rollback, close), then the write turn given back if this
    connection holds it: SQLAlchemy has no event after a commit."""
    original = getattr(dialect, name)

    def ended(dbapi_connection: Any) -> None:
        try:
            original(dbapi_connection)
        finally:
            if turn.held:  # the pool passes its proxy: the key is the driver's connection
                turn.give_back(id(getattr(dbapi_connection, "dbapi_connection", dbapi_connection)))

    setattr(dialect, name, ended)


def _synced_after_commit(dialect: Any, turn: WriteTurn, wal: WalSync) -> None:
    """The dialect's commit, then the write turn given back, then the log synced (see
    :mod:`sika.wal_sync`): the next writer goes while this one waits for the disk."""
    original = dialect.do_commit

    def committed(dbapi_connection: Any) -> None:
        driver = getattr(dbapi_connection, "dbapi_connection", dbapi_connection)
        wrote = turn.holds(id(driver))
        try:
            if wal.broken is not None and getattr(driver, "deferred_sync", False) and (
                    wrote or driver.total_changes != driver.synced_changes):
                # A sync failed before: nothing more is committed that could not be made durable.
                dialect.do_rollback(dbapi_connection)
                driver.synced_changes = driver.total_changes  # undone: a later read is let through
                wal.refuse_if_broken()
            original(dbapi_connection)
        finally:
            if turn.held:
                turn.give_back(id(driver))
        wal.commit(driver, wrote=wrote)

    dialect.do_commit = committed


def wal_sync(engine: Engine) -> WalSync | None:
    """What syncs the log of a SQLite engine's commits that do not go through SQLAlchemy (the
    ledger's batches): see :mod:`sika.wal_sync`. None on other databases."""
    wal: WalSync | None = getattr(engine.dialect, "_sika_wal", None)
    return wal


def write_turn(engine: Engine) -> WriteTurn | None:
    """The turn a writer that begins its own SQLite transactions takes first (see
    :mod:`sika.write_turn`); None on other databases."""
    turn: WriteTurn | None = getattr(engine.dialect, "_sika_turn", None)
    return turn


def writing(engine: Engine) -> Engine:
    """``engine`` for transactions that write: on SQLite they wait for their turn among the machine's
    writers (:mod:`sika.write_turn`), then take the write lock when they begin (in short steps while a
    writer that takes no turn holds it; see the module's docstring), each wait at most the busy
    timeout; elsewhere, ``engine`` itself."""
    if not is_sqlite(engine):
        return engine
    # Kept on the engine itself (a cycle the collector frees with it), made once.
    writer: Engine | None = getattr(engine, "_sika_writer", None)
    if writer is None:
        writer = engine.execution_options(**{_IMMEDIATE: True})
        engine._sika_writer = writer  # type: ignore[attr-defined]
    return writer


# The transaction :func:`together` opened on this thread, by database (its pool).
_shared = threading.local()


@contextmanager
def together(engine: Engine) -> Iterator[None]:
    """On SQLite, the writes made inside (through :func:`begin`, on this thread) share one transaction:
    one write lock taken, one commit, all or nothing. Elsewhere, and inside another ``together``, it
    changes nothing.

    Why only SQLite: it has one writer at a time, and each commit is a turn of that lock and an fsync
    (made just after it, :mod:`sika.wal_sync`), so a payment's three steps (the movement recorded,
    its legs in the ledger, its outcome) cost three lock turns and three fsyncs when one of each does
    the same work. On PostgreSQL the ledger's steps
    go through its group commit instead, which shares commits and hot accounts' row locks between
    concurrent payments; holding those locks for a whole payment would serialise them.

    Nothing that waits on another system may run inside (a provider's answer): the write lock is held.
    What :func:`connect` reads inside sees the writes made so far.
    """
    key = id(engine.pool)
    units: dict[int, Connection] = _shared.__dict__.setdefault("units", {})
    if not is_sqlite(engine) or key in units:
        yield
        return
    with writing(engine).begin() as connection:
        units[key] = connection
        try:
            yield
        finally:
            del units[key]


def shared(engine: Engine) -> Connection | None:
    """The connection of the :func:`together` this thread is in for ``engine``'s database, if any."""
    units: dict[int, Connection] | None = _shared.__dict__.get("units")
    return units.get(id(engine.pool)) if units else None


@contextmanager
def begin(engine: Engine) -> Iterator[Connection]:
    """``writing(engine).begin()``, or, inside :func:`together`, a savepoint of its transaction: what
    is written here is undone if an error leaves the block (as a transaction of its own would be),
    kept and committed with the rest otherwise."""
    connection = shared(engine)
    if connection is not None:
        with _savepoint(connection):
            yield connection
        return
    with writing(engine).begin() as connection:
        yield connection


@contextmanager
def _savepoint(connection: Connection) -> Iterator[None]:
    """A SQLite savepoint straight through the driver (SQLAlchemy's costs a few of our statements)."""
    driver = connection.connection.dbapi_connection
    assert driver is not None
    driver.execute("SAVEPOINT sika_step")
    try:
        yield
    except BaseException:
        if driver.in_transaction:  # else SQLite rolled it all back itself (a full disk): the error tells
            driver.execute("ROLLBACK TO sika_step")
            driver.execute("RELEASE sika_step")
        raise
    driver.execute("RELEASE sika_step")


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """``engine.connect()`` for reading, or, inside :func:`together`, its connection (which sees the
    writes made so far)."""
    connection = shared(engine)
    if connection is not None:
        yield connection
        return
    with engine.connect() as connection:
        yield connection


def _begin_immediate(dbapi_connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """``BEGIN IMMEDIATE``, tried again in short steps while another connection holds the write lock,
    for at most the busy timeout (then SQLite's "database is locked" goes up, as it would have)."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause_s = LOCK_PAUSE_S_MIN
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    # As SQLAlchemy raises a driver's error elsewhere. The Connection is not to be
                    # used again (writing(engine).begin() discards it).
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            time.sleep(pause_s)
            pause_s = min(pause_s * 2, LOCK_PAUSE_S_MAX)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")


def ping(engine: Engine) -> bool:
    """Whether the database answers, and (on SQLite) takes writes: a process whose sync failed
    refuses them until restarted (sika.wal_sync), so it reports itself unwell."""
    wal = wal_sync(engine)
    if wal is not None and wal.broken is not None:
        return False
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
