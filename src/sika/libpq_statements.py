"""Statements run through libpq itself (psycopg's ``pgconn``), without psycopg's cursor.

psycopg's ``Cursor.execute`` costs about 70 µs of CPU a statement on this machine, most of it in
Python (the query's conversion and its values' adaptation, the bookkeeping of prepared statements,
a result's set-up), where libpq and psycopg's own C loaders answer the same read by key in about
20 µs. A worker runs about two such statements a chat message (docs/benchmarks.md). What this
module does instead, for the statements :class:`sika.prepared.Prepared` runs:

- **Which statements** (:func:`direct_statement`): those whose every parameter has its type written
  in the SQL (``%(x)s::BIGINT``, ``CAST(%(x)s AS TEXT[])``, as SQLAlchemy writes them for
  PostgreSQL), so that the server types them from the text alone and every value can go as text.
- **Which values** (:func:`text_values`): None, integers and strings (enumerations of either
  included) without a NUL character; anything else goes through the cursor, which adapts it (and
  refuses a NUL with its own error, where libpq would cut the string there).
- **Which connections** (:func:`usable`): idle in autocommit, where each statement is a
  transaction by itself (a thread's kept connection, a pooled one lent for a read or a lone
  write); a statement inside a transaction goes through the cursor (see :func:`run`).
- A thread's kept connection prepares each statement once, under a name of its own (``_sika_N``,
  never one of psycopg's ``_pg3_N``), at most ``PREPARED_MAX`` of them; a pooled one runs it
  unnamed (see :func:`run`). The rows are loaded by psycopg's own loaders (a ``Transformer`` of the
  connection), so they come out as through the cursor, and an error is psycopg's, made from the
  result as its cursor makes it (a connection lost: ``OperationalError``, as from the cursor).

The call blocks in libpq with the GIL released, as psycopg's wait does; a lost connection leaves
it ``closed`` (its status bad), which SQLAlchemy's dialect reads as a disconnect.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import errors, pq
from psycopg.adapt import Transformer

__all__ = ["PREPARED_MAX", "Direct", "Result", "direct_statement", "run", "text_values", "usable"]

# Statements one connection keeps prepared: above every statement Sika defines, a bound on the
# server's memory per connection should a caller build statements at run time (then run unnamed).
PREPARED_MAX = 1_024
# psycopg's placeholders, its escaped percent sign, and any other percent sign (then: the cursor).
_TOKEN = re.compile(r"%\((\w+)\)s|%%|%")
_CAST_BEFORE = re.compile(r"CAST\s*\(\s*$", re.IGNORECASE)
_CAST_AFTER = re.compile(r"\s+AS\s", re.IGNORECASE)
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_MISSING_STATEMENT = b"26000"  # invalid_sql_statement_name: DEALLOCATE ALL ran
_names = itertools.count()
_SKIP = object()  # a value that goes through the cursor


@dataclass(frozen=True, slots=True)
class Direct:
    sql: bytes  # with $1, $2…
    order: tuple[str, ...]  # the psycopg parameter named by each $n


def direct_statement(sql: str) -> Direct | None:
    """``sql`` (psycopg's ``%(name)s`` style) for libpq, if every placeholder is typed in the SQL."""
    order: list[str] = []
    parts: list[str] = []
    at = 0
    for token in _TOKEN.finditer(sql):
        parts.append(sql[at:token.start()])
        at = token.end()
        if token.group(0) == "%%":
            parts.append("%")
            continue
        name = token.group(1)
        if name is None or not _typed(sql, token.start(), token.end()):
            return None
        if name not in order:
            order.append(name)
        parts.append(f"${order.index(name) + 1}")
    parts.append(sql[at:])
    return Direct("".join(parts).encode(), tuple(order))


def _typed(sql: str, start: int, end: int) -> bool:
    if sql.startswith("::", end):
        return True
    return bool(_CAST_BEFORE.search(sql, 0, start)) and bool(_CAST_AFTER.match(sql, end))


def text_values(direct: Direct, values: Mapping[str, Any]) -> list[bytes | None] | None:
    """Each value in PostgreSQL's text form, in ``$n`` order; None if one must go through the cursor."""
    out: list[bytes | None] = []
    for name in direct.order:
        value = _text(values[name])
        if value is _SKIP:
            return None
        out.append(value)  # type: ignore[arg-type]
    return out


def _text(value: Any) -> object:
    if value is None:
        return None
    if isinstance(value, bool):
        # psycopg sends a typed boolean, which a cast to another type reads as it should ('true',
        # 1); a bare 't' would not: through the cursor.
        return _SKIP
    if isinstance(value, int):
        return str(int(value)).encode()  # an IntEnum as its number, as psycopg dumps it
    if isinstance(value, str):
        if "\x00" in value:
            return _SKIP
        return str.encode(value)  # a str enumeration as its value, as psycopg dumps it
    return _SKIP


def usable(driver: Any) -> bool:
    """Whether a statement may go straight to libpq on this psycopg connection now: in autocommit and
    idle, where a statement is a transaction by itself (see :func:`run` for why not inside one)."""
    return (bool(driver.autocommit) and driver.pgconn.transaction_status == pq.TransactionStatus.IDLE
            and _session(driver) is not None)


class Result:
    """What :class:`sika.prepared.Prepared` reads of a cursor: rows, a row, the row count, names."""

    __slots__ = ("_loader", "_result", "rowcount")

    def __init__(self, result: Any, loader: Any) -> None:
        self._result = result
        self._loader = loader
        tuples = result.command_tuples
        self.rowcount = -1 if tuples is None else int(tuples)

    def fetchall(self) -> list[tuple[Any, ...]]:
        count = self._result.ntuples
        if not count:
            return []
        self._loader.set_pgresult(self._result)
        rows: list[tuple[Any, ...]] = self._loader.load_rows(0, count, tuple)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if not self._result.ntuples:
            return None
        self._loader.set_pgresult(self._result)
        row: tuple[Any, ...] = self._loader.load_row(0, tuple)
        return row

    @property
    def description(self) -> list[tuple[str]]:
        result = self._result
        return [(bytes(result.fname(i) or b"").decode(),) for i in range(result.nfields)]


# Each psycopg connection's prepared statements, by SQL (None: its encoding is not UTF-8). Nothing in
# a value refers to its connection, so an entry goes with its connection.
_sessions: weakref.WeakKeyDictionary[Any, dict[bytes, bytes] | None] = weakref.WeakKeyDictionary()
_sessions_lock = threading.Lock()


def _session(driver: Any) -> dict[bytes, bytes] | None:
    try:
        return _sessions[driver]
    except KeyError:
        pass
    names: dict[bytes, bytes] | None = {} if driver.info.encoding == "utf-8" else None
    with _sessions_lock:
        _sessions[driver] = names
    return names


def run(driver: Any, direct: Direct, values: Sequence[bytes | None], *, named: bool) -> Result:
    """Run the statement on ``driver`` (which :func:`usable` accepted); psycopg's error if it fails.

    ``named``: prepared once on this connection under a name (a thread's kept connection, whose
    plans are generic, made once); else unnamed, parsed and planned at each run in the one round
    trip (a pooled connection, planned at each run anyway, where psycopg's ``DEALLOCATE ALL``
    follows every ``ROLLBACK`` that ends a read through SQLAlchemy once psycopg prepared anything).
    A named statement found missing (that ``DEALLOCATE ALL``) is prepared again and run again, once:
    sound only outside a transaction, where the failed run did nothing and aborted nothing: hence
    autocommit alone (:func:`usable`).
    """
    names = _session(driver)
    assert names is not None
    pgconn = driver.pgconn
    if not named or (direct.sql not in names and len(names) >= PREPARED_MAX):
        return Result(_checked(pgconn.exec_params(direct.sql, values), driver), Transformer(driver))
    result = pgconn.exec_prepared(_prepared(names, pgconn, driver, direct.sql), values)
    if result.status not in _OK and result.error_field(pq.DiagnosticField.SQLSTATE) == _MISSING_STATEMENT:
        names.pop(direct.sql, None)  # gone: prepared again (the others as each is found missing)
        result = pgconn.exec_prepared(_prepared(names, pgconn, driver, direct.sql), values)
    # psycopg's loaders for this result (a quarter of a microsecond to make: not kept, since one would
    # hold its connection alive)
    return Result(_checked(result, driver), Transformer(driver))


def _prepared(names: dict[bytes, bytes], pgconn: Any, driver: Any, sql: bytes) -> bytes:
    name = names.get(sql)
    if name is None:
        name = b"_sika_%d" % next(_names)
        _checked(pgconn.prepare(name, sql), driver)
        names[sql] = name
    return name


def _checked(result: Any, driver: Any) -> Any:
    if result.status in _OK:
        return result
    if not result.error_field(pq.DiagnosticField.SQLSTATE):
        # The server went away without a word (a killed backend, a reset): libpq's result has no
        # SQLSTATE, which psycopg would make a bare DatabaseError; its cursor raises OperationalError,
        # which Sika reads as the database unavailable (503, a payment run again), as here.
        message = (result.error_message or b"").decode(errors="replace").strip()
        raise errors.OperationalError(message or "the connection to the server was lost")
    raise errors.error_from_result(result, encoding=driver.info.encoding)
