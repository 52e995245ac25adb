"""The simulated drivers: where they are, what they hold, and when they are online under the hours rule.

With ``fatigue`` off every driver is online from the first second to the last (the service without an
hours rule). With it on, each driver follows the city's :class:`~sika.rides.hours.HoursRule`, counted by
the same functions as the live service:

- the first shift starts at a time drawn uniformly over the run's first ``24 h − cap`` hours (the day's
  drivers come and go; a run shorter than the cap starts everyone at once);
- a free driver goes offline the moment the last 24 hours hold the cap (a busy one cannot be past it:
  dispatch offers no trip that would end past it), rests until :func:`~sika.rides.hours.rest_until_s`,
  and comes back if that is within the run;
- on a Ramadan day ``fasting_share`` of the drivers are in fasting mode (shorter cap, no long trip in
  the guard before Maghrib); at Maghrib each stops for ``IFTAR_BREAK_S`` once the current trip is over.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np
import simpy

from sika.calendar import Calendar
from sika.rides.dispatch import DriverState
from sika.rides.geo import Point
from sika.rides.hours import DAY_S, HoursRule, Shift, online_s_24, online_s_max_24, rest_until_s
from sika.rides.index import H3Index
from sika.rides.simulation_config import SimulationConfig

__all__ = ["IFTAR_BREAK_S", "Fleet", "SimDriver"]

IFTAR_BREAK_S = 30 * 60.0
_MARGIN_S = 1.0
Process = Generator[simpy.events.Event, Any, None]


@dataclass(slots=True)
class SimDriver:
    id: int
    position: Point
    fasting: bool = False
    online: bool = False
    trip: int | None = None
    offered: bool = False
    shifts: list[Shift] = field(default_factory=list)
    # (assigned, dropped off) of every trip, for the audit.
    trips: list[tuple[float, float]] = field(default_factory=list)
    freed: simpy.Event | None = None

    @property
    def free(self) -> bool:
        return self.trip is None and not self.offered


class Fleet:
    def __init__(self, config: SimulationConfig, env: simpy.Environment, index: H3Index,
                 rng: np.random.Generator) -> None:
        self.config = config
        self.env = env
        self.index = index
        self.rule: HoursRule = config.city.hours
        area = config.city.area
        self.drivers = [
            SimDriver(i, Point(float(rng.uniform(area.lat_min, area.lat_max)),
                               float(rng.uniform(area.lng_min, area.lng_max))))
            for i in range(config.drivers)
        ]
        self.maghribs_s, ramadan = _maghribs(config)
        self.guards_s = [(m - self.rule.iftar_guard_min * 60, m) for m in self.maghribs_s]
        if not config.fatigue:
            for driver in self.drivers:
                self._online(driver)
            return
        # Drawn in a fixed order whatever the profile, so that the same seed places the same drivers.
        fasting = rng.random(config.drivers) < (config.fasting_share if ramadan else 0.0)
        offsets = rng.random(config.drivers)
        for driver in self.drivers:
            driver.fasting = bool(fasting[driver.id])
            cap_s = self.rule.cap_s(fasting=driver.fasting)
            start_s = float(offsets[driver.id]) * max(0.0, min(config.hours * 3_600, DAY_S) - cap_s)
            env.process(self._day(driver, start_s))

    # What dispatch sees ------------------------------------------------------------------------------

    def state(self, driver_id: int) -> DriverState | None:
        driver = self.drivers[driver_id]
        if not driver.online:
            return None
        worked_s = online_s_24(driver.shifts, float(self.env.now)) if self.config.fatigue else 0.0
        return DriverState(busy=driver.trip is not None, offered=driver.offered, online_s_24=worked_s,
                           fasting=driver.fasting)

    def before_iftar(self, now_s: float) -> bool:
        return any(start_s <= now_s < end_s for start_s, end_s in self.guards_s)

    def release(self, driver: SimDriver) -> None:
        """The driver is free again (a trip over, an offer answered): wake the shift waiting for it."""
        if driver.free and driver.freed is not None:
            waiting, driver.freed = driver.freed, None
            waiting.succeed()

    def online_h_max(self) -> float:
        end_s = float(self.env.now)
        return max((online_s_max_24(d.shifts, end_s) for d in self.drivers), default=0.0) / 3_600

    # Shifts ------------------------------------------------------------------------------------------

    def _online(self, driver: SimDriver) -> None:
        now = float(self.env.now)
        driver.online = True
        driver.shifts.append((now, None))
        self.index.update(driver.id, driver.position, now)

    def _offline(self, driver: SimDriver) -> None:
        assert driver.free and driver.online
        start_s, _ = driver.shifts[-1]
        driver.shifts[-1] = (start_s, float(self.env.now))
        driver.online = False
        self.index.remove(driver.id)

    def _until_free(self, driver: SimDriver) -> Process:
        while not driver.free:
            driver.freed = self.env.event()
            yield driver.freed

    def _day(self, driver: SimDriver, start_s: float) -> Process:
        yield self.env.timeout(start_s)
        self._online(driver)
        cap_s = self.rule.cap_s(fasting=driver.fasting)
        while True:
            now = float(self.env.now)
            # The earliest the cap can be reached (the window may slide meanwhile: then look again), a
            # second early so that no rounding ever shows a driver a hair past it.
            cap_at = now + max(0.0, cap_s - _MARGIN_S - online_s_24(driver.shifts, now))
            iftar_at = next((m for m in self.maghribs_s if m > now), math.inf) if driver.fasting else math.inf
            yield self.env.timeout(min(cap_at, iftar_at) - now)
            yield from self._until_free(driver)
            now = float(self.env.now)
            if iftar_at <= cap_at:
                self._offline(driver)  # Maghrib: stop and break the fast
                yield self.env.timeout(IFTAR_BREAK_S)
                if online_s_24(driver.shifts, float(self.env.now)) < cap_s:
                    self._online(driver)
                    continue
            elif online_s_24(driver.shifts, now) < cap_s - 2 * _MARGIN_S:
                continue  # the window slid meanwhile: more time to drive (a float's hair is not)
            if driver.online:
                self._offline(driver)
            back_s = rest_until_s(driver.shifts, float(self.env.now), self.rule, fasting=driver.fasting)
            if back_s >= self.config.hours * 3_600:
                return
            yield self.env.timeout(back_s - float(self.env.now))
            self._online(driver)


def _maghribs(config: SimulationConfig) -> tuple[list[float], bool]:
    """Maghrib of every day the run covers, in simulated seconds, and whether the first day is in
    Ramadan (from :mod:`sika.calendar`, as the live service)."""
    city = config.city
    calendar = Calendar([city])
    zone = zoneinfo.ZoneInfo(city.timezone)
    first = config.start_day
    start = datetime.combine(first, time(0), zone) + timedelta(hours=config.start_hour)
    days = math.ceil(config.hours / 24) + 2
    maghribs = []
    for n in range(days):
        day = first + timedelta(days=n)
        if not calendar.is_ramadan(city.id, day):
            continue
        maghribs.append((calendar.prayer_times(city.id, day).maghrib - start).total_seconds())
    return [m for m in maghribs if m > 0], calendar.is_ramadan(city.id, first)
