"""A batch of transfers on SQLite: ``BEGIN IMMEDIATE`` takes the single write lock first, then the
batch reads what its rules need, applies them and writes, all in one transaction.

With the write lock held from the start no other writer can race the batch, so a constraint
violation here is a bug and is raised as such; only "locked" and "busy" are worth another attempt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sika.ledger.conflicts import RetryableError
from sika.ledger.engine import Outcome, apply, referenced_account_ids
from sika.ledger.model import Account, Transfer, TransferRecord
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
from sika.wal_sync import WalSync
from sika.write_turn import WriteTurn

__all__ = ["run_sqlite"]

_VARIABLES_MAX = 900


def run_sqlite(
    connection: sqlite3.Connection,
    transfers: Sequence[Transfer],
    now_ns: int,
    segments: Sequence[int] | None,
    expire_ids: Sequence[str],
    *,
    within: bool = False,
    turn: WriteTurn | None = None,
    wal: WalSync | None = None,
) -> Outcome:
    """``within``: the connection is in a write transaction already (``sika.db.together``); the batch
    is a savepoint of it, undone alone if it fails, committed with it. Otherwise it takes ``turn``
    (the machine's queue of writers, :mod:`sika.write_turn`) before its own ``BEGIN IMMEDIATE``,
    and after its commit, with the turn given back, ``wal`` syncs the log (:mod:`sika.wal_sync`)."""
    cursor = connection.cursor()
    key = id(connection)
    try:
        if wal is not None and not within:
            wal.refuse_if_broken()
        if turn is not None:
            turn.take(key)
        cursor.execute("SAVEPOINT sika_ledger" if within else "BEGIN IMMEDIATE")
        pending_ids = {t.pending_id for t in transfers if t.pending_id} | set(expire_ids)
        known = _transfers(cursor, {t.id for t in transfers} | pending_ids)
        pendings = {i: known[i] for i in pending_ids if i in known}
        account_ids = referenced_account_ids(transfers) | accounts_of(pendings.values())
        accounts = _accounts(cursor, account_ids)
        outcome = apply(
            transfers,
            accounts=accounts,
            existing=known,
            pendings=pendings,
            now_ns=now_ns,
            segments=segments,
            expire_ids=expire_ids,
        )
        _write(cursor, outcome, accounts)
        if wal is not None and not within:
            wal.refuse_if_broken()  # a sync failed since this batch began: nothing more is committed
        cursor.execute("RELEASE sika_ledger" if within else "COMMIT")
    except sqlite3.OperationalError as exc:
        _rollback(connection, within)
        if wal is not None and wal.broken is not None:
            raise  # refused for good (sika.wal_sync): never tried again, whatever the message says
        if "locked" in str(exc) or "busy" in str(exc):
            raise RetryableError(str(exc)) from exc
        raise
    except BaseException:
        _rollback(connection, within)
        raise
    finally:
        cursor.close()
        if turn is not None:
            turn.give_back(key)
    if not within:
        assert wal is not None or not getattr(connection, "deferred_sync", False), "a commit left unsynced"
        if wal is not None:
            wal.commit(connection, wrote=True)
    return outcome


def _transfers(cursor: sqlite3.Cursor, ids: set[str]) -> dict[str, TransferRecord]:
    found: dict[str, TransferRecord] = {}
    for chunk in _chunks(sorted(ids), _VARIABLES_MAX):
        marks = ",".join("?" * len(chunk))
        cursor.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t"
            f" LEFT JOIN ledger_pending p ON p.transfer_id = t.id WHERE t.id IN ({marks})",
            chunk,
        )
        for row in cursor.fetchall():
            found[row[1]] = record_from_row(row)
    return found


def _accounts(cursor: sqlite3.Cursor, ids: set[int]) -> dict[int, Account]:
    found: dict[int, Account] = {}
    for chunk in _chunks(sorted(ids), _VARIABLES_MAX):
        marks = ",".join("?" * len(chunk))
        cursor.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id IN ({marks})",
            chunk,
        )
        for row in cursor.fetchall():
            found[row[0]] = account_from_row(row)
    return found


def _write(cursor: sqlite3.Cursor, outcome: Outcome, accounts: dict[int, Account]) -> None:
    records = outcome.new_records
    if records:
        cursor.executemany(
            f"INSERT INTO ledger_transfers ({INSERT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [insert_row(r) for r in records],
        )
    new_pending = new_pending_rows(outcome)
    if new_pending:
        cursor.executemany(
            f"INSERT INTO ledger_pending ({PENDING_COLUMNS}) VALUES (?,?,?,?,?,?)", new_pending
        )
    updates = resolved_updates(outcome)
    if updates:
        cursor.executemany(
            "UPDATE ledger_pending SET status = ? WHERE transfer_id = ? AND status = 'pending'",
            [(status, pending_id) for pending_id, status in updates],
        )
        assert cursor.rowcount == len(updates), "a pending transfer resolved twice"
    changed = touched(outcome, accounts)
    if changed:
        cursor.executemany(
            "UPDATE ledger_accounts SET debits_posted = ?, credits_posted = ?,"
            " debits_pending = ?, credits_pending = ? WHERE id = ?",
            [(a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, a.id)
             for a in changed],
        )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rollback(connection: sqlite3.Connection, within: bool) -> None:
    if not connection.in_transaction:
        return  # SQLite rolled it all back itself (a full disk, an I/O error): the error tells
    if within:
        connection.execute("ROLLBACK TO sika_ledger")
        connection.execute("RELEASE sika_ledger")
    else:
        connection.execute("ROLLBACK")
