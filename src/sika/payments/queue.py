"""Claiming due rows of a work table under a lease, safely from several processes at once.

On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED``, so concurrent workers take
disjoint rows without waiting on each other; SQLite has one writer at a time, and the claim is one
``UPDATE … RETURNING`` statement. A claimed row carries ``lease_until_ns``: a worker that dies keeps it
only until the lease runs out. The table needs ``id``, ``status``, ``next_attempt_ns``,
``lease_until_ns`` and ``attempts`` columns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    URL,
    ColumnElement,
    Engine,
    Index,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)

from sika.prepared import Prepared

__all__ = ["backoff_ns", "claim_due", "queued", "queued_index", "renew"]

# The condition of a queue table's partial indexes (migration 0020): they hold queued rows only, so
# they stay small however many handled rows the table keeps, and handling a row adds nothing to them.
_QUEUED = "status = 'queued'"


def queued_index(name: str, *columns: str) -> Index:
    """An index over a queue table's queued rows only."""
    return Index(name, *columns, postgresql_where=text(_QUEUED), sqlite_where=text(_QUEUED))


def queued(table: Table) -> ColumnElement[bool]:
    """``status = 'queued'`` with the value written out: a statement reaches a partial index only so,
    since neither PostgreSQL's generic plans nor SQLite's planner see through a bound value."""
    return table.c.status == literal_column("'queued'")

_NS = 1_000_000_000
BACKOFF_S_MAX = 3_600

log = logging.getLogger(__name__)

# PostgreSQL plans a claim from the table's statistics. A queue that fills faster than autovacuum looks
# (a minute apart) still reads as nearly empty, and the plan then collects and sorts every queued row
# to return the oldest few: 3.6 ms a claim with 5,000 waiting, more as the backlog grows, where a walk
# of the queued index in id order stops after ``limit`` rows. A full claim says a backlog is there:
# the claimer then refreshes the table's statistics, at most this often per table and database.
STATISTICS_EVERY_S = 30.0
_ANALYZED: dict[tuple[URL, str], float] = {}


def claim_due(engine: Engine, table: Table, *, now_ns: int, limit: int, lease_s: int) -> list[Any]:
    """Up to ``limit`` queued rows whose time has come, now leased to the caller; oldest first."""
    # One statement, a transaction of its own (on PostgreSQL one round trip: with BEGIN and COMMIT, three).
    rows = _claim(table, engine.dialect.name).all_alone(
        engine, {"b_now": now_ns, "b_limit": limit, "b_lease": now_ns + lease_s * _NS})
    if len(rows) >= limit and engine.dialect.name == "postgresql":
        _refresh_statistics(engine, table)
    return sorted((row._mapping for row in rows), key=lambda row: row["id"])


def _refresh_statistics(engine: Engine, table: Table) -> None:
    """``ANALYZE`` the table, unless this process did within ``STATISTICS_EVERY_S`` (or another
    session analyzes it right now: ``SKIP_LOCKED``). A sample of at most 30,000 rows: milliseconds."""
    key = (engine.url, table.name)
    now = time.monotonic()
    last = _ANALYZED.get(key)
    if last is not None and now - last < STATISTICS_EVERY_S:
        return
    _ANALYZED[key] = now
    name = engine.dialect.identifier_preparer.format_table(table)
    try:
        with engine.begin() as connection:
            # A role that does not own the table gets a warning and no statistics: claims then stay
            # as they were, correct and slower in a burst (docs/scaling.md).
            connection.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {name}")
    except Exception:  # an optimisation: the rows just claimed must still reach their claimer
        log.warning("could not refresh the statistics of %s", name, exc_info=True)


# Each table's claim and renewal, built once: the workers claim several times a second, busy or not.
_BUILT: dict[tuple[str, str], tuple[Table, Prepared]] = {}


def _built(what: str, table: Table, make: Callable[[Table], Prepared]) -> Prepared:
    known = _BUILT.get((what, table.name))
    if known is None or known[0] is not table:
        known = _BUILT[(what, table.name)] = (table, make(table))
    return known[1]


def _claim(table: Table, dialect: str) -> Prepared:
    if dialect == "postgresql":
        return _built("claim-postgresql", table, lambda t: _make_claim(t, postgres=True))
    return _built("claim", table, _make_claim)


def _make_claim(table: Table, *, postgres: bool = False) -> Prepared:
    c = table.c
    now = bindparam("b_now", type_=c.next_attempt_ns.type)
    due = (
        select(c.id)
        .where(queued(table), c.next_attempt_ns <= now,
               or_(c.lease_until_ns.is_(None), c.lease_until_ns < now))
        .order_by(c.id)
        .limit(bindparam("b_limit"))
        .with_for_update(skip_locked=True)
    )
    # Planned each run, with its values: a generic plan (a thread's kept connection makes them) knows
    # neither how few rows are queued nor that they are the newest, and may walk the table in id
    # order from its oldest row, done or not, to find them.
    # On PostgreSQL the claimed rows are then found by key (``id = ANY(ARRAY(…))``, primary key
    # lookups): as ``id IN (…)`` a plan could join them to a scan of the whole table, handled rows
    # and all, when the statistics took the table for small.
    chosen = c.id == any_(func.array(due.scalar_subquery())) if postgres else c.id.in_(due.scalar_subquery())
    return Prepared(update(table).where(chosen)
                    .values(lease_until_ns=bindparam("b_lease"), attempts=c.attempts + 1)
                    .returning(*c), planned_each_run=True)


def backoff_ns(attempts: int) -> int:
    """Exponential back-off after ``attempts`` failed tries: 2, 4, 8 … seconds, at most an hour."""
    return int(min(2 ** max(attempts, 1), BACKOFF_S_MAX)) * _NS


def renew(engine: Engine, table: Table, row_id: int, lease_until_ns: int, *, now_ns: int,
          lease_s: int) -> int | None:
    """Extend our lease on one claimed row just before working on it; None if it is no longer ours.

    A batch claimed at once may take longer than the lease to work through: renewing each row as
    its turn comes (a fencing token: the lease value we were given) keeps another worker that took
    over an expired lease from working on the same row at the same time.
    """
    renewed = now_ns + lease_s * _NS
    # One statement, a transaction of its own (on PostgreSQL one round trip: with BEGIN and COMMIT, three).
    taken = _renewal(table).execute_alone(engine, {"b_id": row_id, "b_lease": lease_until_ns,
                                                   "b_renewed": renewed})
    return renewed if taken else None


def _renewal(table: Table) -> Prepared:
    return _built("renewal", table, _make_renewal)


def _make_renewal(table: Table) -> Prepared:
    c = table.c
    return Prepared(update(table).where(c.id == bindparam("b_id"), c.status == "queued",
                                        c.lease_until_ns == bindparam("b_lease"))
                    .values(lease_until_ns=bindparam("b_renewed")))
