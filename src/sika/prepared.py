"""Hot statements compiled once and run straight through the driver.

A statement built once still costs 100–150 µs a run through SQLAlchemy's ``Connection.execute`` on
this machine (an execution context, events, result metadata, and for a read its own connection with
a BEGIN and a ROLLBACK), while SQLite answers a lookup by key in about 6 µs. With the realistic chat
mix those costs were a quarter of a worker's CPU, the driver's own work 3 % (docs/benchmarks.md).
:class:`Prepared` keeps what SQLAlchemy would work out at every run (the SQL text for the dialect,
the order of the parameters, the type conversions of parameters and columns) and hands the driver
the SQL and the values directly.

It runs on a SQLAlchemy ``Connection`` (inside its transaction: a savepoint, a ``together``, a
``begin``), or, for a read, on an ``Engine``: then on the :func:`sika.db.together` connection of
this thread if there is one, else (SQLite) on a connection of the thread's own kept for reads, or
(PostgreSQL) on a pooled driver connection without SQLAlchemy's ``Connection`` around it, in
autocommit (within :func:`sika.own_connections.kept_connections`, the thread's own, kept in
autocommit); a write that is a transaction by itself (:meth:`Prepared.execute_alone`) goes the
same way there. Driver errors come out as SQLAlchemy's (``IntegrityError``, ``OperationalError``…), as
they would through ``execute``, and a connection the driver reports lost is dropped from the pool.

Every value is the caller's: one SQLAlchemy's execution context would have filled (a Python-side
column default or ``onupdate``) is a missing parameter, a ``KeyError``. Two of a statement's result
columns may not share a name. An expanding parameter (``IN``) takes from 1 to ``EXPANDING_MAX``
values (an empty list is a ``ValueError``: SQLAlchemy's "empty set" differs by dialect and type).
On PostgreSQL, ``col IN (…)`` and ``col NOT IN (…)`` go as ``col = ANY(array)`` and
``col <> ALL(array)``, the values as one array parameter: the statement's text is then the same
whatever the number of values, so the driver splits it once and the server prepares and plans it
once, where a text for every count of values was split, parsed and planned at every run (a tenth
of a worker's time under the chat mix, docs/benchmarks.md). Both mean the same, NULLs included.
On PostgreSQL, a statement whose parameters all have their type written in its SQL, run in
autocommit (a read, a lone write), goes straight to libpq without psycopg's cursor
(:mod:`sika.libpq_statements`): 90 → 40 µs of CPU a read by key on this machine.
"""

from __future__ import annotations

import functools
import keyword
import operator
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, sqltypes
from sqlalchemy.sql.compiler import SQLCompiler

from sika.arrays import int_array, text_array
from sika.db import begin, shared
from sika.libpq_statements import Direct, direct_statement, text_values, usable
from sika.libpq_statements import run as run_direct
from sika.own_connections import Kept, close_quietly, kept_by_pool, kept_connection, reader

__all__ = ["Prepared", "Record"]

# A placeholder SQLAlchemy leaves in the SQL for an expanding parameter, filled at each run here.
_POSTCOMPILE = "__[POSTCOMPILE_{}]"
# Values of one expanding parameter: under SQLite's 32,766 variables a statement (PostgreSQL: 65,535),
# above every caller's own limit (the ledger reads up to 8,190 transfers at once).
EXPANDING_MAX = 30_000
_EMPTY: Mapping[str, Any] = {}


class Record(tuple):  # type: ignore[type-arg]
    """A result row: a tuple with its columns by name (``row.msisdn``) and ``row._mapping``, as
    SQLAlchemy's ``Row``. Each plan makes its own subclass with the columns' names."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    if TYPE_CHECKING:  # the columns are attributes of each plan's own subclass
        def __getattr__(self, name: str) -> Any: ...


@functools.lru_cache(maxsize=256)
def _record_class(names: tuple[str, ...], strict: bool = True) -> type[Record]:
    """The row class of these columns. ``strict``: the names must make attributes (a statement's own
    columns); else (names from a cursor) a row with unfit or repeated names is read by position."""
    fit = len(set(names)) == len(names) and all(
        n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("_") for n in names)
    assert fit or not strict, f"result columns unfit for names: {names}"
    if not fit:
        return Record
    fields = {name: property(operator.itemgetter(i)) for i, name in enumerate(names)}
    return type("Record", (Record,), {"__slots__": (), "_fields": tuple(names), **fields})


@dataclass(frozen=True, slots=True)
class _Bind:
    key: str  # what the caller passes
    name: str  # what the compiled SQL calls it
    default: Any  # a literal's value, or _REQUIRED
    convert: Callable[[Any], Any] | None
    expanding: bool  # its values spelled out in the SQL, one placeholder each
    # Its values as one array parameter (PostgreSQL's ``= ANY``), by this: the array's literal.
    array: Callable[[list[Any]], str] | None = None


_REQUIRED = object()
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    positional: bool  # "?" for each value (SQLite), else "%(name)s" (psycopg)
    binds: tuple[_Bind, ...]
    expanding: bool
    record: type[Record] | None  # None: the statement's columns are known only from the cursor
    converts: tuple[Callable[[Any], Any] | None, ...] | None  # None: no column needs converting
    # A text() statement's row class, once its first result named the columns: psycopg builds an
    # object per column each time its ``description`` is read (a tenth of a read's driver time).
    learned: list[type[Record]] = field(default_factory=list, compare=False)
    # On psycopg, the statement as libpq runs it without the cursor (sika.libpq_statements), if it can.
    direct: Direct | None = None


class Prepared:
    """A statement (``select``, ``insert``, ``update``, ``delete``, ``text``) run through the driver
    with its plan made once a dialect. Parameters are passed by their ``bindparam`` keys."""

    __slots__ = ("_lock", "_planned_each_run", "_plans", "_statement")

    def __init__(self, statement: ClauseElement, *, planned_each_run: bool = False) -> None:
        """``planned_each_run``: never through a thread's kept connection, whose plans are generic
        (``sika.own_connections``), but through the pool's, which plan each run with its values: for
        a statement whose best plan turns on them (a queue's claim, ``sika.payments.queue``)."""
        self._statement = statement
        self._planned_each_run = planned_each_run
        self._plans: dict[tuple[str, str], _Plan] = {}
        self._lock = threading.Lock()

    def all(self, on: Connection | Engine, params: Mapping[str, Any] = _EMPTY) -> list[Record]:
        return self._run(on, params, lambda cursor, plan: _records(cursor, plan, cursor.fetchall()))

    def first(self, on: Connection | Engine, params: Mapping[str, Any] = _EMPTY) -> Record | None:
        def one(cursor: Any, plan: _Plan) -> Record | None:
            row = cursor.fetchone()
            return None if row is None else _records(cursor, plan, [row])[0]
        return self._run(on, params, one)

    def scalar(self, on: Connection | Engine, params: Mapping[str, Any] = _EMPTY) -> Any:
        row = self.first(on, params)
        return None if row is None else row[0]

    def execute(self, on: Connection, params: Mapping[str, Any] = _EMPTY) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        # Begun, so that the write is the transaction's (the driver's connection alone would not start
        # SQLAlchemy's: on SQLite the write would commit at once, on PostgreSQL never).
        assert isinstance(on, Connection) and on.in_transaction(), "a write runs inside a transaction"
        return self._run(on, params, lambda cursor, _plan: int(cursor.rowcount))

    def execute_alone(self, engine: Engine, params: Mapping[str, Any] = _EMPTY) -> int:
        """Run a write that is a transaction by itself; how many rows it changed. On PostgreSQL it goes
        alone in autocommit, one round trip (a ``BEGIN``, the statement and a ``COMMIT`` were three),
        committed as durably; on SQLite (its writers take their turn) and inside
        :func:`sika.db.together`, through :func:`sika.db.begin` as any write."""
        if engine.dialect.name == "sqlite" or shared(engine) is not None:
            with begin(engine) as connection:
                return self.execute(connection, params)
        return self._run(engine, params, lambda cursor, _plan: int(cursor.rowcount))

    def first_alone(self, engine: Engine, params: Mapping[str, Any] = _EMPTY) -> Record | None:
        """:meth:`execute_alone` for a write that returns rows (``RETURNING``): its first row."""
        if engine.dialect.name == "sqlite" or shared(engine) is not None:
            with begin(engine) as connection:
                return self.first(connection, params)
        return self.first(engine, params)

    def all_alone(self, engine: Engine, params: Mapping[str, Any] = _EMPTY) -> list[Record]:
        """:meth:`execute_alone` for a write that returns rows (``RETURNING``): all of them."""
        if engine.dialect.name == "sqlite" or shared(engine) is not None:
            with begin(engine) as connection:
                return self.all(connection, params)
        return self.all(engine, params)

    def execute_many(self, on: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run a statement that returns no rows once for each of ``rows``, in one driver call; how many
        rows it changed in all."""
        assert isinstance(on, Connection) and on.in_transaction(), "a write runs inside a transaction"
        if not rows:
            return 0
        return self._run(on, rows, lambda cursor, _plan: int(cursor.rowcount))

    # --------------------------------------------------------------------------------------------

    def _run(self, on: Connection | Engine, params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
             read: Callable[[Any, _Plan], _T]) -> _T:
        if isinstance(on, Engine):
            connection = shared(on)
            if connection is None and on.dialect.name == "sqlite":
                driver = reader(on)
                before = driver.total_changes
                result = self._on_driver(driver, on, None, params, read)
                # A write here would commit by itself, outside any turn, and go unsynced (sika.wal_sync).
                assert driver.total_changes == before, "a write through a read: use execute_alone"
                return result
            if connection is None:
                by_pool = kept_by_pool()
                if by_pool is not None and not self._planned_each_run:
                    return self._on_kept(by_pool, on, params, read)
                return self._on_pooled(on, params, read)
            on = connection
        driver = on.connection.dbapi_connection
        assert driver is not None
        return self._on_driver(driver, on.engine, on, params, read)

    def _on_pooled(self, engine: Engine, params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                   read: Callable[[Any, _Plan], _T]) -> _T:
        raw = engine.raw_connection()
        try:
            driver = raw.dbapi_connection
            assert driver is not None
            # In autocommit the read is one round trip: the driver would otherwise send a BEGIN before
            # it and the pool a ROLLBACK after it (three in all). One statement alone is a transaction
            # of its own, and sees the same as it would inside one. The setting is the driver's alone.
            taken = driver.autocommit
            driver.autocommit = True
            return self._read_in_autocommit(raw, driver, engine, params, read, taken=taken)
        finally:
            raw.close()  # back to the pool (which finds nothing to roll back), or closed if invalidated

    def _on_kept(self, by_pool: dict[Any, Kept], engine: Engine,
                 params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                 read: Callable[[Any, _Plan], _T]) -> _T:
        kept = kept_connection(by_pool, engine)
        try:
            return self._on_driver(kept.driver, engine, None, params, read, named=True)
        except DBAPIError as exc:
            if exc.connection_invalidated:  # lost (the server restarted): the next call opens another
                by_pool.pop(engine.pool, None)
                close_quietly(kept.driver)
                # ... from a pool whose connections as old as this one are replaced, not handed out
                # to fail in turn (as on the pooled path)
                engine.pool._invalidate(kept.driver, exc.orig, _checkin=False)
            raise
        finally:
            kept.used_at = time.monotonic()

    def _read_in_autocommit(self, raw: Any, driver: Any, engine: Engine,
                            params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                            read: Callable[[Any, _Plan], _T], *, taken: bool) -> _T:
        lost = False
        try:
            return self._on_driver(driver, engine, None, params, read)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                lost = True
                # As SQLAlchemy does on a disconnect: this connection and every one opened before it
                # are replaced (the server restarted: they are all dead), not found dead one by one.
                engine.pool._invalidate(raw, exc.orig)
            raise
        finally:
            if not lost:
                try:
                    driver.autocommit = taken  # idle (nothing is left open in autocommit): as taken
                except engine.dialect.loaded_dbapi.Error:
                    raw.invalidate()  # it could not be set back (closed meanwhile): not handed out again

    def _on_driver(self, driver: Any, engine: Engine, connection: Connection | None,
                   params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                   read: Callable[[Any, _Plan], _T], *, named: bool = False) -> _T:
        dialect = engine.dialect
        plan = self._plan(dialect)
        many = False
        if isinstance(params, Mapping):
            sql, values = _values(plan, params)
        else:
            assert not plan.expanding, "no list parameter with execute_many"
            sql, values = plan.sql, [_values(plan, row)[1] for row in params]
            # One row is one execute: psycopg runs executemany in a pipeline, which costs more
            # than the statement for the one to few rows a pass writes.
            many = len(values) > 1
            values = values if many else values[0]
        if plan.direct is not None and not many and usable(driver):
            texts = text_values(plan.direct, values)
            if texts is not None:  # straight to libpq (sika.libpq_statements)
                for listener in engine.dispatch.before_cursor_execute:
                    listener(connection, None, sql, values, None, False)
                try:
                    return read(run_direct(driver, plan.direct, texts, named=named), plan)
                except dialect.loaded_dbapi.Error as exc:
                    raise _wrapped(sql, values, exc, dialect, driver) from exc
        try:
            cursor = driver.cursor()
        except dialect.loaded_dbapi.Error as exc:  # a connection already closed (psycopg)
            raise _wrapped(sql, values, exc, dialect, driver) from exc
        try:
            # Those who listen to SQLAlchemy's statements (tests counting reads, tracing) hear these too.
            for listener in engine.dispatch.before_cursor_execute:
                listener(connection, cursor, sql, values, None, many)
            if many:
                cursor.executemany(sql, values)
            else:
                cursor.execute(sql, values)
            return read(cursor, plan)
        except dialect.loaded_dbapi.Error as exc:
            raise _wrapped(sql, values, exc, dialect, driver) from exc
        finally:
            cursor.close()

    def _plan(self, dialect: Dialect) -> _Plan:
        key = (dialect.name, dialect.driver)
        plan = self._plans.get(key)
        if plan is None:
            with self._lock:
                plan = self._plans.get(key) or _make_plan(self._statement, dialect)
                self._plans[key] = plan
        return plan


def _make_plan(statement: ClauseElement, dialect: Dialect) -> _Plan:
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    names = {name: bind for bind, name in compiled.bind_names.items()}
    order = compiled.positiontup if dialect.positional else list(names)
    binds = []
    sql = compiled.string
    for name in order or ():
        bind = names[name]
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        default = _REQUIRED if bind.required else bind.effective_value
        array = None
        if bind.expanding and dialect.name == "postgresql" and not dialect.positional:
            sql, array = _as_array(sql, name, bind.type)
        binds.append(_Bind(bind.key, name, default, convert, bind.expanding and array is None, array))
    columns = getattr(compiled, "_result_columns", None) or []
    record = _record_class(tuple(c.keyname for c in columns)) if columns else None
    converts = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    # Spelled-out lists change the text at each run: those go through the cursor.
    direct = (direct_statement(sql) if dialect.name == "postgresql" and dialect.driver == "psycopg"
              and not any(b.expanding for b in binds) else None)
    return _Plan(sql, dialect.positional, tuple(binds), any(b.expanding or b.array for b in binds),
                 record, converts if any(converts) else None, direct=direct)


def _as_array(sql: str, name: str, type_: Any) -> tuple[str, Callable[[list[Any]], str] | None]:
    """``sql`` with the expanding parameter ``name`` as one array (``= ANY``, ``<> ALL``) where it is
    a plain ``IN``/``NOT IN`` of integers or strings, and what makes the array's literal; else
    (another type, a tuple, a placeholder met twice) None: left to be spelled out, one placeholder
    a value. The literal is built here (:mod:`sika.arrays`): psycopg's list dumper adapts each
    element on its own, which profiled at 7 % of a worker; a literal is one value, never SQL."""
    element = _array_element(type_)
    if element is None:
        return sql, None
    placeholder = _POSTCOMPILE.format(name)
    pattern = re.compile(rf"\b(NOT\s+)?IN\s*\(\s*{re.escape(placeholder)}\s*\)", re.IGNORECASE)
    found = pattern.findall(sql)
    if len(found) != 1 or sql.count(placeholder) != 1:
        return sql, None
    operator_ = "<> ALL" if found[0] else "= ANY"
    literal = int_array if element == "BIGINT" else text_array
    return pattern.sub(lambda _m: f"{operator_} (%({name})s::{element}[])", sql), literal


def _array_element(type_: Any) -> str | None:
    """The array's element type for a list compared with a column of ``type_``: BIGINT for every
    integer (an int4 or int2 column compares with int8 by its own index), VARCHAR or TEXT for a
    string without a length (a length or a fixed CHAR(n) would cut the values, and a wrong match
    follow); None for anything else (an enum, a collation, a date…), which stays spelled out."""
    if isinstance(type_, sqltypes.Integer):
        return "BIGINT"
    if not isinstance(type_, sqltypes.String) or isinstance(type_, (sqltypes.Enum, sqltypes.CHAR)):
        return None
    if getattr(type_, "collation", None):
        return None
    return "TEXT" if isinstance(type_, sqltypes.Text) else "VARCHAR"


def _values(plan: _Plan, params: Mapping[str, Any]) -> tuple[str, Any]:
    """The SQL to run and the driver's parameters (a tuple, or a dict for named styles)."""
    sql = plan.sql
    positional: list[Any] = []
    named: dict[str, Any] = {}
    for bind in plan.binds:
        value = params.get(bind.key, bind.default)
        if value is _REQUIRED:
            raise KeyError(f"missing parameter {bind.key!r}")
        if bind.array or bind.expanding:
            items = list(value)
            if not 0 < len(items) <= EXPANDING_MAX:
                raise ValueError(f"{bind.key}: {len(items)} values, from 1 to {EXPANDING_MAX}")
            if bind.convert is not None:
                items = [bind.convert(item) for item in items]
            if bind.array:  # one parameter, its array's literal
                named[bind.name] = bind.array(items)
                continue
            if plan.positional:
                positional.extend(items)
                marks = ", ".join("?" * len(items))
            else:
                keys = [f"{bind.name}_{i}" for i in range(len(items))]
                named.update(zip(keys, items, strict=True))
                marks = ", ".join(f"%({k})s" for k in keys)
            sql = sql.replace(_POSTCOMPILE.format(bind.name), marks)
            continue
        if bind.convert is not None:
            value = bind.convert(value)
        if plan.positional:
            positional.append(value)
        else:
            named[bind.name] = value
    return sql, (tuple(positional) if plan.positional else named)


def _records(cursor: Any, plan: _Plan, rows: Sequence[Sequence[Any]]) -> list[Record]:
    record = plan.record
    if record is None:  # a text() statement: the names come from the cursor, the same each time
        if not plan.learned:
            plan.learned.append(_record_class(tuple(d[0] for d in cursor.description), strict=False))
        record = plan.learned[0]
    converts = plan.converts
    if converts is None:
        return [record(row) for row in rows]
    return [record(v if f is None else f(v) for f, v in zip(converts, row, strict=True)) for row in rows]


def _wrapped(sql: str, values: Any, exc: Any, dialect: Dialect, driver: Any = None) -> Exception:
    """The driver's error as SQLAlchemy raises it (its subclass, ``connection_invalidated`` set when
    the driver says the connection is lost)."""
    lost = driver is not None and dialect.is_disconnect(exc, driver, None)
    error: Exception = DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error,
                                           connection_invalidated=lost, dialect=dialect)
    return error
