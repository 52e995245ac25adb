"""Promotions: campaigns (budget accounts), rewards, draw entries and draws, codes and claims, referrals,
meters.

Revision ID: 0015_promotions
Revises: 0013_reliability
Create Date: 2026-12-04 18:26:23.710241
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_promotions"
down_revision = "0013_reliability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promo_campaigns",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("sponsor", sa.String(length=48), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("planned", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("ends_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("state IN ('draft', 'live', 'paused', 'ended')", name="ck_promo_campaigns_state"),
        sa.CheckConstraint("planned >= 0", name="ck_promo_campaigns_planned"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id"),
    )
    with op.batch_alter_table("promo_campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_promo_campaigns_state", ["state", "updated_at_ns"], unique=False)

    op.create_table(
        "promo_meters",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("key"),
        sa.UniqueConstraint("account_id"),
    )
    op.create_table(
        "promo_claims",
        sa.Column("campaign_id", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["promo_campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id"),
    )
    op.create_table(
        "promo_codes",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.String(length=16), nullable=False),
        sa.Column("batch", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("used_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["promo_campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("promo_codes", schema=None) as batch_op:
        batch_op.create_index("ix_promo_codes_batch", ["campaign_id", "batch"], unique=False)

    op.create_table(
        "promo_draws",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("entrants_sha256", sa.String(length=64), nullable=False),
        sa.Column("entrants", sa.Integer(), nullable=False),
        sa.Column("prizes", sa.Text(), nullable=False),
        sa.Column("winners", sa.Text(), nullable=True),
        sa.Column("committed_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("revealed_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('committed', 'revealed')", name="ck_promo_draws_status"),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["promo_campaigns.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("promo_draws", schema=None) as batch_op:
        batch_op.create_index("ix_promo_draws_campaign", ["campaign_id", "committed_at_ns"], unique=False)

    op.create_table(
        "promo_entries",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("campaign_id", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("movement_id", sa.String(length=40), nullable=False),
        sa.Column("draw_id", sa.String(length=16), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["promo_campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "movement_id", name="uq_promo_entries_once"),
    )
    with op.batch_alter_table("promo_entries", schema=None) as batch_op:
        batch_op.create_index("ix_promo_entries_customer", ["customer_id", "created_at_ns"], unique=False)
        batch_op.create_index("ix_promo_entries_draw", ["campaign_id", "draw_id"], unique=False)

    op.create_table(
        "promo_referrals",
        sa.Column("referee_customer_id", sa.BigInteger(), nullable=False),
        sa.Column("referrer_customer_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("movement_id", sa.String(length=40), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'due', 'rewarded', 'unpaid')", name="ck_promo_referrals_status"),
        sa.CheckConstraint("referee_customer_id <> referrer_customer_id", name="ck_promo_referrals_self"),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["promo_campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["referee_customer_id"],
            ["wallet_customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["referrer_customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("referee_customer_id"),
    )
    op.create_table(
        "promo_rewards",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("campaign_id", sa.String(length=16), nullable=False),
        sa.Column("movement_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("base_amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), server_default=sa.text("'paid'"), nullable=False),
        sa.Column("clawed_back", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("owed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN ('paid', 'clawed_back', 'owed')", name="ck_promo_rewards_status"),
        sa.CheckConstraint("amount > 0 AND clawed_back >= 0 AND owed >= 0", name="ck_promo_rewards_amounts"),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["promo_campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "movement_id", "customer_id", name="uq_promo_rewards_once"),
    )
    with op.batch_alter_table("promo_rewards", schema=None) as batch_op:
        batch_op.create_index("ix_promo_rewards_customer", ["customer_id", "created_at_ns"], unique=False)
        batch_op.create_index("ix_promo_rewards_movement", ["movement_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("promo_rewards", schema=None) as batch_op:
        batch_op.drop_index("ix_promo_rewards_movement")
        batch_op.drop_index("ix_promo_rewards_customer")

    op.drop_table("promo_rewards")
    op.drop_table("promo_referrals")
    with op.batch_alter_table("promo_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_promo_entries_draw")
        batch_op.drop_index("ix_promo_entries_customer")

    op.drop_table("promo_entries")
    with op.batch_alter_table("promo_draws", schema=None) as batch_op:
        batch_op.drop_index("ix_promo_draws_campaign")

    op.drop_table("promo_draws")
    with op.batch_alter_table("promo_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_promo_codes_batch")

    op.drop_table("promo_codes")
    op.drop_table("promo_claims")
    op.drop_table("promo_meters")
    with op.batch_alter_table("promo_campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_promo_campaigns_state")

    op.drop_table("promo_campaigns")
