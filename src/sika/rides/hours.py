"""Drivers' hours: how long a driver has been online, when the cap is reached, how long the rest lasts.

Pure arithmetic over a driver's online *shifts* (``(start_s, end_s)``, ``end_s`` None while online), no
database and no clock of its own: the live service (:mod:`sika.rides.driver_hours`) and the simulator
count the same way.

The rule (:class:`HoursRule`, one per city, ``City.hours``):

- a driver is online at most ``cap_h`` (12 h) in **any** 24 hours: the count is a sliding window, so a
  driver who drove 12 hours straight drives again only once that shift starts sliding out of the window;
- reaching the cap puts the driver offline for at least ``rest_h`` (6 h), and until the last 24 hours
  leave at least ``return_h`` (1 h) to drive, so that a driver never comes back to be stopped minutes
  later (a 12-hour shift then rests 13 hours; a driver who split the day rests 6);
- warnings go out when ``warnings_min`` minutes (120, 60, 30) are left;
- a driver in **fasting mode** (chosen by the driver) has a shorter cap, ``fasting_cap_h``, gets no trip
  longer than ``fasting_long_trip_km`` in the ``iftar_guard_min`` minutes before Maghrib (the rush
  before iftar is when fasting drivers crash), and may decline then without it counting.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field, model_validator

__all__ = ["DAY_S", "HoursRule", "Shift", "drivable_at_s", "online_s", "online_s_24", "online_s_max_24",
           "rest_until_s",
           "warning_due"]

DAY_S = 24 * 3_600.0

Shift = tuple[float, float | None]


class HoursRule(BaseModel, frozen=True):
    cap_h: float = Field(default=12.0, gt=0, le=24)
    rest_h: float = Field(default=6.0, ge=0, le=24)
    return_h: float = Field(default=1.0, ge=0, le=12)
    warnings_min: tuple[int, ...] = Field(default=(120, 60, 30), max_length=5)
    fasting_cap_h: float = Field(default=8.0, gt=0, le=24)
    fasting_long_trip_km: float = Field(default=5.0, gt=0, le=100)
    iftar_guard_min: int = Field(default=30, ge=0, le=180)

    @model_validator(mode="after")
    def _coherent(self) -> HoursRule:
        if self.fasting_cap_h > self.cap_h:
            raise ValueError("the fasting cap is at most the cap")
        if self.return_h >= min(self.cap_h, self.fasting_cap_h):
            raise ValueError("the time left to come back is below the cap")
        if any(not 0 < minutes < self.fasting_cap_h * 60 for minutes in self.warnings_min):
            raise ValueError("warnings are minutes left before the cap, above 0")
        return self

    def cap_s(self, *, fasting: bool) -> float:
        return (self.fasting_cap_h if fasting else self.cap_h) * 3_600


def online_s(shifts: Sequence[Shift], start_s: float, end_s: float) -> float:
    """Seconds online between ``start_s`` and ``end_s`` (an open shift runs to ``end_s``)."""
    total = 0.0
    for begin, finish in shifts:
        until = end_s if finish is None else min(finish, end_s)
        total += max(0.0, until - max(begin, start_s))
    return total


def online_s_24(shifts: Sequence[Shift], now_s: float) -> float:
    """Seconds online in the 24 hours up to ``now_s``."""
    return online_s(shifts, now_s - DAY_S, now_s)


def drivable_at_s(shifts: Sequence[Shift], now_s: float, rule: HoursRule, *, fasting: bool) -> float:
    """When a driver offline from ``now_s`` has ``return_h`` to drive again: the moment the last 24 hours
    hold at most the cap less ``return_h`` (``now_s`` itself when they already do)."""
    closed = [(begin, now_s if finish is None else min(finish, now_s)) for begin, finish in shifts]
    target_s = rule.cap_s(fasting=fasting) - rule.return_h * 3_600

    def count(at_s: float) -> float:
        return online_s(closed, at_s - DAY_S, at_s)

    if count(now_s) <= target_s:
        return now_s
    # Offline from now on, the count falls linearly between the moments a shift's start or end leaves
    # the window: find the segment where it crosses the target, then the exact point on it.
    breaks = sorted({edge + DAY_S for shift in closed for edge in shift if edge + DAY_S > now_s})
    before_s, before = now_s, count(now_s)
    for at_s in breaks:
        value = count(at_s)
        if value <= target_s:
            return before_s + (before - target_s) * (at_s - before_s) / (before - value)
        before_s, before = at_s, value
    return before_s  # unreachable: a day later the window holds nothing


def rest_until_s(shifts: Sequence[Shift], now_s: float, rule: HoursRule, *, fasting: bool) -> float:
    """When a driver who reaches the cap at ``now_s`` may drive again: ``rest_h`` later at least, and once
    there is ``return_h`` to drive (:func:`drivable_at_s`)."""
    return max(now_s + rule.rest_h * 3_600, drivable_at_s(shifts, now_s, rule, fasting=fasting))


def online_s_max_24(shifts: Sequence[Shift], end_s: float) -> float:
    """The most seconds online in any 24 hours up to ``end_s`` (open shifts run to ``end_s``)."""
    closed = [(begin, end_s if finish is None else min(finish, end_s)) for begin, finish in shifts]
    # The sliding count is piecewise linear: its maximum is where a window ends at a shift's end, or
    # starts at a shift's start.
    ends = {finish for _, finish in closed} | {min(begin + DAY_S, end_s) for begin, _ in closed} | {end_s}
    return max((online_s(closed, end - DAY_S, end) for end in ends), default=0.0)


def warning_due(left_s: float, rule: HoursRule) -> int | None:
    """The warning (minutes left) a driver with ``left_s`` seconds left should have had: the smallest
    threshold already reached, None before the first."""
    reached = [minutes for minutes in rule.warnings_min if left_s <= minutes * 60]
    return min(reached) if reached else None
