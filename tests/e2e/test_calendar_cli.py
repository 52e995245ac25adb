"""``sika calendar`` as an operator runs it: a real process, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_TIMEOUT_S = 60


def sika(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sika", *args], capture_output=True, text=True,
                          timeout=_TIMEOUT_S, check=False, cwd=cwd, env={**os.environ, **(env or {})})


def test_prayers_prints_lome_times_as_a_table_and_as_json(tmp_path: Path) -> None:
    table = sika("calendar", "prayers", "--city", "lome", "--date", "2026-03-01", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "Lomé" in table.stdout and "maghrib" in table.stdout
    assert "18:07" in table.stdout and "day 12" in table.stdout  # Maghrib on the 12th day of Ramadan

    done = sika("calendar", "prayers", "--city", "lome", "--date", "2026-03-01", "--days", "2", "--json",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["city"], result["timezone"], result["method"]) == (
        "lome", "Africa/Lome", "muslim_world_league")
    first, second = result["days"]
    assert first["maghrib"] == "2026-03-01T18:07:00+00:00" and first["ramadan_day"] == 12
    assert second["date"] == "2026-03-02"


def test_ramadan_follows_the_table_until_togo_announces_its_start(tmp_path: Path) -> None:
    table = sika("calendar", "ramadan", "--year", "2026", "--json", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    seasons = {s["city"]: s for s in json.loads(table.stdout)["seasons"]}
    assert set(seasons) == {"lome", "kara", "cotonou", "ouagadougou", "bamako"}
    assert (seasons["lome"]["first"], seasons["lome"]["last"], seasons["lome"]["source"]) == (
        "2026-02-18", "2026-03-19", "umm_al_qura")

    announced = {"SIKA_RAMADAN": '[{"hijri_year": 1447, "start": "2026-02-19", "country": "TG"}]'}
    done = sika("calendar", "ramadan", "--year", "2026", "--city", "kara", cwd=tmp_path, env=announced)
    assert done.returncode == 0, done.stderr
    assert "2026-02-19" in done.stdout and "announced (country:TG)" in done.stdout


def test_window_says_when_a_held_message_may_go(tmp_path: Path) -> None:
    window = '{"start": "maghrib-10min", "end": "isha+15min", "days": "ramadan"}'
    done = sika("calendar", "window", window, "--city", "lome", "--at", "2026-03-01T18:30+00:00", "--json",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["open"] is True
    assert result["next_change"] == {
        "at": "2026-03-01T19:28:00+00:00", "opens": False, "anchor": "isha+15min"}
    assert result["occurrences"][0]["start"] == "2026-03-01T17:57:00+00:00"

    table = sika("calendar", "window", window, "--at", "2026-03-01T18:30+00:00", cwd=tmp_path)
    assert "closes at 2026-03-01 19:28 (isha+15min)" in table.stdout


def test_mistakes_fail_with_one_line_and_a_code(tmp_path: Path) -> None:
    for args, code in [
        (("calendar", "prayers", "--city", "atlantis"), "unknown_city"),
        (("calendar", "prayers", "--date", "2026-02-30"), "invalid_date"),
        (("calendar", "window", '{"start": "magrib", "end": "isha"}'), "invalid_window"),
        (("calendar", "window", '{"start": "maghrib", "end": "isha"}', "--at", "2026-03-01T18:30"),
         "invalid_date"),
    ]:
        done = sika(*args, cwd=tmp_path)
        assert done.returncode == 1, args
        assert done.stdout == ""
        assert done.stderr.strip().count("\n") == 0 and f"[{code}]" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_mistyped_announcement_in_the_environment_is_one_line_too(tmp_path: Path) -> None:
    wrong = {"SIKA_RAMADAN": '[{"hijri_year": 1447, "start": "2027-02-19", "country": "TG"}]'}
    done = sika("calendar", "ramadan", cwd=tmp_path, env=wrong)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "[configuration_error]" in done.stderr
    assert "more than 3 days away (wrong year?)" in done.stderr
