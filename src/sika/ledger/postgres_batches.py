"""A batch of transfers on PostgreSQL, in one transaction, by one of two paths.

**Locked** (the general path): the accounts the batch touches are locked with ``SELECT … ORDER BY id
FOR UPDATE`` before anything is read that the rules depend on; every writer takes them in the same
order, so none deadlocks. Pending transfers and stored ids are read after the locks, under READ
COMMITTED, so they are current. Two round trips: the transaction's ``BEGIN`` and the reads as one
pipeline (locks first, then the reads they protect), the writes and the ``COMMIT`` as another; a
third first for the pending transfers a batch posts or voids (their accounts, to lock them).

**Cached** (plain and pending transfers whose accounts this process has seen): the rules run on the
accounts as this process last wrote or locked them (``AccountCache``), assuming the ids are new; one
statement then locks the accounts in id order, updates each only where it still holds exactly the
cached values, inserts the transfers, and calls ``sika_ledger_require`` (migration 0016), which
raises a serialization failure unless every account matched. Sent alone, in autocommit, the
statement is its own transaction: one round trip. A mismatch (another process moved the money) or
a stored id (a retried request) rolls it back and the batch runs again by the locked path, which
refreshes the cache. The path is only taken when every transfer comes out ``ok``: a refusal may
hide a stored id (``exists``), which only the locked path reads.

A unique-key race (two processes storing the same transfer id for different accounts) or a transient
serialization failure on the locked path rolls the batch back; the caller retries it whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from sika.arrays import int_array, literal_columns, text_array
from sika.ledger.account_cache import AccountCache
from sika.ledger.conflicts import RetryableError
from sika.ledger.engine import Outcome, apply, referenced_account_ids
from sika.ledger.model import Account, Transfer, TransferFlags, TransferRecord, TransferResult
from sika.ledger.rows import (
    ACCOUNT_COLUMNS,
    INSERT_COLUMNS,
    PENDING_COLUMNS,
    TRANSFER_COLUMNS,
    AccountRow,
    account_from_fields,
    account_from_row,
    account_row,
    accounts_of,
    insert_row,
    new_pending_rows,
    record_from_row,
    resolved_updates,
    touched,
)

__all__ = ["PostgresBatches"]

_OK = TransferResult.OK
_TWO_PHASE = int(TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING)
# COPY cannot join a pipeline, but past a few dozen rows it beats arrays.
_COPY_ROWS_MIN = 64
# What one attempt by the cached path can hit that the locked path resolves.
_CACHE_MISSES = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.UniqueViolation,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
)


class PostgresBatches:
    """Runs batches on psycopg connections; keeps the cache of accounts they wrote."""

    def __init__(self, cache: AccountCache | None = None) -> None:
        self.cache = cache if cache is not None else AccountCache()

    def run(
        self,
        connection: psycopg.Connection[Any],
        transfers: Sequence[Transfer],
        now_ns: int,
        segments: Sequence[int] | None,
        expire_ids: Sequence[str],
    ) -> Outcome:
        if not expire_ids:
            outcome = self._run_cached(connection, transfers, now_ns, segments)
            if outcome is not None:
                return outcome
        return self._run_locked(connection, transfers, now_ns, segments, expire_ids)

    # Cached --------------------------------------------------------------------------------------

    def _run_cached(
        self,
        connection: psycopg.Connection[Any],
        transfers: Sequence[Transfer],
        now_ns: int,
        segments: Sequence[int] | None,
    ) -> Outcome | None:
        """The batch in one round trip, or None when the locked path must run it."""
        if not transfers or any(t.pending_id or int(t.flags) & _TWO_PHASE for t in transfers):
            return None
        account_ids = referenced_account_ids(transfers)
        rows = self.cache.rows(account_ids)
        if rows is None:
            return None
        accounts = {account_id: account_from_fields(row) for account_id, row in rows.items()}
        outcome = apply(
            transfers, accounts=accounts, existing={}, pendings={}, now_ns=now_ns, segments=segments
        )
        if any(result is not _OK for result in outcome.results):
            return None
        changed = touched(outcome, accounts)
        # Every ok transfer moved both its accounts, so the statement checks all it relied on.
        assert len(changed) == len(account_ids), "an account was read but not written"
        statement = _cached_statement(outcome, rows, changed)
        try:
            with connection.cursor() as cursor:
                if len(outcome.new_records) > _COPY_ROWS_MIN:
                    _copy_transfers(cursor, outcome.new_records)
                    cursor.execute(*statement)
                    connection.commit()
                else:
                    # One statement alone is a transaction of its own: one round trip, no COMMIT.
                    # (psycopg's pipeline mode would also make it one, at three times the CPU.)
                    connection.autocommit = True
                    try:
                        cursor.execute(*statement)
                    finally:
                        _out_of_autocommit(connection)
        except _CACHE_MISSES:
            connection.rollback()
            self.cache.forget(account_ids)
            return None
        except BaseException:
            if not connection.closed:
                connection.rollback()
            self.cache.forget(account_ids)
            raise
        self.cache.store(account_row(account) for account in changed)
        return outcome

    # Locked --------------------------------------------------------------------------------------

    def _run_locked(
        self,
        connection: psycopg.Connection[Any],
        transfers: Sequence[Transfer],
        now_ns: int,
        segments: Sequence[int] | None,
        expire_ids: Sequence[str],
    ) -> Outcome:
        pending_ids = {t.pending_id for t in transfers if t.pending_id} | set(expire_ids)
        # The transaction's BEGIN and COMMIT go in the pipelines as statements, in autocommit (psycopg's
        # own BEGIN is a round trip of its own, and its commit in a pipeline syncs once more on the
        # way out): two round trips for a batch, where they were four.
        connection.autocommit = True
        try:
            with connection.cursor() as locking, connection.cursor() as reading:
                # Pending transfers' accounts never change, so they can be read before the locks.
                early: dict[str, TransferRecord] = {}
                if pending_ids:
                    with connection.pipeline():
                        locking.execute(_BEGIN)
                        reading.execute(_READ_TRANSFERS, (text_array(pending_ids),))
                    early = {row[1]: record_from_row(row) for row in reading.fetchall()}
                account_ids = referenced_account_ids(transfers) | accounts_of(early.values())
                with connection.pipeline():
                    if not pending_ids:
                        locking.execute(_BEGIN)
                    locking.execute(_LOCK_ACCOUNTS, (int_array(sorted(account_ids)),))
                    reading.execute(
                        _READ_TRANSFERS, (text_array({t.id for t in transfers} | pending_ids),)
                    )
                accounts = {row[0]: account_from_row(row) for row in locking.fetchall()}
                known = {row[1]: record_from_row(row) for row in reading.fetchall()}
                pendings = {i: known[i] for i in pending_ids if i in known}
                unlocked = accounts_of(pendings.values()) - accounts.keys()
                if unlocked:
                    # A pending transfer committed after the early read: its accounts are not
                    # locked, so the rules cannot run on them. Roll back; the retry reads it early.
                    raise RetryableError(f"accounts {sorted(unlocked)} were not locked")
                outcome = apply(
                    transfers,
                    accounts=accounts,
                    existing=known,
                    pendings=pendings,
                    now_ns=now_ns,
                    segments=segments,
                    expire_ids=expire_ids,
                )
                if len(outcome.new_records) > _COPY_ROWS_MIN:
                    _copy_transfers(locking, outcome.new_records)
                with connection.pipeline():
                    _write(locking, outcome, accounts)
                    locking.execute(_COMMIT)
        except _CACHE_MISSES as exc:
            connection.rollback()
            raise RetryableError(str(exc)) from exc
        except BaseException:
            if not connection.closed:
                connection.rollback()
            raise
        finally:
            _out_of_autocommit(connection)
        # Every locked account is now as committed, whether the batch changed it or not.
        self.cache.store(account_row(account) for account in accounts.values())
        return outcome


def _out_of_autocommit(connection: psycopg.Connection[Any]) -> None:
    """Back out of autocommit once a batch is over, committed or rolled back. A connection that is not
    idle by then (a rollback that failed) is closed rather than left in autocommit, where the next
    user of a pooled connection would write without a transaction; the pool or the lane replaces it,
    and the batch's own error is what the caller sees."""
    if connection.closed:
        return
    try:
        if connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            connection.autocommit = False
            return
    except psycopg.Error:
        pass
    connection.close()


def _copy_transfers(cursor: psycopg.Cursor[Any], records: Sequence[TransferRecord]) -> None:
    with cursor.copy(f"COPY ledger_transfers ({INSERT_COLUMNS}) FROM STDIN") as copy:
        for record in records:
            copy.write_row(insert_row(record))


def _write(cursor: psycopg.Cursor[Any], outcome: Outcome, accounts: dict[int, Account]) -> None:
    """Queue the batch's writes (transfers unless copied already), each one statement over arrays."""
    records = outcome.new_records
    if records and len(records) <= _COPY_ROWS_MIN:
        cursor.execute(_INSERT_TRANSFERS, literal_columns([insert_row(r) for r in records], _TRANSFER_TYPES))
    new_pending = new_pending_rows(outcome)
    if new_pending:
        cursor.execute(_INSERT_PENDING, literal_columns(new_pending, _PENDING_TYPES))
    updates = resolved_updates(outcome)
    if updates:
        # Guarded by status: a pending transfer resolved twice would update nothing, and the
        # unique index on pending_id refuses the second resolving transfer anyway.
        cursor.execute(
            "UPDATE ledger_pending p SET status = v.status"
            " FROM unnest(%s::text[], %s::text[]) AS v(id, status)"
            " WHERE p.transfer_id = v.id AND p.status = 'pending'",
            literal_columns(updates, ("text", "text")),
        )
    changed = touched(outcome, accounts)
    if changed:
        cursor.execute(
            "UPDATE ledger_accounts a SET debits_posted = v.dp, credits_posted = v.cp,"
            " debits_pending = v.dpe, credits_pending = v.cpe"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
            " AS v(id, dp, cp, dpe, cpe) WHERE a.id = v.id",
            literal_columns([
                (a.id, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
                for a in changed
            ], ("bigint",) * 5),
        )


def _cached_statement(
    outcome: Outcome, cached: dict[int, AccountRow], changed: Sequence[Account]
) -> tuple[str, dict[str, Any]]:
    """The cached path's one statement: check-and-update the accounts, insert the rows."""
    records = outcome.new_records
    params: dict[str, Any] = {"ids": int_array(a.id for a in changed), "expected": len(changed)}
    old = [cached[a.id] for a in changed]
    params["flags"] = int_array(row[3] for row in old)
    params["balance_max"] = int_array(row[9] for row in old)
    params["dp"] = int_array(row[4] for row in old)
    params["cp"] = int_array(row[5] for row in old)
    params["dpe"] = int_array(row[6] for row in old)
    params["cpe"] = int_array(row[7] for row in old)
    params["ndp"] = int_array(a.debits_posted for a in changed)
    params["ncp"] = int_array(a.credits_posted for a in changed)
    params["ndpe"] = int_array(a.debits_pending for a in changed)
    params["ncpe"] = int_array(a.credits_pending for a in changed)
    parts = [_CACHED_ACCOUNTS]
    if len(records) <= _COPY_ROWS_MIN:
        parts.append(_CACHED_TRANSFERS)
        params["t"] = literal_columns([insert_row(r) for r in records], _TRANSFER_TYPES)
    new_pending = new_pending_rows(outcome)
    if new_pending:
        parts.append(_CACHED_PENDING)
        params["p"] = literal_columns(new_pending, _PENDING_TYPES)
    sql = ",".join(parts) + " SELECT sika_ledger_require((SELECT count(*) FROM updated) = %(expected)s)"
    for prefix in ("t", "p"):
        for index, column in enumerate(params.pop(prefix, [])):
            params[f"{prefix}{index}"] = column
    return sql, params


_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"
_COMMIT = "COMMIT"
_LOCK_ACCOUNTS = (
    f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = ANY(%s::bigint[]) ORDER BY id"
    " FOR UPDATE"
)
_READ_TRANSFERS = (
    f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t"
    " LEFT JOIN ledger_pending p ON p.transfer_id = t.id WHERE t.id = ANY(%s::text[])"
)
_TRANSFER_TYPES = ("text", "bigint", "bigint", "bigint", "text", "int", "int", "text", "int", "text",
                   "bigint")
_PENDING_TYPES = ("text", "bigint", "bigint", "bigint", "text", "bigint")
_INSERT_TRANSFERS = (
    f"INSERT INTO ledger_transfers ({INSERT_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"%s::{kind}[]" for kind in _TRANSFER_TYPES) + ")"
)
_INSERT_PENDING = (
    f"INSERT INTO ledger_pending ({PENDING_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"%s::{kind}[]" for kind in _PENDING_TYPES) + ")"
)
# Locks first, in id order as every writer takes them; then each account is updated only where it
# still holds what the cache said. ``updated`` counts the matches; the final SELECT compares.
_CACHED_ACCOUNTS = (
    "WITH locked AS MATERIALIZED (SELECT id FROM ledger_accounts WHERE id = ANY(%(ids)s::bigint[])"
    " ORDER BY id FOR UPDATE),"
    " v AS (SELECT * FROM unnest(%(ids)s::bigint[], %(flags)s::int[], %(balance_max)s::bigint[],"
    " %(dp)s::bigint[], %(cp)s::bigint[], %(dpe)s::bigint[], %(cpe)s::bigint[], %(ndp)s::bigint[],"
    " %(ncp)s::bigint[], %(ndpe)s::bigint[], %(ncpe)s::bigint[])"
    " AS v(id, flags, balance_max, dp, cp, dpe, cpe, ndp, ncp, ndpe, ncpe)),"
    " updated AS (UPDATE ledger_accounts a SET debits_posted = v.ndp, credits_posted = v.ncp,"
    " debits_pending = v.ndpe, credits_pending = v.ncpe FROM v JOIN locked USING (id)"
    " WHERE a.id = v.id AND a.flags = v.flags AND a.balance_max IS NOT DISTINCT FROM v.balance_max"
    " AND a.debits_posted = v.dp AND a.credits_posted = v.cp AND a.debits_pending = v.dpe"
    " AND a.credits_pending = v.cpe RETURNING a.id)"
)
_CACHED_TRANSFERS = (
    f" inserted AS (INSERT INTO ledger_transfers ({INSERT_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"%(t{i})s::{kind}[]" for i, kind in enumerate(_TRANSFER_TYPES)) + "))"
)
_CACHED_PENDING = (
    f" pending AS (INSERT INTO ledger_pending ({PENDING_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"%(p{i})s::{kind}[]" for i, kind in enumerate(_PENDING_TYPES)) + "))"
)
