"""Room on the queue tables' pages (PostgreSQL): a claim's update can stay on its row's page.

A queued row is updated as it is claimed (attempts, lease), and again when it is handled. PostgreSQL
keeps an update on the row's own page, without a new entry in each of the table's indexes (a "HOT"
update), only when that page has room for the new version and no indexed column changed. Filled to
the brim by inserts, every claim wrote a new entry in each of the four indexes of the WhatsApp inbox,
and the next claims walked past them. The claim changes no indexed column; with a third of each page
left free it stays on its page. Existing pages keep their rows; new ones are filled to the new limit.

Revision ID: 0019_queue_room
Revises: 0018_driver_hours
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0019_queue_room"
down_revision = "0018_driver_hours"
branch_labels = None
depends_on = None

# The tables whose rows are claimed by a lease before they are handled (sika.payments.queue).
QUEUE_TABLES = ("wa_inbox", "wa_outbound", "pay_outbox", "pay_callbacks")
FILLFACTOR = 65


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in QUEUE_TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in QUEUE_TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
