"""Rides: drivers, trips (one active trip per driver, enforced by a partial unique index), offers.

Revision ID: 0009_rides
Revises: 0008_whatsapp
Create Date: 2026-11-22 02:00:35.767189
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_rides"
down_revision = "0008_whatsapp"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "rides_drivers",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("vehicle_type", sa.String(length=16), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("documents", sa.String(length=12), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("online", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("located_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("changed_at_ns", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("payout_lock_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("offers", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("accepted", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("declined", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("timed_out", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cancelled", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rating_sum", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "documents IN ('pending', 'approved', 'rejected')", name="ck_rides_drivers_documents"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id"),
        sa.UniqueConstraint("customer_id"),
        sa.UniqueConstraint("plate"),
    )
    with op.batch_alter_table("rides_drivers", schema=None) as batch_op:
        batch_op.create_index("ix_rides_drivers_changed", ["changed_at_ns"], unique=False)
        batch_op.create_index("ix_rides_drivers_city_online", ["city", "online"], unique=False)

    op.create_table(
        "rides_trips",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("rider_customer_id", sa.BigInteger(), nullable=False),
        sa.Column("rider_msisdn", sa.String(length=16), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("vehicle_type", sa.String(length=16), nullable=False),
        sa.Column("pickup_lat", sa.Float(), nullable=False),
        sa.Column("pickup_lng", sa.Float(), nullable=False),
        sa.Column("dropoff_lat", sa.Float(), nullable=False),
        sa.Column("dropoff_lng", sa.Float(), nullable=False),
        sa.Column("distance_m", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("quoted_fare", sa.BigInteger(), nullable=False),
        sa.Column("final_fare", sa.BigInteger(), nullable=True),
        sa.Column("payment_method", sa.String(length=8), nullable=False),
        sa.Column("card_token", sa.String(length=64), nullable=True),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("driver_id", sa.BigInteger(), nullable=True),
        sa.Column("dispatch", sa.Text(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("cancelled_by", sa.String(length=8), nullable=True),
        sa.Column("cancel_reason", sa.String(length=140), nullable=True),
        sa.Column("cancel_fee", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rider_rating", sa.Integer(), nullable=True),
        sa.Column("driver_rating", sa.Integer(), nullable=True),
        sa.Column("requested_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("assigned_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("arrived_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("started_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("finished_at_ns", sa.BigInteger(), nullable=True),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "driver_id IS NOT NULL OR NOT (status IN ('driver_assigned', 'driver_arrived', 'in_progress'))",
            name="ck_rides_trips_driver",
        ),
        sa.CheckConstraint("payment_method IN ('cash', 'wallet', 'card')", name="ck_rides_trips_payment"),
        sa.CheckConstraint(
            "status IN ('requested', 'driver_assigned', 'driver_arrived', 'in_progress', 'completed', 'cancelled', 'no_driver_found')",
            name="ck_rides_trips_status",
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["rides_drivers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["rider_customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rides_trips", schema=None) as batch_op:
        batch_op.create_index("ix_rides_trips_rider", ["rider_customer_id", "requested_at_ns"], unique=False)
        batch_op.create_index("ix_rides_trips_status", ["status", "updated_at_ns"], unique=False)
        batch_op.create_index(
            "ux_rides_trips_active_driver",
            ["driver_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('driver_assigned', 'driver_arrived', 'in_progress')"),
            postgresql_where=sa.text("status IN ('driver_assigned', 'driver_arrived', 'in_progress')"),
        )
        batch_op.create_index(
            "ux_rides_trips_open_rider",
            ["rider_customer_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('requested', 'driver_assigned', 'driver_arrived', 'in_progress')"),
            postgresql_where=sa.text(
                "status IN ('requested', 'driver_assigned', 'driver_arrived', 'in_progress')"
            ),
        )

    op.create_table(
        "rides_offers",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("trip_id", sa.String(length=40), nullable=False),
        sa.Column("driver_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("eta_s", sa.Integer(), nullable=False),
        sa.Column("sent_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'expired', 'lapsed')",
            name="ck_rides_offers_status",
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["rides_drivers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"],
            ["rides_trips.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trip_id", "driver_id", name="uq_rides_offers_trip_driver"),
    )
    with op.batch_alter_table("rides_offers", schema=None) as batch_op:
        batch_op.create_index("ix_rides_offers_driver", ["driver_id", "status"], unique=False)
        batch_op.create_index("ix_rides_offers_due", ["status", "expires_at_ns"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("rides_offers", schema=None) as batch_op:
        batch_op.drop_index("ix_rides_offers_due")
        batch_op.drop_index("ix_rides_offers_driver")

    op.drop_table("rides_offers")
    with op.batch_alter_table("rides_trips", schema=None) as batch_op:
        batch_op.drop_index("ux_rides_trips_open_rider")
        batch_op.drop_index(
            "ux_rides_trips_active_driver",
            sqlite_where=sa.text("status IN ('driver_assigned', 'driver_arrived', 'in_progress')"),
            postgresql_where=sa.text("status IN ('driver_assigned', 'driver_arrived', 'in_progress')"),
        )
        batch_op.drop_index("ix_rides_trips_status")
        batch_op.drop_index("ix_rides_trips_rider")

    op.drop_table("rides_trips")
    with op.batch_alter_table("rides_drivers", schema=None) as batch_op:
        batch_op.drop_index("ix_rides_drivers_city_online")
        batch_op.drop_index("ix_rides_drivers_changed")

    op.drop_table("rides_drivers")
