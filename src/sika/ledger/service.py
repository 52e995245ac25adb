"""The ledger's entry point: accounts, batches of transfers, group commit, reads and expiry."""

from __future__ import annotations

import base64
import binascii
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, String, bindparam, insert, literal_column, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import PoolProxiedConnection

from sika.db import connect, shared
from sika.ledger.conflicts import RetryableError
from sika.ledger.errors import AccountNotFound, LedgerBusy, LedgerError
from sika.ledger.group_commit import LANES_MAX, GroupCommitter
from sika.ledger.model import (
    AMOUNT_MAX,
    METADATA_BYTES_MAX,
    Account,
    AccountFlags,
    AccountKind,
    Transfer,
    TransferRecord,
    TransferResult,
)
from sika.ledger.rows import TRANSFER_COLUMNS, record_from_row
from sika.ledger.schema import accounts as ledger_accounts
from sika.ledger.schema import pending as ledger_pending
from sika.ledger.store import BatchStore
from sika.money import currency as lookup_currency
from sika.prepared import Prepared

__all__ = [
    "BATCH_MAX",
    "GROUP_LANES_DEFAULT",
    "PAGE_LIMIT_MAX",
    "AccountNotFound",
    "Ledger",
    "LedgerBusy",
    "LedgerError",
    "TransferPage",
]

# One request or one committed group carries at most this many transfers (TigerBeetle's batch size).
BATCH_MAX = 8_190
# Groups in flight at once on PostgreSQL, each on its own connection (see group_commit).
GROUP_LANES_DEFAULT = 2
PAGE_LIMIT_MAX = 200
RETRIES_MAX = 10
EXPIRY_SWEEP_MAX = 1_000
# Reads on hot paths (a balance in the chat), built once: building a statement costs more than running it.
_ACCOUNT_BY_ID = Prepared(select(ledger_accounts).where(ledger_accounts.c.id == bindparam("id")))
_ACCOUNTS_BY_ID = Prepared(
    select(ledger_accounts).where(ledger_accounts.c.id.in_(bindparam("ids", expanding=True))))
_TRANSFERS_BY_ID = Prepared(text(
    f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t"
    " LEFT JOIN ledger_pending p ON p.transfer_id = t.id WHERE t.id IN :ids"
).bindparams(bindparam("ids", expanding=True, type_=String())))  # typed: an array on PostgreSQL


@dataclass(frozen=True, slots=True)
class TransferPage:
    items: list[TransferRecord]
    next_cursor: str | None


class Ledger:
    """Double-entry ledger over one database. Safe to share between threads.

    ``create_transfers`` runs one batch as one transaction. ``submit`` does the same through the
    group committer, so that concurrent callers share commits; use it on request paths.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        group_max: int = BATCH_MAX,
        group_lanes: int = GROUP_LANES_DEFAULT,
    ) -> None:
        self.engine = engine
        self._clock_ns = clock_ns
        self._store = BatchStore(engine)
        self._group_max = min(group_max, BATCH_MAX)
        # SQLite has one writer at a time: a second lane would only queue on its lock.
        self._group_lanes = 1 if engine.dialect.name == "sqlite" else min(group_lanes, LANES_MAX)
        self._committer: GroupCommitter | None = None
        self._writer_connections: dict[int, PoolProxiedConnection] = {}
        self._committer_lock = threading.Lock()

    # Accounts ------------------------------------------------------------------------------------

    def create_account(
        self,
        *,
        currency: str,
        kind: AccountKind,
        flags: AccountFlags = AccountFlags.NONE,
        metadata: dict[str, Any] | None = None,
        account_id: int | None = None,
        balance_max: int | None = None,
    ) -> Account:
        """Open an account. With ``account_id``, a retry with the same fields returns the account."""
        if lookup_currency(currency) is None:
            raise LedgerError(f"unknown currency {currency!r}", code="currency_invalid")
        try:
            kind = AccountKind(kind)
        except ValueError as exc:
            raise LedgerError(f"unknown account kind {kind!r}", code="kind_invalid") from exc
        flags = AccountFlags(flags)
        both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
        if flags & both == both:
            raise LedgerError("an account limits debits or credits, not both",
                              code="flags_are_mutually_exclusive")
        metadata = metadata or {}
        metadata_json = json.dumps(metadata, sort_keys=True, separators=(",", ":"))
        if len(metadata_json.encode()) > METADATA_BYTES_MAX:
            raise LedgerError("account metadata is too large", code="metadata_too_large")
        _check_balance_max(balance_max)
        values: dict[str, Any] = {
            "balance_max": balance_max,
            "currency": currency,
            "kind": str(AccountKind(kind)),
            "flags": int(flags),
            "metadata": metadata_json,
            "created_at_ns": self._clock_ns(),
        }
        if account_id is not None:
            if account_id <= 0:
                raise LedgerError("account ids are positive", code="id_invalid")
            values["id"] = account_id
        try:
            with self.engine.begin() as connection:
                new_id = connection.execute(
                    insert(ledger_accounts).values(values).returning(ledger_accounts.c.id)
                ).scalar_one()
                if account_id is not None and connection.dialect.name == "postgresql":
                    # An id chosen by the caller does not advance the sequence: move it past.
                    connection.execute(text(
                        "SELECT setval(pg_get_serial_sequence('ledger_accounts', 'id'),"
                        " (SELECT MAX(id) FROM ledger_accounts))"
                    ))
        except IntegrityError as exc:
            if account_id is None:
                raise
            existing = self.get_account(account_id)
            same = (existing.currency, existing.kind, existing.flags, existing.metadata,
                    existing.balance_max) == (currency, kind, flags, metadata, balance_max)
            if not same:
                raise LedgerError(f"account {account_id} exists with other fields",
                                  code="exists_with_different_fields") from exc
            return existing
        return self.get_account(new_id)

    def get_account(self, account_id: int) -> Account:
        row = _ACCOUNT_BY_ID.first(self.engine, {"id": account_id})
        if row is None:
            raise AccountNotFound(f"no account {account_id}")
        return _account(row._mapping)

    def get_accounts(self, account_ids: Sequence[int]) -> dict[int, Account]:
        ids = sorted(set(account_ids))
        if len(ids) > BATCH_MAX:
            raise LedgerError(f"at most {BATCH_MAX} accounts at once", code="too_many")
        if not ids:
            return {}
        return {row.id: _account(row._mapping) for row in _ACCOUNTS_BY_ID.all(self.engine, {"ids": ids})}

    def close_account(self, account_id: int) -> Account:
        """Refuse every further transfer touching the account; its history stays.

        One conditional UPDATE, so that a reservation racing with the close either lands first (and
        the close is refused) or finds the account closed.
        """
        a = ledger_accounts.c
        with self.engine.begin() as connection:
            closed = connection.execute(
                update(ledger_accounts)
                .where(a.id == account_id, a.debits_pending == 0, a.credits_pending == 0)
                .values(flags=a.flags.op("|")(int(AccountFlags.CLOSED)))
            ).rowcount
        if not closed:
            self.get_account(account_id)  # raises AccountNotFound when there is no such account
            raise LedgerError("the account still has pending transfers", code="account_has_pending")
        return self.get_account(account_id)

    def set_balance_max(self, account_id: int, balance_max: int | None) -> Account:
        """Change the cap on what the account may hold (None: no cap); the balance is untouched.

        A transfer committing concurrently is checked against the old cap or the new one, never
        neither: a batch reads the cap (or checks what it needs of it) under the account's lock, and
        this UPDATE takes that lock.
        """
        _check_balance_max(balance_max)
        with self.engine.begin() as connection:
            found = connection.execute(
                update(ledger_accounts)
                .where(ledger_accounts.c.id == account_id)
                .values(balance_max=balance_max)
            ).rowcount
        if not found:
            raise AccountNotFound(f"no account {account_id}")
        return self.get_account(account_id)

    def raise_balance_max(self, account_id: int, at_least: int) -> Account:
        """Raise the account's cap to ``at_least`` if it is lower; never lower it (nor set one on an
        account without a cap). Two callers raising at once from values read at different moments
        end at the higher, whichever writes last."""
        _check_balance_max(at_least)
        with self.engine.begin() as connection:
            connection.execute(
                update(ledger_accounts)
                .where(ledger_accounts.c.id == account_id, ledger_accounts.c.balance_max.is_not(None),
                       ledger_accounts.c.balance_max < at_least)
                .values(balance_max=at_least)
            )
        return self.get_account(account_id)  # raises AccountNotFound when there is no such account

    # Transfers -----------------------------------------------------------------------------------

    def create_transfers(self, transfers: Sequence[Transfer]) -> list[TransferResult]:
        """Apply a batch in one transaction: a result per transfer, independent unless linked."""
        if len(transfers) > BATCH_MAX:
            raise LedgerError(f"a batch holds at most {BATCH_MAX} transfers", code="batch_too_large")
        if not transfers:
            return []
        return self._run(list(transfers), [len(transfers)])

    def submit(self, transfers: Sequence[Transfer]) -> list[TransferResult]:
        """Like :meth:`create_transfers`, sharing a commit with concurrent callers; inside
        :func:`sika.db.together`, in its transaction (SQLite: one writer, nothing to share)."""
        if len(transfers) > self._group_max:
            raise LedgerError(f"a batch holds at most {self._group_max} transfers",
                              code="batch_too_large")
        unit = shared(self.engine)
        if unit is not None:
            if not transfers:
                return []
            return self._store.run(transfers, now_ns=self._clock_ns(), segments=[len(transfers)],
                                   connection=unit.connection, within=True).results
        return self._group_committer().submit(transfers)

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        with connect(self.engine) as connection:
            row = connection.execute(
                text(
                    f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t"
                    " LEFT JOIN ledger_pending p ON p.transfer_id = t.id WHERE t.id = :id"
                ),
                {"id": transfer_id},
            ).first()
        return record_from_row(row) if row is not None else None

    def get_transfers(self, transfer_ids: Sequence[str]) -> dict[str, TransferRecord]:
        """The stored transfers among ``transfer_ids`` (missing ids are left out), by id."""
        ids = sorted(set(transfer_ids))
        if len(ids) > BATCH_MAX:
            raise LedgerError(f"at most {BATCH_MAX} transfers at once", code="too_many")
        if not ids:
            return {}
        return {row[1]: record_from_row(row) for row in _TRANSFERS_BY_ID.all(self.engine, {"ids": ids})}

    def account_transfers(
        self, account_id: int, *, limit: int = 50, cursor: str | None = None
    ) -> TransferPage:
        """An account's transfers, newest first, ``limit`` at a time (at most 200)."""
        if not 1 <= limit <= PAGE_LIMIT_MAX:
            raise LedgerError(f"limit must be between 1 and {PAGE_LIMIT_MAX}", code="validation_error")
        before = _decode_cursor(cursor) if cursor else 2**63 - 1
        half = (
            "SELECT seq FROM (SELECT seq FROM ledger_transfers WHERE {side} = :account"
            " AND seq < :before ORDER BY seq DESC LIMIT :n) AS {alias}"
        )
        query = text(
            f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers t"
            " LEFT JOIN ledger_pending p ON p.transfer_id = t.id WHERE t.seq IN ("
            + half.format(side="debit_account_id", alias="d")
            + " UNION "
            + half.format(side="credit_account_id", alias="c")
            + ") ORDER BY t.seq DESC LIMIT :n"
        )
        with self.engine.connect() as connection:
            rows = connection.execute(
                query, {"account": account_id, "before": before, "n": limit + 1}
            ).all()
        items = [record_from_row(row) for row in rows[:limit]]
        next_cursor = _encode_cursor(items[-1].seq) if len(rows) > limit else None
        return TransferPage(items=items, next_cursor=next_cursor)

    def expire_pending(self, *, limit: int = EXPIRY_SWEEP_MAX) -> int:
        """Release pending transfers whose timeout has passed; returns how many were due."""
        now_ns = self._clock_ns()
        with self.engine.connect() as connection:
            due = list(
                connection.execute(
                    select(ledger_pending.c.transfer_id)
                    # Written out, for the partial index (a bound value is not seen through).
                    .where(ledger_pending.c.status == literal_column("'pending'"))
                    .where(ledger_pending.c.expires_at_ns <= now_ns)
                    .order_by(ledger_pending.c.expires_at_ns)
                    .limit(min(limit, EXPIRY_SWEEP_MAX))
                ).scalars()
            )
        if due:
            self._with_retries(lambda: self._store.run([], now_ns=now_ns, expire_ids=due))
        return len(due)

    def close(self) -> None:
        with self._committer_lock:
            if self._committer is not None:
                self._committer.close()
                self._committer = None

    # Internals -----------------------------------------------------------------------------------

    def _group_committer(self) -> GroupCommitter:
        committer = self._committer  # read without the lock: every request passes here
        if committer is not None:
            return committer
        with self._committer_lock:
            if self._committer is None:
                self._committer = GroupCommitter(
                    self._run_group, group_max=self._group_max, lanes=self._group_lanes,
                    on_close=self._drop_writer_connection,
                )
            return self._committer

    def _run(self, transfers: list[Transfer], segments: list[int]) -> list[TransferResult]:
        assert shared(self.engine) is None, "inside sika.db.together, the ledger is given its connection"
        outcome = self._with_retries(
            lambda: self._store.run(transfers, now_ns=self._clock_ns(), segments=segments)
        )
        results: list[TransferResult] = outcome.results
        return results

    def _run_group(
        self, transfers: list[Transfer], segments: list[int], lane: int
    ) -> list[TransferResult]:
        """A lane's batches, on a connection the lane keeps (only the lane's thread calls this)."""
        def attempt() -> Any:
            connection = self._writer_connections.get(lane)
            if connection is None:
                connection = self._writer_connections[lane] = self._store.dedicated_connection()
            try:
                return self._store.run(transfers, now_ns=self._clock_ns(), segments=segments,
                                       connection=connection)
            except RetryableError:
                raise
            except Exception:
                # The connection may be broken: the next attempt (or group) opens a fresh one.
                self._drop_writer_connection(lane, invalidate=True)
                raise

        results: list[TransferResult] = self._with_retries(attempt).results
        return results

    def _drop_writer_connection(self, lane: int, *, invalidate: bool = False) -> None:
        connection = self._writer_connections.pop(lane, None)
        if connection is not None:
            if invalidate:
                connection.invalidate()
            connection.close()

    @staticmethod
    def _with_retries(attempt: Callable[[], Any]) -> Any:
        for tries in range(RETRIES_MAX):
            try:
                return attempt()
            except RetryableError:
                # Jittered backoff so that colliding writers do not collide again in step.
                time.sleep(random.uniform(0, 0.002 * 2**tries))  # noqa: S311 - not for secrets
        raise LedgerBusy("the ledger stayed busy; try again")


def _account(row: Any) -> Account:
    return Account(
        id=row["id"],
        currency=row["currency"],
        kind=AccountKind(row["kind"]),
        flags=AccountFlags(row["flags"]),
        debits_posted=row["debits_posted"],
        credits_posted=row["credits_posted"],
        debits_pending=row["debits_pending"],
        credits_pending=row["credits_pending"],
        metadata=json.loads(row["metadata"]),
        created_at_ns=row["created_at_ns"],
        balance_max=row["balance_max"],
    )


def _check_balance_max(balance_max: int | None) -> None:
    if balance_max is not None and not 0 <= balance_max <= AMOUNT_MAX:
        raise LedgerError("balance_max is between 0 and 2**63 - 1", code="validation_error")


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        seq = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise LedgerError("the cursor is not one this API gave", code="invalid_cursor") from exc
    if prefix != "seq" or not 0 < seq < 2**63:
        raise LedgerError("the cursor is not one this API gave", code="invalid_cursor")
    return seq
