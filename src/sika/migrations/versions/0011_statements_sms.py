"""SMS: the messages handed to the SMS gateway and their delivery reports; the route of each outbox message.

Revision ID: 0011_statements_sms
Revises: 0010_providers
Create Date: 2026-12-04 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_statements_sms"
down_revision = "0010_providers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=100), nullable=True),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(length=5), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("failure_reason", sa.String(length=60), nullable=True),
        sa.Column("cost", sa.String(length=40), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_id"),
        sa.UniqueConstraint("provider_id"),
    )
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.create_index("ix_sms_messages_msisdn", ["msisdn", "id"], unique=False)
    with op.batch_alter_table("pay_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pay_outbox", schema=None) as batch_op:
        batch_op.drop_column("channel")
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_messages_msisdn")
    op.drop_table("sms_messages")
