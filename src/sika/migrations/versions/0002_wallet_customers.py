"""Wallet customers: phone number, name, language, KYC tier, ledger account and PIN state.

Revision ID: 0002_wallet_customers
Revises: 0001_ledger
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_wallet_customers"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wallet_customers",
        sa.Column("id", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("msisdn", sa.String(16), nullable=False, unique=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("tier", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("account_id", sa.BigInteger, sa.ForeignKey("ledger_accounts.id"), nullable=True, unique=True),
        sa.Column("pin_hash", sa.String(255), nullable=True),
        sa.Column("pin_failures", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("pin_locked_until_ns", sa.BigInteger, nullable=True),
        sa.Column("created_at_ns", sa.BigInteger, nullable=False),
        sa.CheckConstraint("tier >= 0 AND tier <= 2", name="ck_wallet_customers_tier"),
        sa.CheckConstraint("pin_failures >= 0", name="ck_wallet_customers_pin_failures"),
    )


def downgrade() -> None:
    op.drop_table("wallet_customers")
