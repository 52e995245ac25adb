"""Indexes over the rows still open only (partial indexes): a queue's queued rows, the ledger's
pending transfers, the transfers that post or void one.

A queue's claim looks for queued rows that are due, and the WhatsApp queues look for a person's
earlier queued messages; nothing else read those two indexes. Over every row, they grew with the
thirty days of handled messages kept, and each handled row left dead entries the next claims walked
past (a claim read 1,278 buffers on a short benchmark). Handling a row changes its status, so
PostgreSQL writes a new entry in every index the new version belongs to: over queued rows only, two
of the inbox's four indexes, and two of the outbound queue's five, are left out. The indexes keep a
few hundred entries whatever the table's size.

A claim takes the oldest due rows first: the queued index is by id, so that the claim walks it in
order (SQLite, without statistics, otherwise walked the whole table in id order from its oldest row).
A statement reaches such an index only when its condition names the status as a literal
(``sika.payments.queue.queued``): neither PostgreSQL's generic plans nor SQLite see through a bound
value. ``pay_outbox`` keeps its index by number over every row: a person's notifications and the
marketing cap read it.

The ledger's pending transfers are found by their expiry while they are pending, and the transfer
that posts or voids one by its ``pending_id``, which every other transfer has empty: both indexes
now leave the others out (a plain transfer is written with four index entries, not five).

Operations: each index is built in the migration's transaction, which holds writes to its table
for the time of a scan. The queue tables are pruned (days of rows), but ``ledger_transfers`` keeps
every transfer: on a large ledger, run this migration in a quiet hour (payments wait for the scan,
about a second a million transfers on NVMe, and are not refused unless it outlasts their wait).

Revision ID: 0020_partial_indexes
Revises: 0019_queue_room
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_partial_indexes"
down_revision = "0019_queue_room"
branch_labels = None
depends_on = None

QUEUED = "status = 'queued'"
# (table, old index, its columns, new index, its columns)
CHANGES = (
    ("wa_inbox", "ix_wa_inbox_due", ["status", "next_attempt_ns"], "ix_wa_inbox_queued", ["id"]),
    ("wa_inbox", "ix_wa_inbox_msisdn", ["msisdn", "id"], "ix_wa_inbox_queued_msisdn",
     ["msisdn", "id"]),
    ("wa_outbound", "ix_wa_outbound_due", ["status", "next_attempt_ns"], "ix_wa_outbound_queued", ["id"]),
    ("wa_outbound", "ix_wa_outbound_msisdn", ["msisdn", "id"], "ix_wa_outbound_queued_msisdn",
     ["msisdn", "id"]),
    ("pay_outbox", "ix_pay_outbox_due", ["status", "next_attempt_ns"], "ix_pay_outbox_queued", ["id"]),
    ("pay_callbacks", "ix_pay_callbacks_due", ["status", "next_attempt_ns"], "ix_pay_callbacks_queued",
     ["id"]),
)
PENDING = "status = 'pending'"
RESOLVING = "pending_id IS NOT NULL"


def upgrade() -> None:
    for table, old, _, new, columns in CHANGES:
        op.drop_index(old, table_name=table)
        _partial(new, table, columns, QUEUED)
    op.drop_index("ix_ledger_pending_due", table_name="ledger_pending")
    _partial("ix_ledger_pending_open", "ledger_pending", ["expires_at_ns"], PENDING)
    op.drop_index("ux_ledger_transfers_pending_id", table_name="ledger_transfers")
    _partial("ux_ledger_transfers_pending_id", "ledger_transfers", ["pending_id"], RESOLVING, unique=True)


def downgrade() -> None:
    op.drop_index("ux_ledger_transfers_pending_id", table_name="ledger_transfers")
    op.create_index("ux_ledger_transfers_pending_id", "ledger_transfers", ["pending_id"], unique=True)
    op.drop_index("ix_ledger_pending_open", table_name="ledger_pending")
    op.create_index("ix_ledger_pending_due", "ledger_pending", ["status", "expires_at_ns"])
    for table, old, old_columns, new, _ in reversed(CHANGES):
        op.drop_index(new, table_name=table)
        op.create_index(old, table, old_columns)


def _partial(name: str, table: str, columns: list[str], where: str, *, unique: bool = False) -> None:
    op.create_index(name, table, columns, unique=unique, postgresql_where=sa.text(where),
                    sqlite_where=sa.text(where))
