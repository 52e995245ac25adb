"""Points, great-circle distances, bearings and travel times (sika.rides.geo)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sika.rides.geo import (
    EARTH_RADIUS_M,
    BBox,
    InvalidPoint,
    Point,
    Router,
    StraightLineRouter,
    bearing_deg,
    destination,
    haversine_m,
    random_point_in,
)

LOME = Point(6.13083, 1.21528)  # city hall
KARA = Point(9.5511, 1.1861)
COTONOU = Point(6.3703, 2.3912)

# Anywhere a moto-taxi may run: away from the poles, where bearings lose their meaning.
points = st.builds(
    Point,
    lat=st.floats(min_value=-80, max_value=80, allow_nan=False),
    lng=st.floats(min_value=-180, max_value=180, allow_nan=False),
)


def test_lome_to_kara_is_about_380_km_as_the_crow_flies() -> None:
    # Kara lies almost due north of Lomé, 3.42 degrees of latitude away (the road is about 410 km).
    assert haversine_m(LOME, KARA) == pytest.approx(380_000, rel=0.01)


def test_lome_to_cotonou_is_about_134_km() -> None:
    assert haversine_m(LOME, COTONOU) == pytest.approx(134_000, rel=0.01)


def test_known_distances_on_the_sphere() -> None:
    one_degree_m = EARTH_RADIUS_M * math.pi / 180
    assert haversine_m(Point(0, 0), Point(1, 0)) == pytest.approx(one_degree_m, rel=1e-12)
    assert haversine_m(Point(0, 0), Point(0, 90)) == pytest.approx(EARTH_RADIUS_M * math.pi / 2, rel=1e-12)
    assert haversine_m(Point(0, 0), Point(0, 180)) == pytest.approx(EARTH_RADIUS_M * math.pi, rel=1e-12)
    assert haversine_m(Point(90, 0), Point(-90, 0)) == pytest.approx(EARTH_RADIUS_M * math.pi, rel=1e-12)
    assert haversine_m(LOME, LOME) == 0.0


@given(points, points)
def test_haversine_is_symmetric_and_at_most_half_the_circumference(a: Point, b: Point) -> None:
    assert haversine_m(a, b) == pytest.approx(haversine_m(b, a), abs=1e-6)
    assert 0.0 <= haversine_m(a, b) <= EARTH_RADIUS_M * math.pi + 1e-6


def test_bearings_point_the_way() -> None:
    assert bearing_deg(Point(0, 0), Point(1, 0)) == pytest.approx(0.0)
    assert bearing_deg(Point(0, 0), Point(0, 1)) == pytest.approx(90.0)
    assert bearing_deg(Point(0, 0), Point(-1, 0)) == pytest.approx(180.0)
    assert bearing_deg(Point(0, 0), Point(0, -1)) == pytest.approx(270.0)
    assert bearing_deg(LOME, KARA) == pytest.approx(359.5, abs=0.1)  # a touch west of north


@given(
    points,
    st.floats(min_value=0, max_value=360, exclude_max=True),
    st.floats(min_value=1, max_value=50_000),
)
def test_destination_goes_the_distance_in_the_direction_asked(
    start: Point, bearing: float, distance_m: float
) -> None:
    end = destination(start, bearing, distance_m)
    assert haversine_m(start, end) == pytest.approx(distance_m, rel=1e-9, abs=1e-6)
    turned = (bearing_deg(start, end) - bearing + 180) % 360 - 180
    assert abs(turned) < 1e-5


@given(points, st.floats(min_value=0, max_value=360), st.floats(min_value=0, max_value=20_000))
def test_going_there_and_back_returns_to_the_start(start: Point, bearing: float, distance_m: float) -> None:
    there = destination(start, bearing, distance_m)
    back = destination(there, bearing_deg(there, start), distance_m)
    assert haversine_m(start, back) < 1e-3


def test_destination_wraps_across_the_antimeridian() -> None:
    end = destination(Point(0, 179.9), 90, 30_000)
    assert -180 <= end.lng < -179.5


@pytest.mark.parametrize(
    ("lat", "lng"), [(90.5, 0), (-91, 0), (0, 180.1), (0, -181), (math.nan, 0), (0, math.inf)]
)
def test_a_point_out_of_range_is_refused_with_a_stable_code(lat: float, lng: float) -> None:
    with pytest.raises(InvalidPoint) as raised:
        Point(lat, lng)
    assert raised.value.code == "invalid_point"
    assert isinstance(raised.value, ValueError)


def test_a_box_must_be_ordered() -> None:
    with pytest.raises(InvalidPoint):
        BBox(south=6.3, west=1.1, north=6.1, east=1.35)
    assert BBox(south=6.1, west=1.1, north=6.3, east=1.35).contains(LOME)


def test_random_points_fall_in_the_box_and_follow_the_seed() -> None:
    box = BBox(south=6.12, west=1.15, north=6.30, east=1.35)
    drawn = [random_point_in(box, random.Random(7)) for _ in range(3)]
    assert drawn[0] == drawn[1] == drawn[2]
    rng = random.Random(1)
    assert all(box.contains(random_point_in(box, rng)) for _ in range(1_000))


def test_the_straight_line_router_adds_the_detour_and_divides_by_the_speed() -> None:
    router: Router = StraightLineRouter()  # the protocol any routing engine implements
    a, b = Point(6.13, 1.21), destination(Point(6.13, 1.21), 45, 1_000)
    assert router.distance_m(a, b) == pytest.approx(1_300)
    # 1.3 km at 20 km/h (5.56 m/s) is 234 s.
    assert router.eta_s(a, b, speed_kmh=20) == pytest.approx(234)
    assert StraightLineRouter(detour_factor=1.0).eta_s(a, b, 36) == pytest.approx(100)


@pytest.mark.parametrize("speed_kmh", [0, -5, math.nan, 1_000])
def test_the_router_refuses_an_impossible_speed(speed_kmh: float) -> None:
    with pytest.raises(ValueError, match="speed_kmh"):
        StraightLineRouter().eta_s(LOME, KARA, speed_kmh)


def test_the_detour_factor_is_bounded() -> None:
    with pytest.raises(ValueError, match="detour_factor"):
        StraightLineRouter(detour_factor=0.9)
