"""Owed clawbacks collected from later rewards (docs/promotions.md, "Owed clawbacks").

``promo_rewards`` gains ``collected`` (on a reward owed after a refund: the francs of it later rewards
of the same campaign kept back) and ``withheld`` (on such a later reward: the francs of it kept back,
not paid), and the status ``settled`` (owed, then collected in full). Whether a customer owes a
campaign anything is looked up by a partial index over the owed rows only: nearly always empty.

Revision ID: 0022_promo_debts
Revises: 0021_conversation_days
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_promo_debts"
down_revision = "0021_conversation_days"
branch_labels = None
depends_on = None

OWED = "status = 'owed'"


def upgrade() -> None:
    with op.batch_alter_table("promo_rewards") as batch_op:
        batch_op.add_column(sa.Column("collected", sa.BigInteger(), nullable=False, server_default=sa.text("0")))
        batch_op.add_column(sa.Column("withheld", sa.BigInteger(), nullable=False, server_default=sa.text("0")))
        batch_op.drop_constraint("ck_promo_rewards_status", type_="check")
        batch_op.create_check_constraint(
            "ck_promo_rewards_status", "status IN ('paid', 'clawed_back', 'owed', 'settled')")
        batch_op.create_check_constraint(
            "ck_promo_rewards_debts", "collected >= 0 AND withheld >= 0 AND withheld <= amount")
    op.create_index("ix_promo_rewards_owed", "promo_rewards", ["customer_id", "campaign_id"],
                    postgresql_where=sa.text(OWED), sqlite_where=sa.text(OWED))


def downgrade() -> None:
    op.drop_index("ix_promo_rewards_owed", table_name="promo_rewards")
    # What later rewards kept back reads as taken back (the old code knows no collection), and a
    # reward that kept some back as paid less it (the old rows knew only what the wallet received).
    op.execute("UPDATE promo_rewards SET status = 'clawed_back', clawed_back = clawed_back + collected"
               " WHERE status = 'settled'")
    op.execute("UPDATE promo_rewards SET clawed_back = clawed_back + collected WHERE status = 'owed'")
    # (withheld set to 0 with it: the CHECK withheld <= amount still stands until the batch below)
    op.execute("UPDATE promo_rewards SET amount = amount - withheld, withheld = 0"
               " WHERE withheld > 0 AND amount > withheld")
    # One kept back whole paid nothing: the old code knows no reward of nothing (amount > 0).
    op.execute("DELETE FROM promo_rewards WHERE withheld > 0 AND amount = withheld")
    with op.batch_alter_table("promo_rewards") as batch_op:
        batch_op.drop_constraint("ck_promo_rewards_debts", type_="check")
        batch_op.drop_constraint("ck_promo_rewards_status", type_="check")
        batch_op.create_check_constraint(
            "ck_promo_rewards_status", "status IN ('paid', 'clawed_back', 'owed')")
        batch_op.drop_column("withheld")
        batch_op.drop_column("collected")
