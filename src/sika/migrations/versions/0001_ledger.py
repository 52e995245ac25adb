"""The ledger: accounts, transfers and pending reservations.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("flags", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("debits_posted", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("credits_posted", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("debits_pending", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("credits_pending", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("metadata", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("created_at_ns", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0",
            name="ck_ledger_accounts_totals_non_negative",
        ),
        sa.CheckConstraint(
            "(flags & 1) = 0 OR credits_posted - debits_posted - debits_pending >= 0",
            name="ck_ledger_accounts_debits_within_credits",
        ),
        sa.CheckConstraint(
            "(flags & 2) = 0 OR debits_posted - credits_posted - credits_pending >= 0",
            name="ck_ledger_accounts_credits_within_debits",
        ),
    )
    op.create_table(
        "ledger_transfers",
        sa.Column("seq", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("debit_account_id", sa.BigInteger, sa.ForeignKey("ledger_accounts.id"), nullable=False),
        sa.Column("credit_account_id", sa.BigInteger, sa.ForeignKey("ledger_accounts.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("pending_id", sa.String(64), nullable=True),
        sa.Column("timeout_s", sa.Integer, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("created_at_ns", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_ledger_transfers_amount_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="ck_ledger_transfers_accounts_differ"),
    )
    op.create_index("ix_ledger_transfers_debit", "ledger_transfers", ["debit_account_id", "seq"])
    op.create_index("ix_ledger_transfers_credit", "ledger_transfers", ["credit_account_id", "seq"])
    op.create_index("ux_ledger_transfers_pending_id", "ledger_transfers", ["pending_id"], unique=True)
    op.create_table(
        "ledger_pending",
        sa.Column("transfer_id", sa.String(64), primary_key=True),
        sa.Column("debit_account_id", sa.BigInteger, nullable=False),
        sa.Column("credit_account_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'posted', 'voided', 'expired')", name="ck_ledger_pending_status"),
    )
    op.create_index("ix_ledger_pending_due", "ledger_pending", ["status", "expires_at_ns"])


def downgrade() -> None:
    op.drop_table("ledger_pending")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
