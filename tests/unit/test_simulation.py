"""The city simulator: deterministic, sane, and never gives a driver two trips at once."""

from __future__ import annotations

import math

import pytest

from sika.rides.cities import DEFAULT_CITIES, Area, City, city_by_id
from sika.rides.demand import DAILY_PROFILE, DemandModel
from sika.rides.simulation import (
    InvalidSimulation,
    SimulationConfig,
    SimulationResult,
    simulate,
    trips_held_max,
    wait_by_hour,
)

LOME = city_by_id(DEFAULT_CITIES, "lome")
# A small town, 4 km by 4 km: a few drivers, a busy hour, quick runs.
TOWN = City(id="town", name="Town", country="TG", timezone="Africa/Lome",
            area=Area(lat_min=6.00, lat_max=6.036, lng_min=1.00, lng_max=1.036),
            vehicles=LOME.vehicles)


def _town(**changes: object) -> SimulationConfig:
    base = {"city": TOWN, "drivers": 25, "requests_per_hour": 40.0, "hours": 2.0, "seed": 7}
    return SimulationConfig(**{**base, **changes})  # type: ignore[arg-type]


def _assert_sane(result: SimulationResult) -> None:
    assert result.requests > 0
    assert result.requests == result.completed + sum(result.cancellations.values())
    assert 0.0 <= result.completed_ratio <= 1.0
    assert 0.0 <= result.driver_utilization <= 1.0
    assert len(result.pickups) == result.completed
    wait = result.wait_s()
    assert wait["mean"] is not None and wait["p50"] is not None
    assert wait["p90"] is not None and wait["p99"] is not None
    assert 0.0 <= wait["p50"] <= wait["p90"] <= wait["p99"]
    waits = [pickup.wait_s for pickup in result.pickups]
    assert min(waits) <= wait["mean"] <= max(waits)
    for pickup in result.pickups:
        assert pickup.requested_s <= pickup.assigned_s <= pickup.arrived_s
    assert result.trips_held_max == 1
    document = result.as_json()
    for key in ("wait_s_mean", "wait_s_p50", "wait_s_p90", "wait_s_p99", "completed_ratio",
                "driver_utilization", "requests", "completed", "policy", "city", "seed", "drivers", "hours"):
        assert key in document


def test_the_same_seed_gives_the_same_run_twice() -> None:
    first, second = simulate(_town()), simulate(_town())
    assert first.as_json() == second.as_json()
    assert first.pickups == second.pickups


def test_different_seeds_give_different_runs() -> None:
    first, second = simulate(_town(seed=1)), simulate(_town(seed=2))
    assert first.pickups != second.pickups
    assert first.as_json() != second.as_json()


@pytest.mark.parametrize("policy", ["greedy", "batch"])
def test_a_small_town_runs_with_sane_metrics_under_each_policy(policy: str) -> None:
    result = simulate(_town(policy=policy))
    _assert_sane(result)
    assert result.completed_ratio > 0.5
    assert result.offers >= result.offers_accepted >= result.completed


@pytest.mark.parametrize("policy", ["greedy", "batch"])
def test_no_driver_ever_holds_two_trips_even_when_riders_far_outnumber_drivers(policy: str) -> None:
    # 3 drivers for 120 requests an hour: most riders give up, every driver is always busy.
    result = simulate(_town(policy=policy, drivers=3, requests_per_hour=120.0, hours=1.0))
    _assert_sane(result)
    assert result.cancellations  # the audit ran on a saturated town, not an idle one
    assert result.driver_utilization > 0.5


def test_the_audit_counts_overlapping_trips_and_not_back_to_back_ones() -> None:
    assert trips_held_max([]) == 0
    assert trips_held_max([(0.0, 10.0), (10.0, 20.0), (30.0, 40.0)]) == 1
    assert trips_held_max([(0.0, 10.0), (5.0, 20.0)]) == 2


def test_both_policies_serve_the_same_riders_for_the_same_seed() -> None:
    greedy, batch = simulate(_town(policy="greedy")), simulate(_town(policy="batch"))
    assert greedy.requests == batch.requests
    assert greedy.completed > 0 and batch.completed > 0
    assert greedy.as_json() != batch.as_json()


def test_riders_arrive_at_the_requested_rate_over_a_day() -> None:
    assert math.isclose(sum(DAILY_PROFILE) / 24, 1.0)
    result = simulate(SimulationConfig(city=TOWN, drivers=10, requests_per_hour=20.0, hours=24.0, seed=3))
    assert 0.9 * 480 <= result.requests <= 1.1 * 480
    by_hour = {hour: riders for hour, _, riders in wait_by_hour(result)}
    # Starting at 06:00: the 07:00 peak is busier than the 03:00 lull.
    assert by_hour.get(1, 0) > by_hour.get(21, 0)


def test_trips_start_and_end_inside_the_service_area() -> None:
    import numpy as np

    demand = DemandModel(area=LOME.area, detour_factor=1.3, requests_per_hour=100.0, start_hour=6.0)
    rng = np.random.default_rng(5)
    for _ in range(200):
        pickup = demand.pickup(rng)
        dropoff = demand.dropoff(pickup, rng)
        assert LOME.area.contains(pickup.lat, pickup.lng)
        assert LOME.area.contains(dropoff.lat, dropoff.lng)


@pytest.mark.parametrize(
    "changes",
    [{"policy": "fastest"}, {"drivers": 0}, {"hours": 0.0}, {"requests_per_hour": -1.0},
     {"update_interval_s": 45.0}, {"response_s_max": 30.0}, {"accept_probability": 0.0}],
)
def test_a_bad_configuration_is_refused_before_the_run(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidSimulation) as caught:
        simulate(_town(**changes))
    assert caught.value.code == "invalid_simulation"


def test_the_commands_help_states_the_calibrated_defaults() -> None:
    import typing

    from sika.cli.simulate import rides_command
    from sika.rides.simulation import DRIVERS_DEFAULT, REQUESTS_PER_HOUR_DEFAULT

    hints = typing.get_type_hints(rides_command, include_extras=True)
    assert f"default {DRIVERS_DEFAULT}," in hints["drivers"].__metadata__[0].help
    assert f"default {REQUESTS_PER_HOUR_DEFAULT:g}," in hints["requests_per_hour"].__metadata__[0].help
