"""The dashboard's figures: today's money by kind, wallets opened, rides live, chat traffic, and the
same over time (hourly buckets), each one aggregate query on the tables the services write.

"Today" is the UTC day, which is the civil day in Lomé, Ouagadougou and Bamako (and an hour off in
Cotonou).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Engine, func, literal_column, select

from sika.chat.schema import conversations, day_of
from sika.chat.whatsapp.schema import inbox, outbound
from sika.payments.schema import movements
from sika.rides.schema import drivers, trips
from sika.wallet.schema import customers

__all__ = ["DIRECTIONS", "Dashboard", "KindTotal", "dashboard"]

_NS = 1_000_000_000
_HOUR_NS = 3600 * _NS
_DAY_NS = 24 * _HOUR_NS
HOURS = 24
# Where each kind of movement takes money: into the platform, out of it, or between its accounts.
DIRECTIONS = {
    "cash_in": "in", "top_up": "in", "float": "in",
    "cash_out": "out", "airtime": "out", "bill": "out", "voucher_claim": "within",
}
_OPEN_TRIPS = ("requested", "driver_assigned", "driver_arrived", "in_progress")


@dataclass(frozen=True, slots=True)
class KindTotal:
    kind: str
    direction: str
    count: int
    amount: int
    fee: int


@dataclass(slots=True)
class Dashboard:
    day_start_ns: int
    kinds: list[KindTotal] = field(default_factory=list)
    money_in: int = 0
    money_out: int = 0
    fees: int = 0
    wallets_total: int = 0
    wallets_today: int = 0
    drivers_online: int = 0
    trips_open: int = 0
    trips_today: int = 0
    whatsapp_in_today: int = 0
    whatsapp_out_today: int = 0
    whatsapp_failed_today: int = 0
    ussd_sessions_today: int = 0
    # Hourly series over the last HOURS hours: bucket start (s), money in, money out, messages in.
    series: dict[str, list[int]] = field(default_factory=dict)


def dashboard(engine: Engine, *, now_ns: int | None = None) -> Dashboard:
    now = now_ns if now_ns is not None else time.time_ns()
    start = now - now % _DAY_NS
    board = Dashboard(day_start_ns=start)
    with engine.connect() as c:
        for kind, count, amount, fee in c.execute(
            select(movements.c.kind, func.count(), func.sum(movements.c.amount), func.sum(movements.c.fee))
            .where(movements.c.status == "completed", movements.c.created_at_ns >= start)
            .group_by(movements.c.kind).order_by(movements.c.kind)):
            direction = DIRECTIONS.get(kind, "within")
            board.kinds.append(KindTotal(kind, direction, int(count), int(amount or 0), int(fee or 0)))
        board.money_in = sum(k.amount for k in board.kinds if k.direction == "in")
        board.money_out = sum(k.amount for k in board.kinds if k.direction == "out")
        board.fees = sum(k.fee for k in board.kinds)
        board.wallets_total = c.execute(select(func.count()).select_from(customers)).scalar_one()
        board.wallets_today = c.execute(select(func.count()).select_from(customers)
                                        .where(customers.c.created_at_ns >= start)).scalar_one()
        board.drivers_online = c.execute(select(func.count()).select_from(drivers)
                                         .where(drivers.c.online.is_(True))).scalar_one()
        board.trips_open = c.execute(select(func.count()).select_from(trips)
                                     .where(trips.c.status.in_(_OPEN_TRIPS))).scalar_one()
        board.trips_today = c.execute(select(func.count()).select_from(trips)
                                      .where(trips.c.requested_at_ns >= start)).scalar_one()
        board.whatsapp_in_today = c.execute(select(func.count()).select_from(inbox)
                                            .where(inbox.c.received_at_ns >= start)).scalar_one()
        board.whatsapp_out_today = c.execute(select(func.count()).select_from(outbound)
                                             .where(outbound.c.created_at_ns >= start)).scalar_one()
        board.whatsapp_failed_today = c.execute(
            select(func.count()).select_from(outbound)
            .where(outbound.c.created_at_ns >= start, outbound.c.status == "failed")).scalar_one()
        board.ussd_sessions_today = c.execute(
            select(func.count()).select_from(conversations)
            .where(conversations.c.channel == "ussd", conversations.c.updated_day >= day_of(start),
                   conversations.c.updated_at_ns >= start)).scalar_one()  # the day: by its index
    board.series = _series(engine, now)
    return board


def _series(engine: Engine, now: int) -> dict[str, list[int]]:
    """Money in and out, and WhatsApp messages received, per hour over the last ``HOURS`` hours."""
    first = (now // _HOUR_NS - HOURS + 1) * _HOUR_NS
    hours = [first // _NS + i * 3600 for i in range(HOURS)]
    money_in, money_out, messages = [0] * HOURS, [0] * HOURS, [0] * HOURS
    bucket = _hour_of(movements.c.created_at_ns, first)
    with engine.connect() as c:
        for index, kind, amount in c.execute(
            select(bucket, movements.c.kind, func.sum(movements.c.amount))
            .where(movements.c.status == "completed", movements.c.created_at_ns >= first)
            .group_by(bucket, movements.c.kind)):
            i = int(index)
            if 0 <= i < HOURS and DIRECTIONS.get(kind) in ("in", "out"):
                target = money_in if DIRECTIONS[kind] == "in" else money_out
                target[i] += int(amount or 0)
        received = _hour_of(inbox.c.received_at_ns, first)
        for index, count in c.execute(select(received, func.count()).where(inbox.c.received_at_ns >= first)
                                      .group_by(received)):
            if 0 <= int(index) < HOURS:
                messages[int(index)] += int(count)
    return {"t": hours, "in": money_in, "out": money_out, "messages": messages}


def _hour_of(column: ColumnElement[int], first_ns: int) -> ColumnElement[int]:
    """The hour bucket as SQL integer division. The numbers are written into the statement (they are
    our own integers, never input), so that PostgreSQL sees the same expression in SELECT and GROUP BY."""
    assert isinstance(first_ns, int)
    return (column - literal_column(str(first_ns))) // literal_column(str(_HOUR_NS))
