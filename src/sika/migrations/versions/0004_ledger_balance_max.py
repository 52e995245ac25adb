"""A cap on what a ledger account may hold (KYC tier limits), checked by the rules under its lock.

Revision ID: 0004_ledger_balance_max
Revises: 0003_auth
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_ledger_balance_max"
down_revision = "0003_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.add_column(sa.Column("balance_max", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.drop_column("balance_max")
