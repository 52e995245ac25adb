"""The job runner: a job's threads run side by side, a full batch runs again at once, stop stops."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from sika.own_connections import kept_by_pool
from sika.workers import Job, WorkerRunner


def test_a_job_with_two_threads_runs_twice_at_once_and_stops() -> None:
    both_in = threading.Barrier(2, timeout=5)
    names: set[str] = set()

    def run() -> int:
        name = threading.current_thread().name
        if name not in names:
            names.add(name)
            both_in.wait()  # only passes when the two threads are in the job together
        return 0

    runner = WorkerRunner([Job(name="inbox", interval_s=0.01, run=run, threads=2)])
    runner.start()
    try:
        while both_in.n_waiting or len(names) < 2:
            threading.Event().wait(0.01)
    finally:
        runner.stop()
    assert names == {"job-inbox-1", "job-inbox-2"} and not both_in.broken


def test_a_full_batch_runs_again_without_waiting() -> None:
    calls = threading.Semaphore(0)

    def run() -> int:
        calls.release()
        return 10

    runner = WorkerRunner([Job(name="busy", interval_s=3_600, run=run, batch_max=10)])
    runner.start()
    try:
        for _ in range(3):  # an hour's interval, yet three calls
            assert calls.acquire(timeout=5)
    finally:
        runner.stop()


def test_only_a_job_that_keeps_its_connection_runs_within_kept_connections() -> None:
    seen: dict[str, bool] = {}
    done = threading.Event()

    def run_as(name: str) -> Callable[[], int]:
        def run() -> int:
            seen[name] = kept_by_pool() is not None
            if len(seen) == 2:
                done.set()
            return 0
        return run

    runner = WorkerRunner([Job(name="hot", interval_s=3_600, run=run_as("hot"), keeps_connection=True),
                           Job(name="cold", interval_s=3_600, run=run_as("cold"))])
    runner.start()
    try:
        assert done.wait(5)
    finally:
        runner.stop()
    assert seen == {"hot": True, "cold": False}


@pytest.mark.parametrize("threads", [0, 17])
def test_threads_are_bounded(threads: int) -> None:
    with pytest.raises(AssertionError):
        Job(name="x", interval_s=1, run=lambda: 0, threads=threads)


def test_a_worker_process_loads_no_web_framework() -> None:
    # A fresh interpreter: this test process has FastAPI loaded already by other tests.
    probe = "import sys, sika.workers.runner; print(sorted({'fastapi', 'starlette'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            timeout=60)
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
