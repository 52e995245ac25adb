"""Drivers' hours in the database: shifts, the cap, the rest, warnings, fasting mode's reminders.

The arithmetic is :mod:`sika.rides.hours`; this keeps the shifts (``rides_driver_shifts``) so that every
process (``sika serve``, ``sika worker``) counts the same hours, and sends the driver's notices through
the outbox (category ``service``: they go out at once, whatever the driver's quiet hours):

- ``driver_hours_left`` when 2 h, 1 h and 30 min are left before the cap (once each per shift);
- ``driver_rest`` when the cap is reached: the driver is put offline and told until when;
- ``driver_safety_tips`` at the first shift of a Ramadan day;
- ``driver_iftar`` at Maghrib to a fasting driver online: stop and break the fast.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, and_, case, cast, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from sika.calendar import Calendar
from sika.errors import SikaError
from sika.payments.outbox import enqueue
from sika.rides.cities import City
from sika.rides.hours import DAY_S, Shift, drivable_at_s, online_s_24, rest_until_s, warning_due
from sika.rides.schema import driver_shifts, drivers

__all__ = ["CATEGORY", "DriverHours", "DriverResting", "HoursNow", "ShiftEnd"]

_NS = 1_000_000_000
_DAY_NS = int(DAY_S) * _NS
# The outbox category of every notice here: service messages go out at once.
CATEGORY = "service"
# The Maghrib reminder goes out during the first minutes after Maghrib (the tick runs every few seconds).
IFTAR_REMINDER_MIN = 15
# Drivers looked at per tick and shifts read per driver: bounds on one tick's work.
TICK_DRIVERS_MAX = 5_000
SHIFTS_MAX = 500

MsisdnOf = Callable[[Connection, int], str]


class DriverResting(SikaError):
    code = "driver_resting"


@dataclass(frozen=True, slots=True)
class HoursNow:
    """A driver's hours as ``GET /v1/drivers/{id}`` shows them."""

    online_s_24: float
    rest_until_ns: int | None
    fasting: bool
    cap_s: float


@dataclass(frozen=True, slots=True)
class ShiftEnd:
    driver_id: int
    rest_until_ns: int


def online_seconds_24(now_ns: int) -> Any:
    """A column expression: each driver's online nanoseconds in the 24 hours up to ``now_ns`` (group by
    ``driver_id``; rows restricted by :func:`in_window`)."""
    window_ns = now_ns - _DAY_NS
    start = case((driver_shifts.c.started_at_ns > window_ns, driver_shifts.c.started_at_ns), else_=window_ns)
    end = case((driver_shifts.c.ended_at_ns.is_(None), now_ns), else_=driver_shifts.c.ended_at_ns)
    return cast(func.sum(end - start), BigInteger)  # PostgreSQL's sum of bigints is a numeric


def in_window(now_ns: int) -> Any:
    window_ns = now_ns - _DAY_NS
    return or_(driver_shifts.c.ended_at_ns.is_(None), driver_shifts.c.ended_at_ns > window_ns)


def online_ns_by_driver(now_ns: int) -> Any:
    """A subquery (``driver_id``, ``online_ns``) over the last 24 hours."""
    return (select(driver_shifts.c.driver_id, online_seconds_24(now_ns).label("online_ns"))
            .where(in_window(now_ns)).group_by(driver_shifts.c.driver_id).subquery())


class DriverHours:
    def __init__(self, engine: Engine, calendar: Calendar, city: Callable[[str], City],
                 msisdn_of: MsisdnOf) -> None:
        self._engine = engine
        self.calendar = calendar
        self._city = city
        self._msisdn_of = msisdn_of

    # Reading ---------------------------------------------------------------------------------------

    def shifts(self, connection: Connection, driver_id: int, now_ns: int) -> list[Shift]:
        rows = connection.execute(
            select(driver_shifts.c.started_at_ns, driver_shifts.c.ended_at_ns)
            .where(driver_shifts.c.driver_id == driver_id, in_window(now_ns))
            .order_by(driver_shifts.c.started_at_ns.desc()).limit(SHIFTS_MAX)).all()
        return [(start / _NS, None if end is None else end / _NS) for start, end in rows]

    def now(self, driver_id: int, city_id: str, now_ns: int) -> HoursNow:
        with self._engine.connect() as connection:
            shifts = self.shifts(connection, driver_id, now_ns)
            rest_ns, fasting = connection.execute(
                select(drivers.c.rest_until_ns, drivers.c.fasting).where(drivers.c.id == driver_id)).one()
        rule = self._city(city_id).hours
        return HoursNow(online_s_24=online_s_24(shifts, now_ns / _NS),
                        rest_until_ns=rest_ns if rest_ns is not None and rest_ns > now_ns else None,
                        fasting=bool(fasting), cap_s=rule.cap_s(fasting=bool(fasting)))

    def before_iftar(self, city_id: str, now_ns: int) -> bool:
        """Within the city's guard (30 min) before Maghrib on a Ramadan day."""
        maghrib = self._maghrib(city_id, now_ns)
        if maghrib is None:
            return False
        at = datetime.fromtimestamp(now_ns / _NS, UTC)
        guard = timedelta(minutes=self._city(city_id).hours.iftar_guard_min)
        return maghrib - guard <= at < maghrib

    def _maghrib(self, city_id: str, now_ns: int) -> datetime | None:
        at = datetime.fromtimestamp(now_ns / _NS, UTC)
        day = self.calendar.local_date(city_id, at)
        if not self.calendar.is_ramadan(city_id, day):
            return None
        return self.calendar.prayer_times(city_id, day).maghrib

    # Shifts ----------------------------------------------------------------------------------------

    def start_shift(self, driver_id: int, city_id: str, now_ns: int) -> None:
        """The driver goes online: refused while resting or at the cap; the Ramadan safety tips once a
        day."""
        hours = self.now(driver_id, city_id, now_ns)
        until_ns = hours.rest_until_ns
        if until_ns is None and hours.online_s_24 > 0:
            # Back early from a break the cap did not force: still not past the last 24 hours' cap.
            rule = self._city(city_id).hours
            with self._engine.connect() as connection:
                shifts = self.shifts(connection, driver_id, now_ns)
            until_ns = int(drivable_at_s(shifts, now_ns / _NS, rule, fasting=hours.fasting) * _NS)
        if until_ns is not None and until_ns > now_ns:
            raise DriverResting(f"rest first: you may drive again at {self.local_time(city_id, until_ns)}")
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(driver_shifts).values(driver_id=driver_id, started_at_ns=now_ns))
        except IntegrityError:
            return  # already online: the open shift goes on
        day = self.calendar.local_date(city_id, datetime.fromtimestamp(now_ns / _NS, UTC))
        if self.calendar.is_ramadan(city_id, day):
            self._notify(driver_id, "driver_safety_tips", {}, f"tips:{driver_id}:{day.isoformat()}", now_ns)

    def end_shift(self, connection: Connection, driver_id: int, now_ns: int) -> None:
        connection.execute(update(driver_shifts).where(
            driver_shifts.c.driver_id == driver_id, driver_shifts.c.ended_at_ns.is_(None),
        ).values(ended_at_ns=now_ns))

    # The tick --------------------------------------------------------------------------------------

    def tick(self, now_ns: int, busy: set[int]) -> list[ShiftEnd]:
        """Warnings, the cap (drivers not on a trip go offline and rest) and the Maghrib reminder; returns
        the shifts it ended, for the caller's location index."""
        online = online_ns_by_driver(now_ns)
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(drivers.c.id, drivers.c.city, drivers.c.fasting, online.c.online_ns,
                       driver_shifts.c.warned_min, driver_shifts.c.id.label("shift_id"))
                .join(online, online.c.driver_id == drivers.c.id)
                .join(driver_shifts, and_(driver_shifts.c.driver_id == drivers.c.id,
                                          driver_shifts.c.ended_at_ns.is_(None)))
                .where(drivers.c.online.is_(True)).order_by(drivers.c.id).limit(TICK_DRIVERS_MAX)).all()
        ended = []
        for row in rows:
            rule = self._city(row.city).hours
            left_s = rule.cap_s(fasting=bool(row.fasting)) - row.online_ns / _NS
            if left_s <= 0 and row.id not in busy:
                ended.append(self._rest(row.id, row.city, bool(row.fasting), now_ns))
                continue
            due = warning_due(left_s, rule)
            if due is not None and (row.warned_min is None or due < row.warned_min):
                self._warn(row.id, row.shift_id, due, now_ns)
            if row.fasting:
                self._iftar_reminder(row.id, row.city, now_ns)
        return ended

    def _rest(self, driver_id: int, city_id: str, fasting: bool, now_ns: int) -> ShiftEnd:
        rule = self._city(city_id).hours
        with self._engine.connect() as connection:
            shifts = self.shifts(connection, driver_id, now_ns)
        until_ns = int(rest_until_s(shifts, now_ns / _NS, rule, fasting=fasting) * _NS)
        with self._engine.begin() as connection:
            self.end_shift(connection, driver_id, now_ns)
            connection.execute(update(drivers).where(drivers.c.id == driver_id).values(
                online=False, rest_until_ns=until_ns, changed_at_ns=now_ns))
            self._enqueue(connection, driver_id, "driver_rest",
                          {"until": self.local_time(city_id, until_ns),
                           "hours": round(rule.cap_s(fasting=fasting) / 3_600)},
                          key=f"rest:{driver_id}:{until_ns}", now_ns=now_ns)
        return ShiftEnd(driver_id, until_ns)

    def _warn(self, driver_id: int, shift_id: int, minutes: int, now_ns: int) -> None:
        with self._engine.begin() as connection:
            connection.execute(update(driver_shifts).where(driver_shifts.c.id == shift_id)
                               .values(warned_min=minutes))
            self._enqueue(connection, driver_id, "driver_hours_left", {"minutes": minutes},
                          key=f"hours:{shift_id}:{minutes}", now_ns=now_ns)

    def _iftar_reminder(self, driver_id: int, city_id: str, now_ns: int) -> None:
        maghrib = self._maghrib(city_id, now_ns)
        if maghrib is None:
            return
        at = datetime.fromtimestamp(now_ns / _NS, UTC)
        if maghrib <= at < maghrib + timedelta(minutes=IFTAR_REMINDER_MIN):
            # One a day: the outbox keeps the first message of a dedupe key.
            self._notify(driver_id, "driver_iftar", {"maghrib": self.local_time(city_id, maghrib)},
                         f"iftar:{driver_id}:{maghrib.date().isoformat()}", now_ns)

    # Notices ---------------------------------------------------------------------------------------

    def local_time(self, city_id: str, at: int | datetime) -> str:
        """``HH:MM`` on the city's clocks (a notice's time: the driver reads it where they are)."""
        zone = zoneinfo.ZoneInfo(self._city(city_id).timezone)
        instant = at if isinstance(at, datetime) else datetime.fromtimestamp(at / _NS, UTC)
        return instant.astimezone(zone).strftime("%H:%M")

    def _notify(self, driver_id: int, kind: str, params: dict[str, Any], key: str, now_ns: int) -> None:
        with self._engine.begin() as connection:
            self._enqueue(connection, driver_id, kind, params, key=key, now_ns=now_ns)

    def _enqueue(self, connection: Connection, driver_id: int, kind: str, params: dict[str, Any], *, key: str,
                 now_ns: int) -> None:
        enqueue(connection, dedupe_key=f"driver:{key}", msisdn=self._msisdn_of(connection, driver_id),
                kind=kind, now_ns=now_ns, params={**params, "category": CATEGORY})
