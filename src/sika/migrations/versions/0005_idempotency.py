"""Idempotency-Key claims and stored answers.

Revision ID: 0005_idempotency
Revises: 0004_ledger_balance_max
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_idempotency"
down_revision = "0004_ledger_balance_max"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_idempotency",
        sa.Column("scope", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_digest", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("created_at_ns", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("api_idempotency")
