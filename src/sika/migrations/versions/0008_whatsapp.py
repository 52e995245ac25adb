"""WhatsApp: inbox of received messages, outbound queue, contacts' 24-hour windows.

Revision ID: 0008_whatsapp
Revises: 0007_chat
Create Date: 2026-11-22 01:43:25.266481
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_whatsapp"
down_revision = "0007_chat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wa_contacts",
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("last_inbound_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("msisdn"),
    )
    op.create_table(
        "wa_inbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("text", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("choice_id", sa.String(length=256), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_ns", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("received_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("handled_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'done', 'failed')", name="ck_wa_inbox_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("wa_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_wa_inbox_due", ["status", "next_attempt_ns"], unique=False)
        batch_op.create_index("ix_wa_inbox_msisdn", ["msisdn", "id"], unique=False)

    op.create_table(
        "wa_outbound",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("wamid", sa.String(length=128), nullable=True),
        sa.Column("source_key", sa.String(length=120), nullable=True),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
        sa.Column("secret_body_json", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_ns", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'delivered', 'read', 'failed')", name="ck_wa_outbound_status"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
        sa.UniqueConstraint("wamid"),
    )
    with op.batch_alter_table("wa_outbound", schema=None) as batch_op:
        batch_op.create_index("ix_wa_outbound_due", ["status", "next_attempt_ns"], unique=False)
        batch_op.create_index("ix_wa_outbound_msisdn", ["msisdn", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wa_outbound", schema=None) as batch_op:
        batch_op.drop_index("ix_wa_outbound_msisdn")
        batch_op.drop_index("ix_wa_outbound_due")

    op.drop_table("wa_outbound")
    with op.batch_alter_table("wa_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_wa_inbox_msisdn")
        batch_op.drop_index("ix_wa_inbox_due")

    op.drop_table("wa_inbox")
    op.drop_table("wa_contacts")
