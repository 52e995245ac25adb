"""Fares at their boundaries and the trip state machine's legal and illegal moves."""

from __future__ import annotations

import pytest

from sika.rides.cities import DEFAULT_CITIES, city_by_id
from sika.rides.fares import FarePolicy, round_up
from sika.rides.trips import TRANSITIONS, Event, IllegalTransition, TripStatus, next_status

POLICY = FarePolicy(base=150, per_km=100, per_min=10, minimum=300, night_surcharge_bp=2_000)


def test_a_short_trip_costs_the_minimum() -> None:
    assert POLICY.price(distance_m=100, duration_s=30, local_hour=12) == 300


def test_fares_round_up_to_25_francs() -> None:
    # 150 + 2.345 km x 100 + 7 min x 10 = 454.5 -> 475
    assert POLICY.price(distance_m=2_345, duration_s=420, local_hour=12) == 475
    assert POLICY.price(distance_m=2_000, duration_s=600, local_hour=12) == 450  # exactly 450: no rounding
    assert round_up(451, 25) == 475 and round_up(450, 25) == 450 and round_up(0, 25) == 0


@pytest.mark.parametrize(("hour", "night"), [(21, False), (22, True), (23, True), (0, True), (4, True),
                                             (5, False), (12, False)])
def test_the_night_starts_at_22_and_ends_at_5(hour: int, night: bool) -> None:
    assert POLICY.is_night(hour) is night
    day = POLICY.price(distance_m=5_000, duration_s=900, local_hour=12)
    assert POLICY.price(distance_m=5_000, duration_s=900, local_hour=hour) == (
        round_up(-(-((150 + 500 + 150) * 12_000) // 10_000), 25) if night else day)


def test_the_minimum_applies_after_the_night_surcharge() -> None:
    assert POLICY.price(distance_m=0, duration_s=0, local_hour=23) == 300


def test_a_minimum_that_is_not_a_rounding_multiple_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple"):
        FarePolicy(base=0, per_km=0, per_min=0, minimum=310)


def test_commission_never_takes_more_than_its_share() -> None:
    assert POLICY.commission(475) == 71  # 15 % rounded down
    assert POLICY.commission(0) == 0


def test_lome_is_in_utc_and_cotonou_an_hour_ahead() -> None:
    noon_utc = 1_700_049_600  # 2023-11-15 12:00 UTC
    assert city_by_id(DEFAULT_CITIES, "lome").local_hour(noon_utc) == 12
    assert city_by_id(DEFAULT_CITIES, "cotonou").local_hour(noon_utc) == 13


@pytest.mark.parametrize(("status", "event", "target"), sorted(
    ((s, e, t) for (s, e), t in TRANSITIONS.items()), key=str))
def test_legal_transitions(status: TripStatus, event: Event, target: TripStatus) -> None:
    assert next_status(status, event) is target


@pytest.mark.parametrize(("status", "event"), [
    (s, e) for s in TripStatus for e in Event if (s, e) not in TRANSITIONS])
def test_every_other_transition_is_illegal(status: TripStatus, event: Event) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_status(status, event)
    assert caught.value.code == "illegal_transition"


def test_final_states_go_nowhere() -> None:
    finals = {s for s in TripStatus if s.final}
    assert finals == {TripStatus.COMPLETED, TripStatus.CANCELLED, TripStatus.NO_DRIVER_FOUND}
    assert not [key for key in TRANSITIONS if key[0] in finals]
