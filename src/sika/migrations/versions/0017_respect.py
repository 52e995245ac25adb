"""Respect: notification preferences (quiet profile, marketing consent) and why the outbox held a message.

Revision ID: 0017_respect
Revises: 0016_scale_out
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_respect"
down_revision = "0016_scale_out"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_preferences",
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("quiet", sa.String(length=8), server_default=sa.text("'off'"), nullable=False),
        sa.Column("marketing", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("consent_via", sa.String(length=12), nullable=True),
        sa.Column("consent_asked_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("city", sa.String(length=32), nullable=True),
        sa.Column("marketing_paused_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quiet IN ('off', 'night', 'prayer', 'ramadan')", name="ck_notice_preferences_quiet"),
        sa.PrimaryKeyConstraint("msisdn"),
    )
    with op.batch_alter_table("pay_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=200), nullable=True))
        batch_op.drop_constraint("ck_pay_outbox_status", type_="check")
        batch_op.create_check_constraint(
            "ck_pay_outbox_status", "status IN ('queued', 'delivered', 'failed', 'dropped')")


def downgrade() -> None:
    with op.batch_alter_table("pay_outbox", schema=None) as batch_op:
        batch_op.drop_constraint("ck_pay_outbox_status", type_="check")
        batch_op.create_check_constraint("ck_pay_outbox_status", "status IN ('queued', 'delivered', 'failed')")
        batch_op.drop_column("reason")
    op.drop_table("notice_preferences")
