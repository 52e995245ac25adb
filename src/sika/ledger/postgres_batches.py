"""A batch of transfers on PostgreSQL, in one transaction, by one of two paths.

**Locked** (the general path): the accounts the batch touches are locked with ``SELECT … ORDER BY id
FOR UPDATE`` before anything is read that the rules depend on; every writer takes them in the same
order, so none deadlocks. Pending transfers and stored ids are read after the locks, under READ
COMMITTED, so they are current. Two round trips: the transaction's ``BEGIN`` and the reads as one
pipeline (locks first, then the reads they protect), the writes and the ``COMMIT`` as another; a
third first for the pending transfers a batch posts or voids (their accounts, to lock them).

**Optimistic** (plain and pending transfers, the common case, and posts and voids of pending
transfers this process stored): the rules run on stand-ins for the accounts (open, of one currency,
without limits, holding the reservations resolved), assuming the ids are new, so that they refuse
only what no account could change. One statement then locks the accounts in id order, adds each one's
changes to what its row holds only where the row meets what the batch needs of it
(:mod:`sika.ledger.deltas`: open, within its limits at every step), inserts the transfers with their
debit account's currency where both accounts share it, and calls ``sika_ledger_require``
(migration 0016), which raises a serialization failure unless every account and every transfer was
written. A post or void also marks its pending transfer resolved, only where it is still pending as
this process recorded it (same accounts and amount, not expired), and the statement counts those
too; a reservation resolved or expired meanwhile by another process fails it (closed accounts too,
which a post may reach: the locked path lets it). Sent alone, in autocommit, the statement is its
own transaction: one round trip, and the locks are held for that statement only. Anything else (a
refusal, a stored id of a retried request) rolls it back, and the batch runs again by the locked
path, which gives each transfer its result.

A unique-key race (two processes storing the same transfer id for different accounts) or a transient
serialization failure on the locked path rolls the batch back; the caller retries it whole.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import psycopg

from sika.arrays import int_array, literal_columns, text_array
from sika.ledger.conflicts import RetryableError
from sika.ledger.deltas import deltas
from sika.ledger.engine import Outcome, apply, referenced_account_ids
from sika.ledger.model import (
    AMOUNT_MAX,
    Account,
    AccountFlags,
    AccountKind,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferRecord,
    TransferResult,
)
from sika.ledger.rows import (
    ACCOUNT_COLUMNS,
    INSERT_COLUMNS,
    PENDING_COLUMNS,
    TRANSFER_COLUMNS,
    account_from_row,
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
# What the locked path retries whole (a unique-key race, a transient serialization failure).
_RETRIED = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.UniqueViolation,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
)
# What ends an optimistic attempt, for the locked path to run the batch (sika_ledger_require's
# serialization failure; a stored id; a total past 64 bits; a table's CHECK, which the statement's
# conditions should never leave to reach).
_OPTIMISM_FAILED = (*_RETRIED, psycopg.errors.NumericValueOutOfRange, psycopg.errors.CheckViolation)
# Batches beyond this go by the locked path, which copies their rows (COPY cannot join a statement).
_OPTIMISTIC_ROWS_MAX = 64
# The stand-ins' currency, no real one: the statement stores each transfer's from its debit account,
# so the records of an optimistic outcome carry this one (only its results are read).
_ANY_CURRENCY = "?"
_PENDING_FLAG = int(TransferFlags.PENDING)
# Pending transfers this process stored and has not seen resolved, for posting or voiding them by
# the optimistic path: at most this many, the oldest forgotten first (a hold lives for seconds).
PENDINGS_KEPT_MAX = 10_000


class PostgresBatches:
    """Runs batches on psycopg connections."""

    def __init__(self) -> None:
        # Only a hint: the statement resolves a reservation only where it still stands as recorded.
        self._pendings: OrderedDict[str, TransferRecord] = OrderedDict()
        self._pendings_lock = threading.Lock()

    def run(
        self,
        connection: psycopg.Connection[Any],
        transfers: Sequence[Transfer],
        now_ns: int,
        segments: Sequence[int] | None,
        expire_ids: Sequence[str],
    ) -> Outcome:
        outcome = None
        if not expire_ids:
            outcome = self._run_optimistic(connection, transfers, now_ns, segments)
        if outcome is None:
            outcome = self._run_locked(connection, transfers, now_ns, segments, expire_ids)
        self._remember(outcome)
        return outcome

    def _remember(self, outcome: Outcome) -> None:
        """Keep the batch's new reservations; forget those it resolved (committed either way)."""
        with self._pendings_lock:
            for record in outcome.new_records:
                if int(record.flags) & _PENDING_FLAG and record.id not in outcome.resolved:
                    self._pendings[record.id] = record
            for pending_id in outcome.resolved:
                self._pendings.pop(pending_id, None)
            while len(self._pendings) > PENDINGS_KEPT_MAX:
                self._pendings.popitem(last=False)

    def _held(self, transfers: Sequence[Transfer]) -> dict[str, TransferRecord] | None:
        """The reservations the batch resolves, each once and as this process stored it; None when one
        is unknown here, resolved twice, or made in this batch (the locked path decides those)."""
        resolving = [t for t in transfers if t.pending_id or int(t.flags) & _TWO_PHASE]
        if not resolving:
            return {}
        with self._pendings_lock:
            held = {t.pending_id: self._pendings.get(t.pending_id) for t in resolving if t.pending_id}
        if len(held) != len(resolving) or held.keys() & {t.id for t in transfers}:
            return None
        found = {pending_id: record for pending_id, record in held.items() if record is not None}
        return found if len(found) == len(held) else None

    # Optimistic --------------------------------------------------------------------------------

    def _run_optimistic(
        self,
        connection: psycopg.Connection[Any],
        transfers: Sequence[Transfer],
        now_ns: int,
        segments: Sequence[int] | None,
    ) -> Outcome | None:
        """The batch in one round trip, or None when the locked path must run it."""
        if not transfers or len(transfers) > _OPTIMISTIC_ROWS_MAX:
            return None
        held = self._held(transfers)
        if held is None:
            return None
        ids = referenced_account_ids(transfers)
        for record in held.values():
            ids.update((record.debit_account_id, record.credit_account_id))
        stand_ins = {i: Account(i, _ANY_CURRENCY, AccountKind.SUSPENSE) for i in ids}
        for record in held.values():  # the reservations stand on the stand-ins as on the accounts
            stand_ins[record.debit_account_id].debits_pending += record.amount
            stand_ins[record.credit_account_id].credits_pending += record.amount
        outcome = apply(
            transfers, accounts=stand_ins, existing={}, pendings=held, now_ns=now_ns, segments=segments
        )
        if any(result is not _OK for result in outcome.results):
            return None
        try:
            with connection.cursor() as cursor:
                # One statement alone is a transaction of its own: one round trip, no COMMIT.
                # (psycopg's pipeline mode would also make it one, at three times the CPU.)
                connection.autocommit = True
                try:
                    cursor.execute(*_optimistic_statement(transfers, outcome, held, now_ns))
                finally:
                    _out_of_autocommit(connection)
        except _OPTIMISM_FAILED:
            if not connection.closed:
                connection.rollback()
            if held:  # perhaps resolved elsewhere: the locked path reads them, and this one forgets
                with self._pendings_lock:
                    for pending_id in held:
                        self._pendings.pop(pending_id, None)
            return None
        except BaseException:
            if not connection.closed:
                connection.rollback()
            raise
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
        except _RETRIED as exc:
            connection.rollback()
            raise RetryableError(str(exc)) from exc
        except BaseException:
            if not connection.closed:
                connection.rollback()
            raise
        finally:
            _out_of_autocommit(connection)
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
        columns = literal_columns(updates, ("text", "text"))
        cursor.execute(RESOLVE_PENDING, {"ids": columns[0], "statuses": columns[1]})
    changed = touched(outcome, accounts)
    if changed:
        columns = literal_columns([
            (a.id, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)
            for a in changed
        ], ("bigint",) * 5)
        cursor.execute(SET_ACCOUNTS, dict(zip(("ids", "dp", "cp", "dpe", "cpe"), columns, strict=True)))


def _optimistic_statement(
    transfers: Sequence[Transfer], outcome: Outcome, held: dict[str, TransferRecord], now_ns: int
) -> tuple[str, dict[str, Any]]:
    """The optimistic path's one statement and its parameters."""
    changes = deltas(transfers, held)
    params: dict[str, Any] = {
        "ids": int_array(d.account_id for d in changes),
        "ddp": int_array(d.debits_posted for d in changes),
        "dcp": int_array(d.credits_posted for d in changes),
        "ddpe": int_array(d.debits_pending for d in changes),
        "dcpe": int_array(d.credits_pending for d in changes),
        "dneed": int_array(d.debit_need for d in changes),
        "cneed": int_array(d.credit_need for d in changes),
        "dpeak": int_array(d.debit_peak for d in changes),
        "cpeak": int_array(d.credit_peak for d in changes),
        "accounts": len(changes),
        "transfers": len(outcome.new_records),
    }
    rows = [_insert_row_without_currency(r) for r in outcome.new_records]
    for index, column in enumerate(literal_columns(rows, _OPTIMISTIC_TYPES)):
        params[f"t{index}"] = column
    parts = [_OPTIMISTIC_ACCOUNTS, _OPTIMISTIC_TRANSFERS]
    new_pending = new_pending_rows(outcome)
    if new_pending:
        parts.append(_OPTIMISTIC_PENDING)
        for index, column in enumerate(literal_columns(new_pending, _PENDING_TYPES)):
            params[f"p{index}"] = column
    require = ("(SELECT count(*) FROM updated) = %(accounts)s"
               " AND (SELECT count(*) FROM inserted) = %(transfers)s")
    if held:
        records = list(held.values())
        status = outcome.resolved
        assert all(status[r.id] in (PendingStatus.POSTED, PendingStatus.VOIDED) for r in records)
        parts.append(_OPTIMISTIC_RESOLVED)
        params.update({
            "rid": text_array([r.id for r in records]),
            "rstatus": text_array([str(status[r.id]) for r in records]),
            "rdebit": int_array([r.debit_account_id for r in records]),
            "rcredit": int_array([r.credit_account_id for r in records]),
            "ramount": int_array([r.amount for r in records]),
            "now": now_ns,
            "resolutions": len(records),
        })
        # Read after the accounts' update, so that its locks are held when a reservation is resolved.
        require += " AND (SELECT count(*) FROM resolved) = %(resolutions)s"
    return ",".join(parts) + f" SELECT sika_ledger_require({require})", params


def _insert_row_without_currency(record: TransferRecord) -> tuple[Any, ...]:
    row = insert_row(record)
    return row[:_CURRENCY] + row[_CURRENCY + 1:]


# A reservation still pending, said as a range: the same rows as ``= 'pending'``, which PostgreSQL would
# take for the predicate of the index of open reservations and, with no statistics (a fresh database, a
# burst of holds), walk that index whole rather than look the batch's ids up (docs/scaling.md).
_STILL_PENDING = " BETWEEN 'pending' AND 'pending'"
# The locked path's writes: the batch's rows by their key (the values' join alone could walk a table).
RESOLVE_PENDING = (
    "UPDATE ledger_pending p SET status = v.status FROM unnest(%(ids)s::text[], %(statuses)s::text[])"
    " AS v(id, status) WHERE p.transfer_id = v.id AND p.transfer_id = ANY(%(ids)s::text[])"
    " AND p.status" + _STILL_PENDING
)
SET_ACCOUNTS = (
    "UPDATE ledger_accounts a SET debits_posted = v.dp, credits_posted = v.cp,"
    " debits_pending = v.dpe, credits_pending = v.cpe"
    " FROM unnest(%(ids)s::bigint[], %(dp)s::bigint[], %(cp)s::bigint[], %(dpe)s::bigint[],"
    " %(cpe)s::bigint[])"
    " AS v(id, dp, cp, dpe, cpe) WHERE a.id = v.id AND a.id = ANY(%(ids)s::bigint[])"
)
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
# Locks first, in id order as every writer takes them; then each account gets its changes only where
# it is open, stays within 64 bits, and has the room the batch needs on each side (sika.ledger.deltas,
# compared as numeric, as are the totals: a change may be negative, a reservation resolved).
# ``updated`` counts the accounts written, ``inserted`` the transfers whose two
# accounts share a currency; the final SELECT compares both with the batch's.
_OPTIMISTIC_ACCOUNTS = (
    "WITH locked AS MATERIALIZED (SELECT id FROM ledger_accounts WHERE id = ANY(%(ids)s::bigint[])"
    " ORDER BY id FOR UPDATE),"
    " v AS (SELECT * FROM unnest(%(ids)s::bigint[], %(ddp)s::bigint[], %(dcp)s::bigint[],"
    " %(ddpe)s::bigint[], %(dcpe)s::bigint[], %(dneed)s::numeric[], %(cneed)s::numeric[],"
    " %(dpeak)s::numeric[], %(cpeak)s::numeric[])"
    " AS v(id, ddp, dcp, ddpe, dcpe, dneed, cneed, dpeak, cpeak)),"
    " updated AS (UPDATE ledger_accounts a SET debits_posted = a.debits_posted + v.ddp,"
    " credits_posted = a.credits_posted + v.dcp, debits_pending = a.debits_pending + v.ddpe,"
    " credits_pending = a.credits_pending + v.dcpe FROM v JOIN locked USING (id)"
    # The accounts by their key too (and below): joined on the values alone, a generic plan made while
    # the table was small walked the whole accounts index (1,700 rows, a millisecond, in a benchmark).
    f" WHERE a.id = v.id AND a.id = ANY(%(ids)s::bigint[]) AND a.flags & {int(AccountFlags.CLOSED)} = 0"
    f" AND (v.dpeak IS NULL OR a.debits_posted::numeric + a.debits_pending + v.dpeak <= {AMOUNT_MAX})"
    f" AND (v.cpeak IS NULL OR a.credits_posted::numeric + a.credits_pending + v.cpeak <= {AMOUNT_MAX})"
    # A reservation resolved elsewhere since this process stored it: its amount is no longer there to
    # take back (the row is left alone, the count falls short; the CHECK would raise instead).
    " AND a.debits_pending::numeric + v.ddpe >= 0 AND a.credits_pending::numeric + v.dcpe >= 0"
    f" AND (v.dneed IS NULL OR a.flags & {int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)} = 0"
    " OR a.credits_posted::numeric - a.debits_posted - a.debits_pending >= v.dneed)"
    f" AND (v.cneed IS NULL OR a.flags & {int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)} = 0"
    " OR a.debits_posted::numeric - a.credits_posted - a.credits_pending >= v.cneed)"
    " AND (v.cneed IS NULL OR a.balance_max IS NULL"
    " OR a.balance_max::numeric - a.credits_posted - a.credits_pending + a.debits_posted >= v.cneed)"
    " RETURNING a.id)"
)
# The transfers' columns as sent: all those stored but the currency, which the statement takes from the
# debit account (the stand-ins' is no one's).
_INSERTED = [name.strip() for name in INSERT_COLUMNS.split(",")]
_CURRENCY = _INSERTED.index("currency")
_OPTIMISTIC_COLUMNS = _INSERTED[:_CURRENCY] + _INSERTED[_CURRENCY + 1:]
_OPTIMISTIC_TYPES = _TRANSFER_TYPES[:_CURRENCY] + _TRANSFER_TYPES[_CURRENCY + 1:]
# In the batch's order (its seq numbers follow it), each with its debit account's currency.
_OPTIMISTIC_TRANSFERS = (
    f" inserted AS (INSERT INTO ledger_transfers ({INSERT_COLUMNS}) SELECT "
    + ", ".join("d.currency" if name == "currency" else f"t.{name}" for name in _INSERTED)
    + " FROM unnest("
    + ", ".join(f"%(t{i})s::{kind}[]" for i, kind in enumerate(_OPTIMISTIC_TYPES))
    + f") WITH ORDINALITY AS t({', '.join(_OPTIMISTIC_COLUMNS)}, n)"
    " JOIN ledger_accounts d ON d.id = t.debit_account_id AND d.id = ANY(%(ids)s::bigint[])"
    " JOIN ledger_accounts c ON c.id = t.credit_account_id AND c.id = ANY(%(ids)s::bigint[])"
    " AND c.currency = d.currency ORDER BY t.n RETURNING 1)"
)
# Each reservation resolved only where it still stands as this process stored it.
_OPTIMISTIC_RESOLVED = (
    " resolved AS (UPDATE ledger_pending p SET status = r.status FROM unnest(%(rid)s::text[],"
    " %(rstatus)s::text[], %(rdebit)s::bigint[], %(rcredit)s::bigint[], %(ramount)s::bigint[])"
    " AS r(id, status, debit, credit, amount) WHERE p.transfer_id = r.id"
    " AND p.transfer_id = ANY(%(rid)s::text[]) AND p.status" + _STILL_PENDING
    + " AND p.debit_account_id = r.debit AND p.credit_account_id = r.credit AND p.amount = r.amount"
    " AND (p.expires_at_ns IS NULL OR p.expires_at_ns > %(now)s) RETURNING 1)"
)
_OPTIMISTIC_PENDING = (
    f" pending AS (INSERT INTO ledger_pending ({PENDING_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"%(p{i})s::{kind}[]" for i, kind in enumerate(_PENDING_TYPES)) + "))"
)
