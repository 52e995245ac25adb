"""Drivers' hours: online shifts, the rest after the cap, fasting mode.

Revision ID: 0018_driver_hours
Revises: 0017_respect
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_driver_hours"
down_revision = "0017_respect"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rides_drivers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rest_until_ns", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("fasting", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "rides_driver_shifts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("driver_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("ended_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("warned_min", sa.Integer(), nullable=True),
        sa.CheckConstraint("ended_at_ns IS NULL OR ended_at_ns >= started_at_ns",
                           name="ck_rides_driver_shifts_order"),
        sa.ForeignKeyConstraint(["driver_id"], ["rides_drivers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rides_driver_shifts", schema=None) as batch_op:
        batch_op.create_index("ix_rides_driver_shifts_driver", ["driver_id", "started_at_ns"], unique=False)
        batch_op.create_index(
            "ux_rides_driver_shifts_open",
            ["driver_id"],
            unique=True,
            sqlite_where=sa.text("ended_at_ns IS NULL"),
            postgresql_where=sa.text("ended_at_ns IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("rides_driver_shifts", schema=None) as batch_op:
        batch_op.drop_index("ux_rides_driver_shifts_open")
        batch_op.drop_index("ix_rides_driver_shifts_driver")
    op.drop_table("rides_driver_shifts")
    with op.batch_alter_table("rides_drivers", schema=None) as batch_op:
        batch_op.drop_column("fasting")
        batch_op.drop_column("rest_until_ns")
