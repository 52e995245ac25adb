"""The floor of ``sika bench ledger``: the ledger's rows plainly inserted, with the same durability.

``bench_floor`` is ``ledger_transfers`` again (columns, indexes, unique and foreign keys). The same
rows go in, in the same batch sizes, from the same number of clients, one transaction per request,
by the driver's fastest plain path: sqlite3 ``executemany`` in ``BEGIN IMMEDIATE``…``COMMIT``, the
log synced after the lock is given back as Sika's own commits are (:mod:`sika.wal_sync`);
psycopg ``COPY``, or one ``INSERT`` for a single row. No reads, no locks, no rules, no group commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import CheckConstraint, Engine, MetaData
from sqlalchemy.sql.elements import quoted_name

from sika.bench.common import Drive, Send, drive_clients
from sika.db import wal_sync
from sika.ledger import Transfer
from sika.ledger.schema import accounts as ledger_accounts
from sika.ledger.schema import transfers as ledger_transfers
from sika.wal_sync import WalSync

__all__ = ["FLOOR_TABLE", "create_floor_table", "drive_floor"]

FLOOR_TABLE = "bench_floor"
_COLUMNS = (
    "id, debit_account_id, credit_account_id, amount, currency, code, flags, pending_id,"
    " timeout_s, metadata, created_at_ns"
)


def create_floor_table(engine: Engine) -> None:
    """``bench_floor``: ``ledger_transfers`` again, with its indexes, unique and foreign keys."""
    metadata = MetaData()
    ledger_accounts.to_metadata(metadata)  # what the copied foreign keys point at
    floor = ledger_transfers.to_metadata(metadata, name=FLOOR_TABLE)
    # Index names are per schema, not per table: rename the copies so that they do not collide.
    for index in floor.indexes:
        index.name = quoted_name(str(index.name).replace("ledger_transfers", FLOOR_TABLE), None)
    for constraint in floor.constraints:
        if isinstance(constraint, CheckConstraint) and constraint.name:
            constraint.name = str(constraint.name).replace("ledger_transfers", FLOOR_TABLE)
    floor.create(engine)


def drive_floor(
    engine: Engine, plan: list[list[list[Transfer]]], currency: str, advance: Callable[[int], None]
) -> Drive:
    """The plan's rows into the floor table, each client on a connection of its own."""
    rows = [[[_floor_row(t, currency) for t in request] for request in client] for client in plan]
    raws = [engine.raw_connection() for _ in plan]
    try:
        if engine.dialect.name == "sqlite":
            writer = threading.Lock()
            wal = wal_sync(engine)
            senders = [_sqlite_sender(raw.driver_connection, writer, wal) for raw in raws]
        else:
            senders = [_postgres_sender(raw.driver_connection) for raw in raws]
        return drive_clients(rows, senders, advance)
    finally:
        for raw in raws:
            raw.close()


def _floor_row(t: Transfer, currency: str) -> tuple[Any, ...]:
    # What the ledger stores for a plain transfer; the time is stamped per request, as it does.
    return (t.id, t.debit_account_id, t.credit_account_id, t.amount, currency, t.code, 0, None, 0, "{}")


def _sqlite_sender(connection: Any, writer: threading.Lock, wal: WalSync | None) -> Send:
    statement = f"INSERT INTO {FLOOR_TABLE} ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608

    def send(rows: Sequence[Any]) -> list[str]:
        now_ns = time.time_ns()
        values = [(*row, now_ns) for row in rows]
        # SQLite has one writer at a time, and its busy handler polls with sleeps of up to 100 ms;
        # threads of one process queue on a lock instead, as any careful application would.
        with writer:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(statement, values)
            if wal is not None:
                wal.refuse_if_broken()
            cursor.execute("COMMIT")
            cursor.close()
        if wal is not None:  # synced as Sika's own commits are, the lock given back (sika.wal_sync)
            wal.commit(connection, wrote=True)
        return []

    return send


def _postgres_sender(connection: Any) -> Send:
    insert = f"INSERT INTO {FLOOR_TABLE} ({_COLUMNS}) VALUES ({', '.join(['%s'] * 11)})"  # noqa: S608
    copy_in = f"COPY {FLOOR_TABLE} ({_COLUMNS}) FROM STDIN"

    def send(rows: Sequence[Any]) -> list[str]:
        now_ns = time.time_ns()
        with connection.cursor() as cursor:
            if len(rows) == 1:
                # One row: a plain INSERT is one round trip, COPY's hand-shake is two.
                cursor.execute(insert, (*rows[0], now_ns))
            else:
                with cursor.copy(copy_in) as copy:
                    for row in rows:
                        copy.write_row((*row, now_ns))
        connection.commit()
        return []

    return send
