"""``sika bench dispatch`` as a user runs it: a real process, a throwaway redis-server, JSON on the last
line. Speeds are never asserted here (docs/benchmarks.md has them); agreement between Sika and Redis is
correctness, and is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_TIMEOUT_S = 300
_KEYS = {
    "sika_p50_us",
    "sika_p99_us",
    "redis_p50_us",
    "redis_p99_us",
    "sika_updates_per_s",
    "redis_pipelined_updates_per_s",
    "redis_single_updates_per_s",
    "drivers",
    "queries",
    "agreement",
    "live_search_p50_us",
    "live_sql_p50_us",
    "live_updates_per_s",
}


def sika(*args: str) -> subprocess.CompletedProcess[str]:
    # Without SIKA_REDIS_URL the bench starts (and removes) its own redis-server.
    env = {name: value for name, value in os.environ.items() if name != "SIKA_REDIS_URL"}
    return subprocess.run([sys.executable, "-m", "sika", *args], env=env, capture_output=True, text=True,
                          timeout=_TIMEOUT_S, check=False)


def test_bench_dispatch_prints_its_result_as_json_on_the_last_line() -> None:
    done = sika("bench", "dispatch", "--drivers", "2000", "--queries", "200", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) >= _KEYS
    assert (result["drivers"], result["queries"]) == (2_000, 200)
    # The live path ran through the rides service: every search, and one move of each driver.
    assert (result["live_drivers"], result["live_searches"], result["live_updates"]) == (2_000, 200, 2_000)
    assert result["live_sql_p50_us"] <= result["live_search_p50_us"]
    assert all(result[key] > 0 for key in _KEYS - {"agreement"})
    # Both sides name the same nearest drivers (up to Redis's 0.6 m geohash precision and ties).
    assert result["agreement"] == 1.0
    assert result["redis_index_agreement"] == 1.0
    assert isinstance(result["target_met"], bool)


def test_bench_dispatch_refuses_a_bad_argument_in_one_line() -> None:
    done = sika("bench", "dispatch", "--drivers", "0", "--json")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "--drivers must be between 1 and" in done.stderr
    assert "bench_invalid_argument" in done.stderr
