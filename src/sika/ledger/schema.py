"""The ledger's tables. Migrations (``sika/migrations``) create them; this module describes them.

The database checks what it can by itself, as a second line behind the engine: amounts positive,
totals non-negative, flagged accounts within their limits, one resolution per pending transfer.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

__all__ = ["accounts", "metadata", "pending", "transfers"]

from sika.tables import ROWID, metadata

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("currency", String(3), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("flags", Integer, nullable=False, server_default=text("0")),
    Column("debits_posted", BigInteger, nullable=False, server_default=text("0")),
    Column("credits_posted", BigInteger, nullable=False, server_default=text("0")),
    Column("debits_pending", BigInteger, nullable=False, server_default=text("0")),
    Column("credits_pending", BigInteger, nullable=False, server_default=text("0")),
    Column("metadata", Text, nullable=False, server_default=text("'{}'")),
    Column("created_at_ns", BigInteger, nullable=False),
    # No CHECK: a cap lowered below the balance only refuses further credits (see model.Account).
    Column("balance_max", BigInteger, nullable=True),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
        name="ck_ledger_accounts_totals_non_negative",
    ),
    CheckConstraint(
        "(flags & 1) = 0 OR credits_posted - debits_posted - debits_pending >= 0",
        name="ck_ledger_accounts_debits_within_credits",
    ),
    CheckConstraint(
        "(flags & 2) = 0 OR debits_posted - credits_posted - credits_pending >= 0",
        name="ck_ledger_accounts_credits_within_debits",
    ),
)

transfers = Table(
    "ledger_transfers",
    metadata,
    # Insertion order, for stable cursor pagination; the public key is ``id``.
    Column("seq", ROWID, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("debit_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("credit_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("code", Integer, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("pending_id", String(64), nullable=True),
    Column("timeout_s", Integer, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    CheckConstraint("amount > 0", name="ck_ledger_transfers_amount_positive"),
    CheckConstraint(
        "debit_account_id <> credit_account_id", name="ck_ledger_transfers_accounts_differ"
    ),
    Index("ix_ledger_transfers_debit", "debit_account_id", "seq"),
    Index("ix_ledger_transfers_credit", "credit_account_id", "seq"),
    # A pending transfer is posted or voided once: a second resolution cannot be stored. Over the
    # resolutions only (migration 0020): every other transfer has no pending_id.
    Index("ux_ledger_transfers_pending_id", "pending_id", unique=True,
          postgresql_where=text("pending_id IS NOT NULL"), sqlite_where=text("pending_id IS NOT NULL")),
)

pending = Table(
    "ledger_pending",
    metadata,
    Column("transfer_id", String(64), primary_key=True),
    Column("debit_account_id", BigInteger, nullable=False),
    Column("credit_account_id", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("expires_at_ns", BigInteger, nullable=True),
    CheckConstraint(
        "status IN ('pending', 'posted', 'voided', 'expired')", name="ck_ledger_pending_status"
    ),
    # The expiry sweep's: over pending ones only (migration 0020), so a post or void adds no entry.
    Index("ix_ledger_pending_open", "expires_at_ns", postgresql_where=text("status = 'pending'"),
          sqlite_where=text("status = 'pending'")),
)
