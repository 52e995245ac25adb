"""``sika bench ledger`` as a user runs it: a real process, JSON on the last line. Speeds are never
asserted here (docs/benchmarks.md has them); that every transfer went through, and the audit held, is.

pgledger itself is not part of Sika: the comparison runs here against a stand-in written for this
test, with the same SQL functions (``pgledger_create_account``, ``pgledger_create_transfer``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_TIMEOUT_S = 300
_KEYS = {"transfers_per_s", "backend", "batch", "clients", "floor_rows_per_s", "ratio_to_floor", "durable"}

_STAND_IN = """
CREATE TABLE pgledger_accounts (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, currency TEXT NOT NULL, balance NUMERIC NOT NULL DEFAULT 0,
    allow_negative_balance BOOLEAN NOT NULL, allow_positive_balance BOOLEAN NOT NULL
);
CREATE TABLE pgledger_transfers (
    id TEXT PRIMARY KEY, from_account_id TEXT NOT NULL, to_account_id TEXT NOT NULL, amount NUMERIC
);
CREATE SEQUENCE stand_in_ids;
CREATE FUNCTION pgledger_create_account(
    name TEXT, currency TEXT, allow_negative_balance BOOLEAN DEFAULT TRUE,
    allow_positive_balance BOOLEAN DEFAULT TRUE
) RETURNS TABLE (id TEXT) LANGUAGE sql AS $$
    INSERT INTO pgledger_accounts VALUES ('a' || nextval('stand_in_ids'), name, currency, 0,
        allow_negative_balance, allow_positive_balance) RETURNING pgledger_accounts.id
$$;
CREATE FUNCTION pgledger_create_transfer(source TEXT, target TEXT, amount NUMERIC)
RETURNS TABLE (id TEXT) LANGUAGE plpgsql AS $$
DECLARE new_balance NUMERIC; allowed BOOLEAN;
BEGIN
    PERFORM 1 FROM pgledger_accounts WHERE pgledger_accounts.id IN (source, target)
        ORDER BY pgledger_accounts.id FOR UPDATE;
    UPDATE pgledger_accounts SET balance = balance - amount WHERE pgledger_accounts.id = source
        RETURNING balance, allow_negative_balance INTO new_balance, allowed;
    IF NOT allowed AND new_balance < 0 THEN RAISE EXCEPTION 'negative balance'; END IF;
    UPDATE pgledger_accounts SET balance = balance + amount WHERE pgledger_accounts.id = target;
    RETURN QUERY INSERT INTO pgledger_transfers VALUES ('t' || nextval('stand_in_ids'), source, target,
        amount) RETURNING pgledger_transfers.id;
END $$;
"""


def sika(*args: str) -> subprocess.CompletedProcess[str]:
    # Without SIKA_DATABASE_URL a PostgreSQL run starts (and removes) its own cluster.
    env = {name: value for name, value in os.environ.items() if name != "SIKA_DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "sika", *args], env=env, capture_output=True, text=True,
                          timeout=_TIMEOUT_S, check=False)


def test_bench_ledger_prints_its_result_as_json_on_the_last_line() -> None:
    done = sika("bench", "ledger", "--transfers", "600", "--batch", "10", "--clients", "3", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) >= _KEYS
    assert (result["backend"], result["batch"], result["clients"]) == ("sqlite", 10, 3)
    assert (result["transfers"], result["failed"]) == (600, 0)
    assert result["transfers_per_s"] > 0 and result["floor_rows_per_s"] > 0
    assert result["pgledger_transfers_per_s"] is None


def test_bench_ledger_runs_the_same_transfers_through_pgledger_when_given_one(tmp_path: Path) -> None:
    stand_in = tmp_path / "pgledger.sql"
    stand_in.write_text(_STAND_IN)
    done = sika("bench", "ledger", "--backend", "postgres", "--transfers", "300", "--batch", "1",
                "--clients", "20", "--compare-pgledger", str(stand_in), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["backend"], result["batch"], result["clients"], result["failed"]) == (
        "postgres", 1, 20, 0,
    )
    assert result["pgledger_transfers_per_s"] > 0
    ratio = result["transfers_per_s"] / result["pgledger_transfers_per_s"]
    assert abs(result["ratio_to_pgledger"] - ratio) < 0.01 * ratio
    assert result["target"] == ">= 3 x pgledger"
    assert isinstance(result["target_met"], bool)


def test_bench_ledger_refuses_pgledger_on_sqlite_in_one_line(tmp_path: Path) -> None:
    stand_in = tmp_path / "pgledger.sql"
    stand_in.write_text(_STAND_IN)
    done = sika("bench", "ledger", "--compare-pgledger", str(stand_in), "--json")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "--compare-pgledger needs --backend postgres" in done.stderr
    assert "bench_invalid_argument" in done.stderr


def test_bench_ledger_refuses_a_path_that_holds_no_pgledger_in_one_line(tmp_path: Path) -> None:
    done = sika("bench", "ledger", "--backend", "postgres", "--compare-pgledger", str(tmp_path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "is neither a pgledger checkout" in done.stderr
