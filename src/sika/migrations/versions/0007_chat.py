"""Chat: conversations (flow, step, answers so far) per channel and session.

Revision ID: 0007_chat
Revises: 0006_payments
Create Date: 2026-11-22 01:40:10.379075
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_chat"
down_revision = "0006_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "chat_conversations",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("session_key", sa.String(length=128), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "session_key"),
    )
    with op.batch_alter_table("chat_conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_conversations_updated_at_ns"), ["updated_at_ns"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("chat_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_conversations_updated_at_ns"))

    op.drop_table("chat_conversations")
