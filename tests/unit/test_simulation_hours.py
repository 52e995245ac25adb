"""A Ramadan day in the simulator: its demand, the drivers' hours rule kept, and the hours arithmetic both
the simulator and the live service count with."""

from __future__ import annotations

import pytest

from sika.rides.cities import DEFAULT_CITIES, Area, City, city_by_id
from sika.rides.demand import DAILY_PROFILE, RAMADAN_PROFILE
from sika.rides.dispatch import DriverState, TripFacts, Verdict, verdict
from sika.rides.hours import HoursRule, drivable_at_s, online_s_24, online_s_max_24, rest_until_s, warning_due
from sika.rides.simulation import InvalidSimulation, SimulationConfig, simulate

LOME = city_by_id(DEFAULT_CITIES, "lome")
TOWN = City(id="town", name="Town", country="TG", timezone="Africa/Lome",
            area=Area(lat_min=6.00, lat_max=6.036, lng_min=1.00, lng_max=1.036),
            vehicles=LOME.vehicles)
H = 3_600.0
RULE = HoursRule()


def _day(**changes: object) -> SimulationConfig:
    base = {"city": TOWN, "drivers": 30, "requests_per_hour": 30.0, "hours": 24.0, "seed": 5,
            "profile": "ramadan"}
    return SimulationConfig(**{**base, **changes})  # type: ignore[arg-type]


def test_a_simulated_ramadan_day_with_the_hours_rule_keeps_every_driver_within_twelve_hours() -> None:
    ruled = simulate(_day(fatigue=True))
    assert 11.0 < ruled.driver_online_h_max <= 12.0
    assert ruled.as_json()["driver_online_h_max"] <= 12.0
    assert ruled.completed > 0 and ruled.trips_held_max == 1
    unruled = simulate(_day(fatigue=False))
    assert unruled.driver_online_h_max == 24.0  # without the rule every driver drives all day
    assert unruled.as_json()["fatigue"] is False and ruled.as_json()["profile"] == "ramadan"


def test_a_ramadan_day_is_quiet_by_day_with_a_peak_before_iftar_and_late_at_night() -> None:
    assert sum(RAMADAN_PROFILE) == pytest.approx(24.0)
    assert max(range(24), key=lambda hour: RAMADAN_PROFILE[hour]) == 17  # the hour before Maghrib
    assert RAMADAN_PROFILE[18] < 0.5  # iftar itself
    assert min(RAMADAN_PROFILE[21], RAMADAN_PROFILE[22]) > 1.5  # the night out
    assert sum(RAMADAN_PROFILE[9:15]) < 0.75 * sum(DAILY_PROFILE[9:15])  # people fast, stay in


def test_an_unknown_profile_is_refused_before_the_run() -> None:
    with pytest.raises(InvalidSimulation, match="profile must be one of normal, ramadan"):
        simulate(_day(profile="eid"))


def test_hours_count_over_a_sliding_day() -> None:
    shifts = [(0.0, 6 * H), (10 * H, None)]
    assert online_s_24(shifts, 16 * H) == 12 * H
    assert online_s_24(shifts, 27 * H) == 20 * H  # from 03:00: 3 h of the first shift, 17 h of the second
    assert online_s_max_24([(0.0, 12 * H), (18 * H, 30 * H)], 40 * H) == 18 * H  # 06:00 to 06:00
    assert online_s_max_24([(0.0, 12 * H), (25 * H, 37 * H)], 40 * H) == 12 * H


def test_the_rest_lasts_six_hours_at_least_and_until_an_hour_is_left_to_drive() -> None:
    straight = [(0.0, 12 * H)]
    assert drivable_at_s(straight, 12 * H, RULE, fasting=False) == 25 * H
    assert rest_until_s(straight, 12 * H, RULE, fasting=False) == 25 * H
    split = [(0.0, 2 * H), (10 * H, 20 * H)]
    assert rest_until_s(split, 20 * H, RULE, fasting=False) == 26 * H
    assert warning_due(2 * H + 1, RULE) is None
    assert [warning_due(s, RULE) for s in (2 * H, 1.5 * H, H, 0.5 * H, 0.0)] == [120, 120, 60, 30, 30]


def test_the_decision_skips_busy_offered_capped_resting_and_fasting_drivers_on_long_trips_before_iftar(
) -> None:
    long_trip = TripFacts(route_m=7_000, route_s=1_000, pickup_s_max=1_000, before_iftar=True)
    short_trip = TripFacts(route_m=3_000, route_s=500, pickup_s_max=1_000, before_iftar=True)
    assert verdict(DriverState(), long_trip, RULE) is Verdict.OFFER
    assert verdict(DriverState(busy=True), long_trip, RULE) is Verdict.BUSY
    assert verdict(DriverState(offered=True), long_trip, RULE) is Verdict.OFFERED
    assert verdict(DriverState(resting=True), long_trip, RULE) is Verdict.RESTING
    assert verdict(DriverState(online_s_24=12 * H - 2_001), long_trip, RULE) is Verdict.OFFER
    assert verdict(DriverState(online_s_24=12 * H - 1_999), long_trip, RULE) is Verdict.CAPPED
    assert verdict(DriverState(fasting=True), long_trip, RULE) is Verdict.IFTAR
    assert verdict(DriverState(fasting=True), short_trip, RULE) is Verdict.OFFER
    assert verdict(DriverState(fasting=True, online_s_24=8 * H - 1_400), short_trip, RULE) is Verdict.CAPPED
