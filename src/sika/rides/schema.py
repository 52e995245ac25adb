"""The rides tables: drivers, their online shifts, trips and offers.

Two promises are kept by the database itself, whatever races the application loses:

- a trip never gets two drivers: assignment is one conditional UPDATE (``status = 'requested'``);
- a driver never holds two trips: a partial unique index on ``driver_id`` over the active states;
- a rider has one trip under way at a time: the same kind of index on ``rider_customer_id``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from sika.tables import ROWID, metadata

__all__ = ["ACTIVE_STATES", "driver_shifts", "drivers", "offers", "trips"]

# A driver holds at most one trip in these states.
ACTIVE_STATES = ("driver_assigned", "driver_arrived", "in_progress")
_ACTIVE_SQL = "status IN ('driver_assigned', 'driver_arrived', 'in_progress')"
_OPEN_SQL = "status IN ('requested', 'driver_assigned', 'driver_arrived', 'in_progress')"

drivers = Table(
    "rides_drivers",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    # A driver is a Sika customer: earnings are paid out to the wallet, the API is used with its token.
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False, unique=True),
    Column("name", String(80), nullable=False),
    Column("city", String(32), nullable=False),
    Column("vehicle_type", String(16), nullable=False),
    Column("plate", String(16), nullable=False, unique=True),
    Column("documents", String(12), nullable=False, server_default=text("'pending'")),
    Column("online", Boolean, nullable=False, server_default=text("false")),
    # Earnings less commissions; negative while the driver owes cash commissions.
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False, unique=True),
    Column("lat", Float, nullable=True),
    Column("lng", Float, nullable=True),
    Column("located_at_ns", BigInteger, nullable=True),
    # When location or availability last changed: processes with their own index catch up from here.
    Column("changed_at_ns", BigInteger, nullable=False, server_default=text("0")),
    # One payout at a time per driver: a payout holds this lease while it reads and moves the balance.
    Column("payout_lock_until_ns", BigInteger, nullable=True),
    Column("offers", Integer, nullable=False, server_default=text("0")),
    Column("accepted", Integer, nullable=False, server_default=text("0")),
    Column("declined", Integer, nullable=False, server_default=text("0")),
    Column("timed_out", Integer, nullable=False, server_default=text("0")),
    Column("cancelled", Integer, nullable=False, server_default=text("0")),
    Column("completed", Integer, nullable=False, server_default=text("0")),
    Column("rating_sum", Integer, nullable=False, server_default=text("0")),
    Column("rating_count", Integer, nullable=False, server_default=text("0")),
    # The hours rule (sika.rides.hours): offline until then after reaching the cap; the driver's choice.
    Column("rest_until_ns", BigInteger, nullable=True),
    Column("fasting", Boolean, nullable=False, server_default=text("false")),
    Column("created_at_ns", BigInteger, nullable=False),
    CheckConstraint("documents IN ('pending', 'approved', 'rejected')", name="ck_rides_drivers_documents"),
    Index("ix_rides_drivers_city_online", "city", "online"),
    Index("ix_rides_drivers_changed", "changed_at_ns"),
)

trips = Table(
    "rides_trips",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("rider_customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False),
    Column("rider_msisdn", String(16), nullable=False),
    Column("city", String(32), nullable=False),
    Column("vehicle_type", String(16), nullable=False),
    Column("pickup_lat", Float, nullable=False),
    Column("pickup_lng", Float, nullable=False),
    Column("dropoff_lat", Float, nullable=False),
    Column("dropoff_lng", Float, nullable=False),
    Column("distance_m", Integer, nullable=False),
    Column("duration_s", Integer, nullable=False),
    Column("quoted_fare", BigInteger, nullable=False),
    Column("final_fare", BigInteger, nullable=True),
    Column("payment_method", String(8), nullable=False),
    Column("card_token", String(64), nullable=True),
    # The ledger movement holding the rider's money (wallet), or paying the trip (card, cash commission).
    Column("payment_id", String(40), nullable=True),
    Column("status", String(20), nullable=False),
    Column("driver_id", BigInteger, ForeignKey("rides_drivers.id"), nullable=True),
    # Where the dispatch search stands (radius step, drivers asked), as JSON.
    Column("dispatch", Text, nullable=False, server_default=text("'{}'")),
    Column("cancelled_by", String(8), nullable=True),
    Column("cancel_reason", String(140), nullable=True),
    Column("cancel_fee", BigInteger, nullable=False, server_default=text("0")),
    Column("rider_rating", Integer, nullable=True),   # given by the rider to the driver
    Column("driver_rating", Integer, nullable=True),  # given by the driver to the rider
    Column("requested_at_ns", BigInteger, nullable=False),
    Column("assigned_at_ns", BigInteger, nullable=True),
    Column("arrived_at_ns", BigInteger, nullable=True),
    Column("started_at_ns", BigInteger, nullable=True),
    Column("finished_at_ns", BigInteger, nullable=True),
    Column("updated_at_ns", BigInteger, nullable=False),
    CheckConstraint(
        "status IN ('requested', 'driver_assigned', 'driver_arrived', 'in_progress', 'completed', "
        "'cancelled', 'no_driver_found')", name="ck_rides_trips_status"),
    CheckConstraint("payment_method IN ('cash', 'wallet', 'card')", name="ck_rides_trips_payment"),
    CheckConstraint(f"driver_id IS NOT NULL OR NOT ({_ACTIVE_SQL})", name="ck_rides_trips_driver"),
    Index("ux_rides_trips_active_driver", "driver_id", unique=True,
          sqlite_where=text(_ACTIVE_SQL), postgresql_where=text(_ACTIVE_SQL)),
    # A rider has one trip under way at a time, however many requests race.
    Index("ux_rides_trips_open_rider", "rider_customer_id", unique=True,
          sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL)),
    Index("ix_rides_trips_status", "status", "updated_at_ns"),
    Index("ix_rides_trips_rider", "rider_customer_id", "requested_at_ns"),
)

offers = Table(
    "rides_offers",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("trip_id", String(40), ForeignKey("rides_trips.id"), nullable=False),
    Column("driver_id", BigInteger, ForeignKey("rides_drivers.id"), nullable=False),
    Column("status", String(10), nullable=False),
    Column("eta_s", Integer, nullable=False),
    Column("sent_at_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    UniqueConstraint("trip_id", "driver_id", name="uq_rides_offers_trip_driver"),
    CheckConstraint("status IN ('pending', 'accepted', 'declined', 'expired', 'lapsed')",
                    name="ck_rides_offers_status"),
    Index("ix_rides_offers_driver", "driver_id", "status"),
    Index("ix_rides_offers_due", "status", "expires_at_ns"),
)

# Every stretch a driver was online, so that any process counts the hours of the last 24 the same way.
driver_shifts = Table(
    "rides_driver_shifts",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("driver_id", BigInteger, ForeignKey("rides_drivers.id"), nullable=False),
    Column("started_at_ns", BigInteger, nullable=False),
    Column("ended_at_ns", BigInteger, nullable=True),  # NULL: online now
    # The last warning sent in this shift's countdown to the cap (minutes left): each goes once.
    Column("warned_min", Integer, nullable=True),
    CheckConstraint("ended_at_ns IS NULL OR ended_at_ns >= started_at_ns",
                    name="ck_rides_driver_shifts_order"),
    Index("ix_rides_driver_shifts_driver", "driver_id", "started_at_ns"),
    # One open shift per driver, whatever two processes do at once.
    Index("ux_rides_driver_shifts_open", "driver_id", unique=True,
          sqlite_where=text("ended_at_ns IS NULL"), postgresql_where=text("ended_at_ns IS NULL")),
)
