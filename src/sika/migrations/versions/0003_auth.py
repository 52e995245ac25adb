"""API keys and customer sessions.

Revision ID: 0003_auth
Revises: 0002_wallet_customers
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_auth"
down_revision = "0002_wallet_customers"
branch_labels = None
depends_on = None

_ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "auth_api_keys",
        sa.Column("id", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at_ns", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_ns", sa.BigInteger, nullable=True),
        sa.CheckConstraint("role IN ('admin', 'agent', 'merchant')", name="ck_auth_api_keys_role"),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("token_digest", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.BigInteger, sa.ForeignKey("wallet_customers.id"), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_auth_sessions_customer_id", "auth_sessions", ["customer_id"])


def downgrade() -> None:
    op.drop_table("auth_sessions")
    op.drop_table("auth_api_keys")
