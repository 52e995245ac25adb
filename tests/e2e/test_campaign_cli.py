"""``sika campaign``: create (the id alone on the last line), fund, start, show, list, codes, forecast,
end, and draws committed, revealed and verified (exit 0), then tampered with (exit 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import update

from sika.bootstrap import bootstrap
from sika.config import Settings
from sika.payments import new_movement_id
from sika.promotions.schema import draws
from sika.wallet import Pin

_TIMEOUT_S = 60


def sika(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIKA_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "sika", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )


def _town(database_url: str, players: int) -> None:
    container = bootstrap(Settings(database_url=database_url, providers="off"))
    try:
        agent, _ = container.agents.create("Boutique Bè")
        container.payments.credit_float(new_movement_id(), agent, 1_000_000)
        container.customers.open("+22897112233", "Kofi", pin=Pin("4827"))
        for i in range(players):
            msisdn = f"+2289011{i:04d}"
            container.customers.open(msisdn, f"Player {i}", pin=Pin("4827"), tier=1)
            container.payments.cash_in(new_movement_id(), agent, msisdn, 10_000)
    finally:
        container.close()


def _pay_all(database_url: str, players: int) -> None:
    container = bootstrap(Settings(database_url=database_url, providers="off"))
    try:
        for i in range(players):
            payer = container.customers.get(f"+2289011{i:04d}")
            assert (
                container.payments.transfer(new_movement_id(), payer, "+22897112233", 2_000).status
                == "completed"
            )
    finally:
        container.close()


def test_an_operator_runs_a_campaign_from_the_command_line(sqlite_url: str) -> None:
    _town(sqlite_url, 3)
    rules = json.dumps({"percent": 10, "reward_max": 150, "operations": ["transfer"]})
    created = sika(
        "campaign",
        "create",
        "--name",
        "Tabaski",
        "--kind",
        "cashback",
        "--budget",
        "400",
        "--rules",
        rules,
        database_url=sqlite_url,
    )
    assert created.returncode == 0, created.stderr
    cid = created.stdout.strip().splitlines()[-1]
    assert cid.startswith("cp_")
    assert sika("campaign", "fund", cid, "100", "--reference", "R1", database_url=sqlite_url).returncode == 0
    assert sika("campaign", "fund", cid, "100", "--reference", "R1", database_url=sqlite_url).returncode == 0
    started = json.loads(
        sika("campaign", "start", cid, "--json", database_url=sqlite_url).stdout.splitlines()[-1]
    )
    assert (started["status"], started["funded"], started["budget"]) == (
        "active",
        400,
        400,
    )  # topped up to 400
    _pay_all(sqlite_url, 3)
    shown = json.loads(
        sika("campaign", "show", cid, "--json", database_url=sqlite_url).stdout.splitlines()[-1]
    )
    assert (shown["spent"], shown["remaining"], shown["rewards"]) == (300, 100, 2)  # a third 150 did not fit
    listed = sika("campaign", "list", "--json", database_url=sqlite_url).stdout.splitlines()[-1]
    assert [c["name"] for c in json.loads(listed)] == ["Tabaski"]
    forecast = sika("campaign", "forecast", cid, "--days", "7", "--json", database_url=sqlite_url)
    assert (
        json.loads(forecast.stdout.splitlines()[-1])["rewarded"] == 3
    )  # replayed: the budget is no limit there
    codes = sika("campaign", "codes", cid, "--count", "2", "--prefix", "TBK", database_url=sqlite_url)
    lines = codes.stdout.splitlines()
    assert lines[0] == "code,campaign,batch" and len(lines) == 3 and lines[1].startswith("TBK-")
    ended = json.loads(
        sika("campaign", "end", cid, "--json", database_url=sqlite_url).stdout.splitlines()[-1]
    )
    assert ended["status"] == "ended"
    assert ended["spent"] + ended["reserved"] + ended["remaining"] == ended["budget"]
    refused = sika("campaign", "start", cid, database_url=sqlite_url)
    assert refused.returncode == 1 and refused.stderr.strip().endswith("[campaign_state]")
    bad = sika(
        "campaign",
        "create",
        "--name",
        "X",
        "--kind",
        "lottery",
        "--budget",
        "1",
        "--rules",
        "{}",
        database_url=sqlite_url,
    )
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "[invalid_campaign]" in bad.stderr


def test_a_draw_is_committed_revealed_and_verified_then_a_tampered_one_fails(sqlite_url: str) -> None:
    _town(sqlite_url, 4)
    rules = json.dumps({"prizes": [3_000, 1_000], "operations": ["transfer"]})
    cid = (
        sika(
            "campaign",
            "create",
            "--name",
            "Iftar draw",
            "--kind",
            "prize_draw",
            "--budget",
            "4000",
            "--rules",
            rules,
            database_url=sqlite_url,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert sika("campaign", "start", cid, database_url=sqlite_url).returncode == 0
    _pay_all(sqlite_url, 4)
    committed = json.loads(sika("campaign", "draw", cid, database_url=sqlite_url).stdout.splitlines()[-1])
    assert committed["seed"] is None and committed["entrants"] == 4
    unrevealed = sika("campaign", "verify-draw", committed["id"], database_url=sqlite_url)
    assert unrevealed.returncode == 1
    revealed = json.loads(
        sika("campaign", "draw", cid, "--reveal", database_url=sqlite_url).stdout.splitlines()[-1]
    )
    assert len(revealed["winners"]) == 2
    verified = sika("campaign", "verify-draw", committed["id"], database_url=sqlite_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout.splitlines()[-1])["verified"] is True
    assert sika("campaign", "verify-draw", cid, database_url=sqlite_url).returncode == 0
    container = bootstrap(Settings(database_url=sqlite_url, providers="off"), migrate=False)
    try:
        with container.engine.begin() as connection:
            connection.execute(
                update(draws)
                .where(draws.c.id == committed["id"])
                .values(winners=json.dumps(list(reversed(revealed["winners"]))))
            )
    finally:
        container.close()
    tampered = sika("campaign", "verify-draw", committed["id"], database_url=sqlite_url)
    assert tampered.returncode == 1
    assert "other winners" in tampered.stdout
