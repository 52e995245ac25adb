"""Prizes that wait for their winner's wallet (docs/promotions.md, "Draws").

A prize whose winner's wallet cannot take it at the reveal (the tier's balance or monthly cap) waits
in the prize holding account instead of going back to the budget: ``promo_prizes_waiting`` says for
whom, until when, and whether it was paid or given back. The prizes job finds what is due by a
partial index over the waiting rows only.

Revision ID: 0023_promo_prizes_waiting
Revises: 0022_promo_debts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_promo_prizes_waiting"
down_revision = "0022_promo_debts"
branch_labels = None
depends_on = None

WAITING = "status = 'waiting'"


def upgrade() -> None:
    op.create_table(
        "promo_prizes_waiting",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("draw_id", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("movement_id", sa.String(length=40), nullable=True),
        sa.Column("next_try_ns", sa.BigInteger(), nullable=False),
        sa.Column("until_ns", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN ('waiting', 'paid', 'returned')", name="ck_promo_prizes_waiting_status"),
        sa.CheckConstraint("amount > 0 AND attempts >= 0", name="ck_promo_prizes_waiting_amount"),
        sa.ForeignKeyConstraint(["campaign_id"], ["promo_campaigns.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["wallet_customers.id"]),
        sa.ForeignKeyConstraint(["draw_id"], ["promo_draws.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_promo_prizes_waiting_due", "promo_prizes_waiting", ["next_try_ns"],
                    postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))
    op.create_index("ix_promo_prizes_waiting_customer", "promo_prizes_waiting", ["customer_id", "created_at_ns"])


def downgrade() -> None:
    # A prize still waiting stays in the prize holding account (the ledger keeps it; an operator
    # moves it with a ledger transfer): the older code has no table to find it by.
    op.drop_index("ix_promo_prizes_waiting_customer", table_name="promo_prizes_waiting")
    op.drop_index("ix_promo_prizes_waiting_due", table_name="promo_prizes_waiting")
    op.drop_table("promo_prizes_waiting")
