"""The ledger's rows as the drivers see them: the columns each statement names, and the conversions
between database rows and the model's objects, shared by the SQLite and PostgreSQL paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sika.ledger.engine import Outcome
from sika.ledger.model import (
    Account,
    AccountFlags,
    AccountKind,
    PendingStatus,
    TransferFlags,
    TransferRecord,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "INSERT_COLUMNS",
    "PENDING_COLUMNS",
    "TRANSFER_COLUMNS",
    "account_from_row",
    "accounts_of",
    "insert_row",
    "new_pending_rows",
    "record_from_row",
    "resolved_updates",
    "touched",
]

TRANSFER_COLUMNS = (
    "t.seq, t.id, t.debit_account_id, t.credit_account_id, t.amount, t.currency, t.code, t.flags,"
    " t.pending_id, t.timeout_s, t.metadata, t.created_at_ns, p.status, p.expires_at_ns"
)
ACCOUNT_COLUMNS = (
    "id, currency, kind, flags, debits_posted, credits_posted, debits_pending, credits_pending,"
    " created_at_ns, balance_max"
)
INSERT_COLUMNS = (
    "id, debit_account_id, credit_account_id, amount, currency, code, flags, pending_id,"
    " timeout_s, metadata, created_at_ns"
)
PENDING_COLUMNS = "transfer_id, debit_account_id, credit_account_id, amount, status, expires_at_ns"

_PENDING_FLAG = int(TransferFlags.PENDING)


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


def account_from_row(row: Sequence[Any]) -> Account:
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


def insert_row(r: TransferRecord) -> tuple[Any, ...]:
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


def new_pending_rows(outcome: Outcome) -> list[tuple[Any, ...]]:
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


def resolved_updates(outcome: Outcome) -> list[tuple[str, str]]:
    new_ids = {r.id for r in outcome.new_records if int(r.flags) & _PENDING_FLAG}
    return [
        (pending_id, str(status))
        for pending_id, status in outcome.resolved.items()
        if pending_id not in new_ids
    ]


def touched(outcome: Outcome, accounts: dict[int, Account]) -> list[Account]:
    """The accounts the batch changed, by id, each asserted within its limits before it is written."""
    changed = [accounts[i] for i in sorted(outcome.touched_account_ids)]
    for account in changed:
        assert not account.violates_flags(), f"account {account.id} would pass its limits"
        assert min(
            account.debits_posted,
            account.credits_posted,
            account.debits_pending,
            account.credits_pending,
        ) >= 0
    return changed


def accounts_of(records: Iterable[TransferRecord]) -> set[int]:
    ids: set[int] = set()
    for record in records:
        ids.add(record.debit_account_id)
        ids.add(record.credit_account_id)
    return ids
