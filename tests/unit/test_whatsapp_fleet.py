"""``sika bench whatsapp``'s fleet waits for each worker to say its jobs run before the load starts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sika.bench.common import BenchError
from sika.bench.whatsapp_fleet import _WORKER_STARTED, _wait_for_line


def _process(log: Path, script: str) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    try:
        return subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()  # the child has its own copy


def test_it_returns_once_the_worker_logs_that_its_jobs_run(tmp_path: Path) -> None:
    log = tmp_path / "worker-0.log"
    line = _WORKER_STARTED.decode() + "sqlite"
    process = _process(log, f"import time; time.sleep(0.3); print('2026-12-06 INFO {line}', flush=True);"
                            " time.sleep(30)")
    try:
        _wait_for_line(process, log, _WORKER_STARTED, time.monotonic() + 20)
        assert line in log.read_text()
    finally:
        process.kill()
        process.wait()


def test_a_worker_that_exits_while_starting_fails_the_bench_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "worker-0.log"
    process = _process(log, "import sys; print('sika: the database is unreachable'); sys.exit(2)")
    with pytest.raises(BenchError, match="exited with 2 while starting: sika: the database") as caught:
        _wait_for_line(process, log, _WORKER_STARTED, time.monotonic() + 20)
    assert caught.value.code == "bench_server_failed"


def test_a_worker_that_never_says_it_runs_fails_the_bench_at_the_deadline(tmp_path: Path) -> None:
    log = tmp_path / "worker-0.log"
    process = _process(log, "import time; print('still importing', flush=True); time.sleep(30)")
    try:
        deadline = time.monotonic() + 20
        while b"still importing" not in log.read_bytes():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        with pytest.raises(BenchError, match=r"did not start in time: still importing"):
            _wait_for_line(process, log, _WORKER_STARTED, time.monotonic() + 1)
    finally:
        process.kill()
        process.wait()
