"""Reliability and security: request digests on movements, claim owners, login throttling and PIN resets.

Revision ID: 0013_reliability
Revises: 0012_console
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_reliability"
down_revision = "0012_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pay_movements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("api_idempotency", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=120), nullable=True))
    with op.batch_alter_table("wallet_customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_failures", sa.Integer(), server_default=sa.text("0"),
                                      nullable=False))
        batch_op.add_column(sa.Column("login_locked_until_ns", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("cash_out_frozen_until_ns", sa.BigInteger(), nullable=True))
    op.create_table(
        "auth_login_throttle",
        sa.Column("bucket", sa.String(length=80), nullable=False),
        sa.Column("window_start_ns", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )
    op.create_table(
        "wallet_pin_resets",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("failed_tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=True),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'used', 'blocked', 'expired')",
                           name="ck_wallet_pin_resets_status"),
        sa.ForeignKeyConstraint(["customer_id"], ["wallet_customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wallet_pin_resets", schema=None) as batch_op:
        batch_op.create_index("ix_wallet_pin_resets_customer_id", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_table("wallet_pin_resets")
    op.drop_table("auth_login_throttle")
    with op.batch_alter_table("wallet_customers", schema=None) as batch_op:
        batch_op.drop_column("cash_out_frozen_until_ns")
        batch_op.drop_column("login_locked_until_ns")
        batch_op.drop_column("login_failures")
    with op.batch_alter_table("api_idempotency", schema=None) as batch_op:
        batch_op.drop_column("owner")
    with op.batch_alter_table("pay_movements", schema=None) as batch_op:
        batch_op.drop_column("request_digest")
