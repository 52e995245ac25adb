"""What processes share to scale out: job leases (in the database, or in Redis) and the pacing of
WhatsApp sends (in Redis). Two holders or two paces stand for two processes."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from sika.chat.whatsapp.graph import TokenBucket
from sika.coordination.leases import DatabaseLeases, RedisLeases
from sika.coordination.pacing import RedisPace
from sika.devservers import temporary_redis
from sika.workers import Job, WorkerRunner
from sika.workers.runner import leased

_NS = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now_ns = 1_800_000_000 * _NS

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with temporary_redis() as url:
        yield url


def test_a_lease_is_held_by_one_process_until_it_expires(engine: Engine) -> None:
    clock = Clock()
    first = DatabaseLeases(engine, holder="worker-1", clock_ns=clock)
    second = DatabaseLeases(engine, holder="worker-2", clock_ns=clock)
    assert first.hold("job:ride-dispatch", 5)
    assert not second.hold("job:ride-dispatch", 5)
    clock.now_ns += 4 * _NS
    assert first.hold("job:ride-dispatch", 5)  # renewed: five more seconds from now
    clock.now_ns += 4 * _NS
    assert not second.hold("job:ride-dispatch", 5)
    clock.now_ns += 2 * _NS  # the first one stopped renewing: its lease has run out
    assert second.hold("job:ride-dispatch", 5)
    assert not first.hold("job:ride-dispatch", 5)


def test_a_released_lease_goes_to_the_next_process_at_once(engine: Engine) -> None:
    first = DatabaseLeases(engine, holder="worker-1")
    second = DatabaseLeases(engine, holder="worker-2")
    assert first.hold("job:ledger-expiry", 30)
    second.release("job:ledger-expiry")  # not its lease: nothing happens
    assert not second.hold("job:ledger-expiry", 30)
    first.release("job:ledger-expiry")
    assert second.hold("job:ledger-expiry", 30)
    assert first.hold("job:other", 30)  # leases are per job


def test_redis_leases_are_held_by_one_process_and_released_by_it(redis_url: str) -> None:
    first = RedisLeases(redis_url, holder="worker-1", prefix="test:lease:")
    second = RedisLeases(redis_url, holder="worker-2", prefix="test:lease:")
    try:
        assert first.hold("job:ride-dispatch", 0.3)
        assert not second.hold("job:ride-dispatch", 0.3)
        assert first.hold("job:ride-dispatch", 0.3)
        time.sleep(0.4)  # not renewed: Redis lets the key expire
        assert second.hold("job:ride-dispatch", 30)
        first.release("job:ride-dispatch")
        assert not first.hold("job:ride-dispatch", 30)
        second.release("job:ride-dispatch")
        assert first.hold("job:ride-dispatch", 30)
    finally:
        first.close()
        second.close()


def test_a_leased_job_runs_in_one_of_two_workers(engine: Engine) -> None:
    runs = {"worker-1": 0, "worker-2": 0}
    lock = threading.Lock()

    def job_of(name: str) -> Job:
        def run() -> int:
            with lock:
                runs[name] += 1
            return 0

        job = Job(name="ride-dispatch", interval_s=0.01, run=run)
        return leased(job, DatabaseLeases(engine, holder=name))

    runners = [WorkerRunner([job_of(name)]) for name in runs]
    for runner in runners:
        runner.start()
    deadline = time.monotonic() + 10
    while sum(runs.values()) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    for runner in runners:
        runner.stop()
    assert sum(runs.values()) >= 20
    assert 0 in runs.values(), runs  # the other worker never ran it


def test_two_processes_sending_for_one_number_share_its_pace(redis_url: str) -> None:
    rate_per_s = 50.0
    paces = [RedisPace(redis_url, "test:pace:one", rate_per_s, 1, local=TokenBucket(rate_per_s, 1),
                       sleep=lambda _s: None) for _ in range(2)]
    try:
        began = time.monotonic()
        slots = []
        for turn in range(10):
            wait_s = paces[turn % 2].take()  # the two processes take turns
            slots.append(time.monotonic() - began + wait_s)
    finally:
        for pace in paces:
            pace.close()
    # Each send's slot comes one interval after the previous one, whichever process took it.
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert all(abs(gap - 1 / rate_per_s) < 0.015 for gap in gaps), gaps


def test_without_redis_a_process_paces_itself() -> None:
    waits: list[float] = []
    local = TokenBucket(10.0, 1, sleep=waits.append)
    pace = RedisPace("redis://127.0.0.1:1/0", "test:pace:none", 10.0, 1, local=local, timeout_s=0.2)
    try:
        pace.take()
        pace.take()
    finally:
        pace.close()
    assert len(waits) == 1 and waits[0] > 0  # the second send waited for the local bucket
