"""Runs one batch of transfers as one database transaction: the ledger's hot path.

It speaks to the driver directly (sqlite3, psycopg) rather than through SQLAlchemy's statement layer:
a batch is a handful of set-based statements, and the per-row cost of a general layer is what the
ledger's throughput is made of. How each database is locked and written is in ``sqlite_batches`` and
``postgres_batches``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

from sika.db import plan_once, wal_sync, write_turn
from sika.ledger.engine import Outcome
from sika.ledger.model import Transfer
from sika.ledger.postgres_batches import PostgresBatches
from sika.ledger.sqlite_batches import run_sqlite

__all__ = ["BatchStore"]


class BatchStore:
    """Applies batches of transfers against one database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._turn = write_turn(engine)
        self._wal = wal_sync(engine)
        self._postgres = PostgresBatches()

    def run(
        self,
        transfers: Sequence[Transfer],
        *,
        now_ns: int,
        segments: Sequence[int] | None = None,
        expire_ids: Sequence[str] = (),
        connection: PoolProxiedConnection | None = None,
        within: bool = False,
    ) -> Outcome:
        """Run one batch in one transaction, on ``connection`` if given (else one from the pool);
        ``within``: in the SQLite transaction ``connection`` is in (``sika.db.together``)."""
        assert not within or (self._sqlite and connection is not None)
        raw = connection if connection is not None else self._engine.raw_connection()
        try:
            # sqlite3's or psycopg's own connection (unlike driver_connection, it survives detach()).
            driver: Any = raw.dbapi_connection
            if self._sqlite:
                return run_sqlite(driver, transfers, now_ns, segments, expire_ids, within=within,
                                  turn=None if within else self._turn, wal=self._wal)
            return self._postgres.run(driver, transfers, now_ns, segments, expire_ids)
        finally:
            if connection is None:
                raw.close()

    def dedicated_connection(self) -> PoolProxiedConnection:
        """A connection for one long-lived writer (a group-commit lane): no checkout per batch.

        Detached from the pool, so that its settings never reach another user. On PostgreSQL it
        plans the ledger's few statements once (``plan_cache_mode = force_generic_plan``; the pool's
        connections plan every statement afresh, see ``sika.db``) and never by a sequential scan:
        each one finds rows by key, and a plan made while the accounts table was small must not scan
        it once it holds a million wallets. Planning was a third of a group's time on the server.
        (``auto`` kept planning the optimistic statement afresh, 0.4 ms a batch: its arrays' sizes
        made each custom plan look cheaper than the generic one.)
        """
        connection = self._engine.raw_connection()
        driver: Any = connection.driver_connection
        connection.detach()
        if not self._sqlite:
            plan_once(driver)
            driver.commit()
        return connection
