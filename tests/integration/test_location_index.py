"""Both location indexes against a brute-force reference: H3Index in the process, RedisGeoIndex on a
throwaway redis-server.

H3Index must give exactly the reference's answer (same ids, same order, same distances to a
micrometre). Redis stores positions as 52-bit geohashes (within 0.33 m of the truth), so its answers
are checked up to that: at every rank the driver it names is as far as the reference's, within
REDIS_TOLERANCE_M, and drivers that close to the radius may be in or out.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sika.devservers import free_port, temporary_redis
from sika.rides.geo import BBox, Point, destination, haversine_m, random_point_in
from sika.rides.index import (
    H3Index,
    InvalidLocationQuery,
    LocationIndex,
    LocationIndexUnavailable,
    RedisGeoIndex,
    location_index,
)

LOME = BBox(south=6.12, west=1.15, north=6.30, east=1.35)
# A few streets of Bè, so that random drivers crowd each other and the radius matters.
BE = BBox(south=6.13, west=1.22, north=6.16, east=1.25)
EXACT_M = 1e-6
REDIS_TOLERANCE_M = 1.0
KINDS = ["h3", "redis"]

_keys = itertools.count()

Reference = dict[int, tuple[Point, float]]  # driver id -> (position, last update)
MakeIndex = Callable[..., AbstractContextManager[LocationIndex]]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with temporary_redis() as url:
        yield url


@pytest.fixture(scope="session")
def make_index(redis_url: str) -> MakeIndex:
    """``make_index(kind, resolution=9)``: a fresh, empty index, closed (and its keys deleted) after."""

    @contextmanager
    def make(kind: str, resolution: int = 9) -> Iterator[LocationIndex]:
        if kind == "h3":
            yield H3Index(resolution)
            return
        index = RedisGeoIndex(redis_url, key=f"test:{next(_keys)}:drivers")
        try:
            yield index
        finally:
            index.clear()
            index.close()

    return make


def nearest_reference(
    drivers: Reference, query: Point, k: int, radius_m: float, fresh_after_s: float
) -> list[tuple[int, float]]:
    found = sorted(
        (haversine_m(query, point), driver_id)
        for driver_id, (point, at_s) in drivers.items()
        if at_s >= fresh_after_s
    )
    return [(driver_id, d) for d, driver_id in found if d <= radius_m][:k]


def assert_matches(
    kind: str,
    got: list[tuple[int, float]],
    drivers: Reference,
    query: Point,
    *,
    k: int,
    radius_m: float,
    fresh_after_s: float,
) -> None:
    if kind == "h3":
        expected = nearest_reference(drivers, query, k, radius_m, fresh_after_s)
        assert [driver for driver, _ in got] == [driver for driver, _ in expected]
        assert [d for _, d in got] == pytest.approx([d for _, d in expected], abs=EXACT_M)
        return
    tolerance = REDIS_TOLERANCE_M
    strict = nearest_reference(drivers, query, k, radius_m - tolerance, fresh_after_s)
    loose = nearest_reference(drivers, query, k, radius_m + tolerance, fresh_after_s)
    assert len(strict) <= len(got) <= len(loose), (got, strict, loose)
    assert len({driver for driver, _ in got}) == len(got)
    for rank, (driver, distance_m) in enumerate(got):
        point, at_s = drivers[driver]
        exact_m = haversine_m(query, point)
        assert at_s >= fresh_after_s
        assert distance_m == pytest.approx(exact_m, abs=tolerance)
        assert exact_m == pytest.approx(loose[rank][1], abs=tolerance), (rank, got, loose)


# Against the reference ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "resolution"), [("h3", 7), ("h3", 9), ("h3", 10), ("redis", 9)])
def test_a_city_of_drivers_gives_the_reference_answers(
    make_index: MakeIndex, kind: str, resolution: int
) -> None:
    rng = random.Random(resolution)
    drivers: Reference = {
        rng.randrange(10**9): (random_point_in(LOME, rng), rng.uniform(0, 100)) for _ in range(5_000)
    }
    with make_index(kind, resolution) as index:
        index.update_many((driver, point, at_s) for driver, (point, at_s) in drivers.items())
        assert len(index) == len(drivers)
        for _ in range(150):
            query = random_point_in(LOME, rng)
            k, radius_m = rng.choice([1, 3, 10, 50]), rng.choice([150.0, 500.0, 3_000.0])
            got = index.nearest(query, k=k, radius_m=radius_m, now_s=100, max_age_s=60)
            assert_matches(kind, got, drivers, query, k=k, radius_m=radius_m, fresh_after_s=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize("kind", KINDS)
def test_random_drivers_and_queries_give_the_reference_answers(
    make_index: MakeIndex, kind: str, data: st.DataObject
) -> None:
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    count = data.draw(st.integers(0, 300), label="drivers")
    resolution = data.draw(st.sampled_from([5, 8, 9, 11, 12]), label="resolution")
    # Some drivers share a position exactly: ties go to the smaller id, on both sides.
    spots = [random_point_in(BE, rng) for _ in range(max(1, count // 3))]
    drivers: Reference = {
        driver: (rng.choice(spots) if rng.random() < 0.2 else random_point_in(BE, rng), rng.uniform(0, 100))
        for driver in rng.sample(range(1_000_000), count)
    }
    with make_index(kind, resolution) as index:
        index.update_many((driver, point, at_s) for driver, (point, at_s) in drivers.items())
        for _ in range(5):
            query = data.draw(st.sampled_from(spots)) if rng.random() < 0.2 else random_point_in(BE, rng)
            k = data.draw(st.integers(1, 40))
            radius_m = data.draw(st.floats(10, 8_000))
            max_age_s = data.draw(st.floats(0, 120))
            got = index.nearest(query, k=k, radius_m=radius_m, now_s=100, max_age_s=max_age_s)
            assert len(got) <= k
            assert all(d <= radius_m + (REDIS_TOLERANCE_M if kind == "redis" else EXACT_M) for _, d in got)
            assert_matches(kind, got, drivers, query, k=k, radius_m=radius_m, fresh_after_s=100 - max_age_s)


def test_a_radius_too_wide_for_the_rings_scans_every_driver_and_stays_exact(make_index: MakeIndex) -> None:
    rng = random.Random(3)
    drivers: Reference = {d: (random_point_in(LOME, rng), 50.0) for d in range(400)}
    with make_index("h3", 12) as index:  # 9 m cells: 100 km is thousands of rings
        index.update_many((d, point, at_s) for d, (point, at_s) in drivers.items())
        far = Point(6.9, 1.6)  # about 90 km north-east of Lomé
        for _ in range(2):  # the scan must leave the index as it found it
            got = index.nearest(far, k=5, radius_m=100_000, now_s=60, max_age_s=60)
            assert_matches("h3", got, drivers, far, k=5, radius_m=100_000, fresh_after_s=0)
            assert len(got) == 5
        near = random_point_in(LOME, rng)
        got = index.nearest(near, k=5, radius_m=100, now_s=60, max_age_s=60)
        assert_matches("h3", got, drivers, near, k=5, radius_m=100, fresh_after_s=0)


# Behaviour ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_drivers_whose_last_update_is_too_old_drop_out(make_index: MakeIndex, kind: str) -> None:
    here = Point(6.1375, 1.2123)
    with make_index(kind) as index:
        index.update(1, destination(here, 0, 100), at_s=1_000)  # fresh, 100 m
        index.update(2, destination(here, 90, 50), at_s=900)  # 50 m, but last seen 100 s before now
        index.update(3, destination(here, 180, 200), at_s=941)  # 59 s old: still fresh
        got = index.nearest(here, k=10, radius_m=1_000, now_s=1_000, max_age_s=60)
        assert [driver for driver, _ in got] == [1, 3]
        # Driver 2 comes back online: fresh again.
        index.update(2, destination(here, 90, 50), at_s=1_000)
        got = index.nearest(here, k=10, radius_m=1_000, now_s=1_000, max_age_s=60)
        assert [driver for driver, _ in got] == [2, 1, 3]


@pytest.mark.parametrize("kind", KINDS)
def test_stale_drivers_crowding_the_nearest_do_not_hide_fresh_ones(make_index: MakeIndex, kind: str) -> None:
    here = Point(6.1375, 1.2123)
    with make_index(kind) as index:
        index.update_many((d, destination(here, d * 7 % 360, 5 + d), 0.0) for d in range(100))  # stale
        index.update_many((d, destination(here, d % 360, 500 + d), 100.0) for d in range(100, 110))
        got = index.nearest(here, k=5, radius_m=2_000, now_s=100, max_age_s=10)
        assert [driver for driver, _ in got] == [100, 101, 102, 103, 104]


@pytest.mark.parametrize("kind", KINDS)
def test_an_update_older_than_the_stored_one_is_ignored(make_index: MakeIndex, kind: str) -> None:
    first, late = Point(6.14, 1.21), Point(6.20, 1.30)
    with make_index(kind) as index:
        index.update(7, first, at_s=10)
        index.update(7, late, at_s=5)  # arrived after, sent before
        position = index.position(7)
        assert position is not None
        assert haversine_m(position, first) < REDIS_TOLERANCE_M
        assert index.nearest(late, k=1, radius_m=1_000, now_s=10, max_age_s=60) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_driver_who_moves_is_found_where_he_is_and_no_longer_where_he_was(
    make_index: MakeIndex, kind: str
) -> None:
    old, new = Point(6.14, 1.21), Point(6.25, 1.30)  # about 15 km apart
    with make_index(kind) as index:
        index.update(5, old, at_s=1)
        index.update(5, new, at_s=2)
        assert index.nearest(old, k=1, radius_m=3_000, now_s=2, max_age_s=60) == []
        [(driver, distance_m)] = index.nearest(new, k=1, radius_m=3_000, now_s=2, max_age_s=60)
        assert driver == 5
        assert distance_m < REDIS_TOLERANCE_M
        assert len(index) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_removed_drivers_are_forgotten(make_index: MakeIndex, kind: str) -> None:
    here = Point(6.1375, 1.2123)
    with make_index(kind) as index:
        index.update_many((d, destination(here, d * 36, 10 * d), 1.0) for d in range(1, 11))
        index.remove(3)
        index.remove(3)  # twice: nothing more happens
        index.remove(999)  # unknown: ignored
        assert len(index) == 9
        assert index.position(3) is None
        got = index.nearest(here, k=20, radius_m=1_000, now_s=1, max_age_s=60)
        assert [driver for driver, _ in got] == [1, 2, 4, 5, 6, 7, 8, 9, 10]
        # The freed slot is reused by the next driver, and holds only him.
        index.update(11, destination(here, 0, 35), 1.0)
        got = index.nearest(here, k=3, radius_m=1_000, now_s=1, max_age_s=60)
        assert [driver for driver, _ in got] == [1, 2, 11]


@pytest.mark.parametrize("kind", KINDS)
def test_the_radius_and_k_bound_the_answer(make_index: MakeIndex, kind: str) -> None:
    here = Point(6.1375, 1.2123)
    with make_index(kind) as index:
        index.update_many((d, destination(here, d * 13 % 360, 100 * d), 1.0) for d in range(1, 31))
        within = index.nearest(here, k=100, radius_m=1_050, now_s=1, max_age_s=60)
        assert [driver for driver, _ in within] == list(range(1, 11))
        assert all(distance_m <= 1_050 for _, distance_m in within)
        assert [d for d, _ in index.nearest(here, k=4, radius_m=5_000, now_s=1, max_age_s=60)] == [1, 2, 3, 4]
        assert index.nearest(here, k=4, radius_m=50, now_s=1, max_age_s=60) == []


@pytest.mark.parametrize("kind", KINDS)
def test_prune_forgets_stale_drivers_and_counts_them(make_index: MakeIndex, kind: str) -> None:
    here = Point(6.1375, 1.2123)
    with make_index(kind) as index:
        index.update_many((d, destination(here, d, d), float(d)) for d in range(1, 2_501))
        assert index.prune(now_s=2_500, max_age_s=1_000) == 1_499  # seen before 1,500 s
        assert len(index) == 1_001
        assert index.position(1_499) is None
        assert index.position(1_500) is not None
        assert index.prune(now_s=2_500, max_age_s=1_000) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_index_finds_nobody(make_index: MakeIndex, kind: str) -> None:
    with make_index(kind) as index:
        assert len(index) == 0
        assert index.nearest(Point(6.13, 1.21), k=10, radius_m=3_000, now_s=0, max_age_s=60) == []
        assert index.position(1) is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("k", "radius_m", "max_age_s"),
    [(0, 100.0, 60.0), (1_001, 100.0, 60.0), (1, 0.0, 60.0), (1, 200_000.0, 60.0), (1, 100.0, -1.0)],
)
def test_a_query_out_of_bounds_is_refused_with_a_stable_code(
    make_index: MakeIndex, kind: str, k: int, radius_m: float, max_age_s: float
) -> None:
    with make_index(kind) as index, pytest.raises(InvalidLocationQuery) as raised:
        index.nearest(Point(6.13, 1.21), k=k, radius_m=radius_m, now_s=0, max_age_s=max_age_s)
    assert raised.value.code == "invalid_location_query"


@pytest.mark.parametrize("kind", KINDS)
def test_an_update_without_a_finite_time_or_a_valid_id_is_refused(make_index: MakeIndex, kind: str) -> None:
    with make_index(kind) as index:
        for driver, at_s in [(1, float("nan")), (1, float("inf")), (-1, 0.0), (2**53, 0.0)]:
            with pytest.raises(InvalidLocationQuery):
                index.update(driver, Point(6.13, 1.21), at_s)
        assert len(index) == 0


def test_the_h3_index_is_consistent_under_concurrent_updates_and_searches() -> None:
    index = H3Index()
    here = Point(6.1375, 1.2123)
    errors: list[BaseException] = []

    def mover(first: int) -> None:
        rng = random.Random(first)
        try:
            for step in range(2_000):
                driver = first + rng.randrange(100)
                index.update(driver, destination(here, rng.uniform(0, 360), rng.uniform(0, 5_000)), step)
                if step % 10 == 0:
                    index.remove(first + rng.randrange(100))
        except BaseException as exc:
            errors.append(exc)

    def searcher() -> None:
        try:
            for _ in range(1_000):
                found = index.nearest(here, k=10, radius_m=5_000, now_s=2_000, max_age_s=10_000)
                assert [d for _, d in found] == sorted(d for _, d in found)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=mover, args=(n * 1_000,)) for n in range(3)]
    threads += [threading.Thread(target=searcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # Every known driver is found at his recorded position, and nobody else is.
    everyone = index.nearest(here, k=1_000, radius_m=6_000, now_s=2_000, max_age_s=10_000)
    assert len(everyone) == len(index)
    for driver, distance_m in everyone:
        position = index.position(driver)
        assert position is not None
        assert distance_m == pytest.approx(haversine_m(here, position), abs=EXACT_M)


def test_the_factory_keeps_the_index_in_process_without_a_redis_url(redis_url: str) -> None:
    assert isinstance(location_index(None), H3Index)
    shared = location_index(redis_url)
    try:
        assert isinstance(shared, RedisGeoIndex)
    finally:
        shared.close()


def test_an_unreachable_redis_is_reported_as_unavailable() -> None:
    index = RedisGeoIndex(f"redis://127.0.0.1:{free_port()}/0", timeout_s=1)
    try:
        with pytest.raises(LocationIndexUnavailable) as raised:
            index.update(1, Point(6.13, 1.21), 0)
        assert raised.value.code == "location_index_unavailable"
        assert "SIKA_REDIS_URL" in raised.value.message
    finally:
        index.close()


def test_a_password_never_appears_in_the_unavailable_message() -> None:
    index = RedisGeoIndex(f"redis://sika:s3cret@127.0.0.1:{free_port()}/0", timeout_s=1)
    try:
        with pytest.raises(LocationIndexUnavailable) as raised:
            len(index)
        assert "s3cret" not in raised.value.message
    finally:
        index.close()
