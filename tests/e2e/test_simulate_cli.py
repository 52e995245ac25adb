"""``sika simulate rides`` as a user runs it: a real process, its exit code, stdout, stderr and files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_TIMEOUT_S = 60
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sika(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sika", *args], capture_output=True, text=True,
                          timeout=_TIMEOUT_S, check=False, cwd=cwd)


def test_an_hour_of_lome_prints_a_summary_then_json_and_writes_a_png(tmp_path: Path) -> None:
    plot = tmp_path / "w.png"
    done = sika("simulate", "rides", "--hours", "1", "--drivers", "50", "--requests-per-hour", "100",
                "--seed", "1", "--json", "--plot", str(plot), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    for key in ("wait_s_mean", "wait_s_p50", "wait_s_p90", "wait_s_p99", "completed_ratio",
                "driver_utilization", "requests", "completed", "policy", "city", "seed", "drivers", "hours"):
        assert key in result
    assert (result["city"], result["policy"], result["seed"], result["drivers"]) == ("lome", "greedy", 1, 50)
    assert 0 <= result["completed_ratio"] <= 1 and 0 <= result["driver_utilization"] <= 1
    assert result["wait_s_p50"] <= result["wait_s_p90"] <= result["wait_s_p99"]
    assert "completed_ratio" in "\n".join(lines[:-1])  # the readable table comes first
    assert plot.read_bytes().startswith(_PNG_SIGNATURE)


def test_an_unknown_city_fails_with_one_line_on_stderr(tmp_path: Path) -> None:
    done = sika("simulate", "rides", "--city", "atlantis", "--hours", "1", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0
    assert "unknown_city" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_option_fails_with_one_line_before_any_work(tmp_path: Path) -> None:
    done = sika("simulate", "rides", "--policy", "fastest", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "invalid_simulation" in done.stderr


def test_a_ramadan_day_with_the_hours_rule_reports_the_longest_time_online(tmp_path: Path) -> None:
    done = sika("simulate", "rides", "--profile", "ramadan", "--fatigue", "on", "--hours", "14",
                "--drivers", "40", "--requests-per-hour", "30", "--start-hour", "16", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["profile"], result["fatigue"], result["day"]) == ("ramadan", True, "2026-03-01")
    assert 11 < result["driver_online_h_max"] <= 12


def test_fatigue_is_on_or_off(tmp_path: Path) -> None:
    done = sika("simulate", "rides", "--fatigue", "maybe", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "")
    assert "--fatigue is on or off, not 'maybe' [invalid_simulation]" in done.stderr
