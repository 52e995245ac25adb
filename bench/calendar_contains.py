"""How long ``Schedule.contains`` takes: what a campaign window costs each payment.

    .venv/bin/python bench/calendar_contains.py [--n 200000]

Prints one JSON object: microseconds per call for a compiled schedule (what the hot path holds),
through ``Calendar.contains`` (schedule looked up by its windows each time), for a quiet profile of
six windows, and the cold cost of a day never asked before (prayer times computed). Numbers for
docs/calendar.md, never an assertion.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime, timedelta

from sika.calendar import Calendar, Prayer, parse_window, parse_windows
from sika.calendar.clock import compute_prayer_times
from sika.rides.cities import DEFAULT_CITIES


def _per_call_us(call: object, n: int) -> float:
    assert callable(call)
    started = time.perf_counter()
    for _ in range(n):
        call()
    return round((time.perf_counter() - started) / n * 1e6, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="calls per measurement")
    n = parser.parse_args().n
    calendar = Calendar(DEFAULT_CITIES)
    iftar = parse_window({"start": "maghrib-30min", "end": "maghrib+15min", "days": "ramadan"})
    quiet = parse_windows([{"start": f"{p.value}-10min", "end": f"{p.value}+20min"}
                           for p in Prayer if p is not Prayer.SUNRISE] + [{"start": "22:00", "end": "06:00"}])
    instant = datetime(2026, 3, 1, 17, 50, tzinfo=UTC)  # a Ramadan evening in Lomé
    schedule = calendar.schedule(iftar, "lome")
    profile = calendar.schedule(quiet, "lome")
    assert schedule.contains(instant) and not profile.contains(instant)
    moving = iter(instant + timedelta(seconds=s) for s in range(10**9))  # new instants, same day
    days = iter(date(2026, 1, 1) + timedelta(days=k % 3000) for k in range(10**9))
    place = calendar.place("lome")
    result = {
        "schedule_contains_us": _per_call_us(lambda: schedule.contains(instant), n),
        "schedule_contains_moving_instant_us": _per_call_us(lambda: schedule.contains(next(moving)), n),
        "calendar_contains_us": _per_call_us(lambda: calendar.contains(iftar, "lome", instant), n),
        "quiet_profile_6_windows_contains_us": _per_call_us(lambda: profile.contains(instant), n),
        "next_change_us": _per_call_us(lambda: schedule.next_change(instant), n // 100),
        "prayer_times_uncached_us": _per_call_us(
            lambda: compute_prayer_times(place, next(days)), n // 100),
    }
    result["n"] = n
    print(json.dumps(result))


if __name__ == "__main__":
    main()
