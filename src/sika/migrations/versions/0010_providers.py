"""Providers: bill claims, so that one bill is paid once across processes; movements found by the
provider's own reference (callbacks that name only it).

Revision ID: 0010_providers
Revises: 0009_rides
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_providers"
down_revision = "0009_rides"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pay_bill_claims",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("movement_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "reference", "period"),
    )
    op.create_index("ix_pay_bill_claims_movement_id", "pay_bill_claims", ["movement_id"])
    op.create_index("ix_pay_movements_provider_reference", "pay_movements", ["provider_reference"])


def downgrade() -> None:
    op.drop_index("ix_pay_movements_provider_reference", table_name="pay_movements")
    op.drop_index("ix_pay_bill_claims_movement_id", table_name="pay_bill_claims")
    op.drop_table("pay_bill_claims")
