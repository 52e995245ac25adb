"""Idle conversations found by their day, so that saving a conversation rewrites its row in place.

A conversation is saved at every message. Its index on ``updated_at_ns`` (for forgetting idle ones)
changed with each save, so PostgreSQL wrote a new version of the row elsewhere and a new entry in
both of the table's indexes, every time. The index is now on ``updated_day``, which changes once a
day at most: a save that changes no indexed column stays on its row's page, with no new index entry
(a "HOT" update), given room on the page: pages written from now on keep a fifth of their space
for it.

Revision ID: 0021_conversation_days
Revises: 0020_partial_indexes
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_conversation_days"
down_revision = "0020_partial_indexes"
branch_labels = None
depends_on = None

FILLFACTOR = 80


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # first: the rewrite below then leaves the room
        op.execute(f"ALTER TABLE chat_conversations SET (fillfactor = {FILLFACTOR})")
    with op.batch_alter_table("chat_conversations") as batch_op:
        batch_op.add_column(sa.Column("updated_day", sa.Integer(), nullable=False,
                                      server_default=sa.text("0")))
    op.execute("UPDATE chat_conversations SET updated_day = updated_at_ns / 86400000000000")  # DAY_NS
    with op.batch_alter_table("chat_conversations") as batch_op:
        batch_op.drop_index("ix_chat_conversations_updated_at_ns")
        batch_op.create_index("ix_chat_conversations_updated_day", ["updated_day"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE chat_conversations RESET (fillfactor)")
    with op.batch_alter_table("chat_conversations") as batch_op:
        batch_op.drop_index("ix_chat_conversations_updated_day")
        batch_op.create_index("ix_chat_conversations_updated_at_ns", ["updated_at_ns"])
        batch_op.drop_column("updated_day")
