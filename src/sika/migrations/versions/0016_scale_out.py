"""Scale-out: ``worker_leases`` (which process runs a job that must run in one place at a time, when
there is no Redis: ``sika.coordination.leases``), and on PostgreSQL ``sika_ledger_require``, with
which one statement refuses to commit a batch whose accounts changed since this process last saw them
(the cached path of ``sika.ledger.postgres_batches``; SQLite's batches hold the database's single
write lock from the start). Since the fifteenth session the optimistic path calls it instead, when
an account lacks the room its batch needs (the message still speaks of accounts that changed).

Revision ID: 0016_scale_out
Revises: 0015_promotions
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_scale_out"
down_revision = "0015_promotions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    # A serialization failure (40001): what the statement met is another writer's commit, and the
    # caller's answer is to read again under the locks and retry.
    op.execute(
        "CREATE FUNCTION sika_ledger_require(ok boolean) RETURNS boolean LANGUAGE plpgsql AS $$"
        " BEGIN"
        " IF NOT ok THEN"
        " RAISE EXCEPTION 'ledger accounts changed since this process read them'"
        " USING ERRCODE = 'serialization_failure';"
        " END IF;"
        " RETURN ok;"
        " END $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION sika_ledger_require(boolean)")
    op.drop_table("worker_leases")
