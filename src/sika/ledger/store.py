"""Runs one batch of transfers as one database transaction: the ledger's hot path.

It speaks to the driver directly (sqlite3, psycopg) rather than through SQLAlchemy's statement layer:
a batch is a handful of set-based statements, and the per-row cost of a general layer is what the
ledger's throughput is made of.

Locking, so that concurrent writers stay correct and never deadlock:

* PostgreSQL: the accounts a batch touches are locked with ``SELECT … ORDER BY id FOR UPDATE`` before
  anything is read that the rules depend on; every writer takes them in the same order. Pending
  transfers and stored ids are read after the locks, under READ COMMITTED, so they are current.
* SQLite: ``BEGIN IMMEDIATE`` takes the single write lock first; writers queue on the busy timeout.

A unique-key race (two processes storing the same transfer id for different accounts) or a transient
serialization failure rolls the batch back; the caller retries it whole. On SQLite the write lock is
held from the start, so no race exists there: a constraint violation is a bug and is raised as such.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

from sika.errors import SikaError
from sika.ledger import engine as rules
from sika.ledger.model import (
    Account,
    AccountFlags,
    AccountKind,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferRecord,
)

__all__ = ["TRANSFER_COLUMNS", "BatchStore", "RetryableError", "record_from_row"]

_SQLITE_VARIABLES_MAX = 900

TRANSFER_COLUMNS = (
    "t.seq, t.id, t.debit_account_id, t.credit_account_id, t.amount, t.currency, t.code, t.flags,"
    " t.pending_id, t.timeout_s, t.metadata, t.created_at_ns, p.status, p.expires_at_ns"
)
_ACCOUNT_COLUMNS = (
    "id, currency, kind, flags, debits_posted, credits_posted, debits_pending, credits_pending,"
    " created_at_ns, balance_max"
)
_INSERT_COLUMNS = (
    "id, debit_account_id, credit_account_id, amount, currency, code, flags, pending_id,"
    " timeout_s, metadata, created_at_ns"
)


class RetryableError(SikaError):
    """The batch was rolled back for a reason that a second attempt can clear."""

    code = "ledger_retry"


def record_from_row(row: Sequence[Any]) -> TransferRecord:
    status = row[12]
    return TransferRecord(
        seq=row[0],
        id=row[1],
        debit_account_id=row[2],
        credit_account_id=row[3],
        amount=row[4],
        currency=row[5],
        code=row[6],
        flags=TransferFlags(row[7]),
        pending_id=row[8],
        timeout_s=row[9],
        metadata=json.loads(row[10]) if row[10] != "{}" else {},
        created_at_ns=row[11],
        pending_status=PendingStatus(status) if status is not None else None,
        expires_at_ns=row[13],
    )


def _account_from_row(row: Sequence[Any]) -> Account:
    account = Account(
        id=row[0],
        currency=row[1],
        kind=AccountKind(row[2]),
        flags=AccountFlags(row[3]),
        debits_posted=row[4],
        credits_posted=row[5],
        debits_pending=row[6],
        credits_pending=row[7],
        created_at_ns=row[8],
        balance_max=row[9],
    )
    # Asserted on the way in as on the way out: a stored account is never past its limits.
    assert not account.violates_flags(), f"account {account.id} read past its limits"
    return account


def _metadata_json(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, separators=(",", ":"), sort_keys=True) if metadata else "{}"


class BatchStore:
    """Applies batches of transfers against one database (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    def run(
        self,
        transfers: Sequence[Transfer],
        *,
        now_ns: int,
        segments: Sequence[int] | None = None,
        expire_ids: Sequence[str] = (),
        connection: PoolProxiedConnection | None = None,
    ) -> rules.Outcome:
        """Run one batch in one transaction, on ``connection`` if given (else one from the pool)."""
        raw = connection if connection is not None else self._engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            if self._sqlite:
                return self._run_sqlite(driver, transfers, now_ns, segments, expire_ids)
            return self._run_postgres(driver, transfers, now_ns, segments, expire_ids)
        finally:
            if connection is None:
                raw.close()

    def dedicated_connection(self) -> PoolProxiedConnection:
        """A connection for one long-lived writer (the group committer): no checkout per batch."""
        return self._engine.raw_connection()

    # SQLite --------------------------------------------------------------------------------------

    def _run_sqlite(
        self,
        connection: sqlite3.Connection,
        transfers: Sequence[Transfer],
        now_ns: int,
        segments: Sequence[int] | None,
        expire_ids: Sequence[str],
    ) -> rules.Outcome:
        cursor = connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            pending_ids = {t.pending_id for t in transfers if t.pending_id} | set(expire_ids)
            known = self._sqlite_transfers(cursor, {t.id for t in transfers} | pending_ids)
            pendings = {i: known[i] for i in pending_ids if i in known}
            account_ids = rules.referenced_account_ids(transfers) | _accounts_of(pendings.values())
            accounts = self._sqlite_accounts(cursor, account_ids)
            outcome = rules.apply(
                transfers,
                accounts=accounts,
                existing=known,
                pendings=pendings,
                now_ns=now_ns,
                segments=segments,
                expire_ids=expire_ids,
            )
            self._sqlite_write(cursor, outcome, accounts)
            cursor.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _sqlite_rollback(connection)
            if "locked" in str(exc) or "busy" in str(exc):
                raise RetryableError(str(exc)) from exc
            raise
        except BaseException:
            _sqlite_rollback(connection)
            raise
        finally:
            cursor.close()
        return outcome

    @staticmethod
    def _sqlite_transfers(cursor: sqlite3.Cursor, ids: set[str]) -> dict[str, TransferRecord]:
        found: dict[str, TransferRecord] = {}
        for chunk in _chunks(sorted(ids), _SQLITE_VARIABLES_MAX):
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t"
                f" LEFT JOIN ledger_pending p ON p.transfer_id = t.id WHERE t.id IN ({marks})",
                chunk,
            )
            for row in cursor.fetchall():
                found[row[1]] = record_from_row(row)
        return found

    @staticmethod
    def _sqlite_accounts(cursor: sqlite3.Cursor, ids: set[int]) -> dict[int, Account]:
        found: dict[int, Account] = {}
        for chunk in _chunks(sorted(ids), _SQLITE_VARIABLES_MAX):
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id IN ({marks})",
                chunk,
            )
            for row in cursor.fetchall():
                found[row[0]] = _account_from_row(row)
        return found

    @staticmethod
    def _sqlite_write(
        cursor: sqlite3.Cursor, outcome: rules.Outcome, accounts: dict[int, Account]
    ) -> None:
        records = outcome.new_records
        if records:
            cursor.executemany(
                f"INSERT INTO ledger_transfers ({_INSERT_COLUMNS})"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [_insert_row(r) for r in records],
            )
        new_pending = _new_pending_rows(outcome)
        if new_pending:
            cursor.executemany(
                "INSERT INTO ledger_pending (transfer_id, debit_account_id, credit_account_id,"
                " amount, status, expires_at_ns) VALUES (?,?,?,?,?,?)",
                new_pending,
            )
        updates = _resolved_updates(outcome)
        if updates:
            cursor.executemany(
                "UPDATE ledger_pending SET status = ? WHERE transfer_id = ? AND status = 'pending'",
                [(status, pending_id) for pending_id, status in updates],
            )
            assert cursor.rowcount == len(updates), "a pending transfer resolved twice"
        touched = _touched(outcome, accounts)
        if touched:
            cursor.executemany(
                "UPDATE ledger_accounts SET debits_posted = ?, credits_posted = ?,"
                " debits_pending = ?, credits_pending = ? WHERE id = ?",
                [(a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, a.id)
                 for a in touched],
            )

    # PostgreSQL ----------------------------------------------------------------------------------

    def _run_postgres(
        self,
        connection: psycopg.Connection[Any],
        transfers: Sequence[Transfer],
        now_ns: int,
        segments: Sequence[int] | None,
        expire_ids: Sequence[str],
    ) -> rules.Outcome:
        # Round trips, not rows, are what a small batch costs: the reads go out as one pipeline
        # (locks first, then the reads they protect), and the writes and the commit as another.
        pending_ids = {t.pending_id for t in transfers if t.pending_id} | set(expire_ids)
        try:
            with connection.cursor() as locking, connection.cursor() as reading:
                # Pending transfers' accounts never change, so they can be read before the locks.
                early = self._pg_transfers(reading, pending_ids) if pending_ids else {}
                account_ids = rules.referenced_account_ids(transfers) | _accounts_of(early.values())
                with connection.pipeline():
                    locking.execute(_PG_LOCK_ACCOUNTS, (sorted(account_ids),))
                    reading.execute(_PG_READ_TRANSFERS, (list({t.id for t in transfers} | pending_ids),))
                accounts = {row[0]: _account_from_row(row) for row in locking.fetchall()}
                known = {row[1]: record_from_row(row) for row in reading.fetchall()}
                pendings = {i: known[i] for i in pending_ids if i in known}
                unlocked = _accounts_of(pendings.values()) - accounts.keys()
                if unlocked:
                    # A pending transfer committed after the early read: its accounts are not
                    # locked, so the rules cannot run on them. Roll back; the retry reads it early.
                    raise RetryableError(f"accounts {sorted(unlocked)} were not locked")
                outcome = rules.apply(
                    transfers,
                    accounts=accounts,
                    existing=known,
                    pendings=pendings,
                    now_ns=now_ns,
                    segments=segments,
                    expire_ids=expire_ids,
                )
                if len(outcome.new_records) > _COPY_ROWS_MIN:
                    # COPY cannot join a pipeline, but past a few dozen rows it beats arrays.
                    self._pg_copy_transfers(locking, outcome.new_records)
                with connection.pipeline():
                    self._pg_write(locking, outcome, accounts)
                    connection.commit()
        except (
            psycopg.errors.SerializationFailure,
            psycopg.errors.DeadlockDetected,
            psycopg.errors.UniqueViolation,
            psycopg.errors.LockNotAvailable,
        ) as exc:
            connection.rollback()
            raise RetryableError(str(exc)) from exc
        except BaseException:
            if not connection.closed:
                connection.rollback()
            raise
        return outcome

    @staticmethod
    def _pg_transfers(cursor: psycopg.Cursor[Any], ids: set[str]) -> dict[str, TransferRecord]:
        cursor.execute(_PG_READ_TRANSFERS, (list(ids),))
        return {row[1]: record_from_row(row) for row in cursor.fetchall()}

    @staticmethod
    def _pg_copy_transfers(cursor: psycopg.Cursor[Any], records: Sequence[TransferRecord]) -> None:
        with cursor.copy(f"COPY ledger_transfers ({_INSERT_COLUMNS}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(_insert_row(record))

    @staticmethod
    def _pg_write(
        cursor: psycopg.Cursor[Any], outcome: rules.Outcome, accounts: dict[int, Account]
    ) -> None:
        """Queue the batch's writes (transfers unless copied already), each one statement over arrays."""
        records = outcome.new_records
        if records and len(records) <= _COPY_ROWS_MIN:
            rows = [_insert_row(r) for r in records]
            cursor.execute(_PG_INSERT_TRANSFERS, [list(column) for column in zip(*rows, strict=True)])
        new_pending = _new_pending_rows(outcome)
        if new_pending:
            cursor.execute(
                "INSERT INTO ledger_pending (transfer_id, debit_account_id, credit_account_id, amount,"
                " status, expires_at_ns) SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[],"
                " %s::bigint[], %s::text[], %s::bigint[])",
                [list(column) for column in zip(*new_pending, strict=True)],
            )
        updates = _resolved_updates(outcome)
        if updates:
            # Guarded by status: a pending transfer resolved twice would update nothing, and the
            # unique index on pending_id refuses the second resolving transfer anyway.
            cursor.execute(
                "UPDATE ledger_pending p SET status = v.status"
                " FROM unnest(%s::text[], %s::text[]) AS v(id, status)"
                " WHERE p.transfer_id = v.id AND p.status = 'pending'",
                ([u[0] for u in updates], [u[1] for u in updates]),
            )
        touched = _touched(outcome, accounts)
        if touched:
            cursor.execute(
                "UPDATE ledger_accounts a SET debits_posted = v.dp, credits_posted = v.cp,"
                " debits_pending = v.dpe, credits_pending = v.cpe"
                " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
                " AS v(id, dp, cp, dpe, cpe) WHERE a.id = v.id",
                (
                    [a.id for a in touched],
                    [a.debits_posted for a in touched],
                    [a.credits_posted for a in touched],
                    [a.debits_pending for a in touched],
                    [a.credits_pending for a in touched],
                ),
            )


_COPY_ROWS_MIN = 64
_PENDING_FLAG = int(TransferFlags.PENDING)
_PG_LOCK_ACCOUNTS = (
    f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
)
_PG_READ_TRANSFERS = (
    f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t"
    " LEFT JOIN ledger_pending p ON p.transfer_id = t.id WHERE t.id = ANY(%s)"
)
_PG_INSERT_TRANSFERS = (
    f"INSERT INTO ledger_transfers ({_INSERT_COLUMNS}) SELECT * FROM unnest(%s::text[],"
    " %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::int[], %s::int[], %s::text[],"
    " %s::int[], %s::text[], %s::bigint[])"
)


def _insert_row(r: TransferRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.debit_account_id,
        r.credit_account_id,
        r.amount,
        r.currency,
        r.code,
        int(r.flags),
        r.pending_id,
        r.timeout_s,
        _metadata_json(r.metadata),
        r.created_at_ns,
    )


def _new_pending_rows(outcome: rules.Outcome) -> list[tuple[Any, ...]]:
    return [
        (
            r.id,
            r.debit_account_id,
            r.credit_account_id,
            r.amount,
            str(outcome.resolved.get(r.id, PendingStatus.PENDING)),
            r.expires_at_ns,
        )
        for r in outcome.new_records
        if int(r.flags) & _PENDING_FLAG
    ]


def _resolved_updates(outcome: rules.Outcome) -> list[tuple[str, str]]:
    new_ids = {r.id for r in outcome.new_records if int(r.flags) & _PENDING_FLAG}
    return [
        (pending_id, str(status))
        for pending_id, status in outcome.resolved.items()
        if pending_id not in new_ids
    ]


def _touched(outcome: rules.Outcome, accounts: dict[int, Account]) -> list[Account]:
    touched = [accounts[i] for i in sorted(outcome.touched_account_ids)]
    for account in touched:
        assert not account.violates_flags(), f"account {account.id} would pass its limits"
        assert min(
            account.debits_posted,
            account.credits_posted,
            account.debits_pending,
            account.credits_pending,
        ) >= 0
    return touched


def _accounts_of(records: Iterable[TransferRecord]) -> set[int]:
    ids: set[int] = set()
    for record in records:
        ids.add(record.debit_account_id)
        ids.add(record.credit_account_id)
    return ids


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")
