"""The operator commands: agents and floats, merchants, wallets, reconcile, on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import update

from sika.bootstrap import bootstrap
from sika.config import Settings
from sika.payments import new_movement_id
from sika.payments.schema import movements
from sika.wallet import Pin

_TIMEOUT_S = 60


def sika(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIKA_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "sika", *args], env=env, capture_output=True, text=True,
                          timeout=_TIMEOUT_S, check=False)


def test_an_operator_creates_an_agent_credits_its_float_once_per_reference(sqlite_url: str) -> None:
    created = sika("agent", "create", "--name", "Boutique Bè", "--msisdn", "92001122",
                   database_url=sqlite_url)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("sk_")
    for _ in range(2):
        credited = sika("agent", "credit", "1", "250000", "--reference", "DEP-77", database_url=sqlite_url)
        assert credited.returncode == 0, credited.stderr
    listed = sika("agent", "list", database_url=sqlite_url)
    assert "250 000" in listed.stdout and "Boutique Bè" in listed.stdout
    unknown = sika("agent", "credit", "99", "1000", database_url=sqlite_url)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "sika: no agent 99 [unknown_agent]"


def test_wallet_show_history_tier_and_reconcile(sqlite_url: str) -> None:
    container = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    try:
        agent, _ = container.agents.create("Boutique Bè")
        container.payments.credit_float(new_movement_id(), agent, 100_000)
        container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"))
        container.payments.cash_in(new_movement_id(), agent, "+22890112233", 7_000)
    finally:
        container.close()
    shown = sika("wallet", "show", "90112233", database_url=sqlite_url)
    assert shown.returncode == 0, shown.stderr
    assert "Ama Mensah" in shown.stdout and "7000 XOF" in shown.stdout
    history = sika("wallet", "history", "+22890112233", database_url=sqlite_url)
    assert "+7000" in history.stdout and "balance 7000 XOF" in history.stdout
    statement = json.loads(sika("wallet", "history", "+22890112233", "--json",
                                database_url=sqlite_url).stdout.splitlines()[-1])
    (item,) = statement["items"]
    assert (item["kind"], item["amount"], item["counterparty"]) == ("cash_in", 7_000, "Boutique Bè")
    assert sika("wallet", "tier", "+22890112233", "1", database_url=sqlite_url).returncode == 0
    assert "tier" in sika("wallet", "show", "+22890112233", database_url=sqlite_url).stdout
    clean = sika("reconcile", "--json", database_url=sqlite_url)
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout.splitlines()[-1])
    assert (report["movements"], report["callbacks"], report["providers"]["drift"]) == ([], [], [])
    # A movement a crash left half-done shows up once the grace period has passed.
    container = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    try:
        with container.engine.begin() as connection:
            connection.execute(update(movements).values(status="processing", updated_at_ns=0))
    finally:
        container.close()
    stuck = sika("reconcile", "--json", database_url=sqlite_url)
    assert stuck.returncode == 1
    assert len(json.loads(stuck.stdout.splitlines()[-1])["movements"]) == 2
    # The recovery job resubmits their legs: the ledger answers "exists", nothing moves twice.
    container = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    try:
        assert container.payments.recover() == 2
        account = container.customers.get("+22890112233").account_id
        assert account is not None and container.ledger.get_account(account).balance == 7_000
    finally:
        container.close()
    assert sika("reconcile", database_url=sqlite_url).returncode == 0


def test_a_missing_wallet_is_one_line_on_stderr(sqlite_url: str) -> None:
    done = sika("wallet", "show", "+22890112233", database_url=sqlite_url)
    assert done.returncode == 1
    assert done.stderr.strip() == "sika: +22890112233 has no wallet [unknown_wallet]"


def test_wallet_payout_explains_a_drivers_cash_ride_debt_and_wallet_show_names_it(sqlite_url: str) -> None:
    from sika.rides.geo import Point

    container = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    try:
        rides = container.rides
        assert rides is not None
        rider = container.customers.open("+22890112233", "Ama Mensah", pin=Pin("4827"))
        driving = container.customers.open("+22870100001", "Komlan Adzo", pin=Pin("7314"), language="en")
        driver = rides.onboard(driving, city_id="lome", vehicle_type="moto", plate="TG4821AZ")
        rides.set_documents(driver.id, "approved")
        rides.update_location(driver.id, Point(6.1330, 1.2240))
        rides.set_online(driver.id, online=True)
        trip = rides.request("trip-cash-1", rider, city_id="lome", vehicle_type="moto",
                             pickup=Point(6.1319, 1.2228), dropoff=Point(6.1725, 1.2145),
                             payment_method="cash")
        for step in (rides.accept, rides.arrive, rides.start, rides.complete):
            trip = step(driver.id, trip.id)
        assert trip.final_fare is not None
        owed = trip.final_fare * 15 // 100
    finally:
        container.close()
    shown = sika("wallet", "show", "+22870100001", database_url=sqlite_url)
    assert f"owes {owed} XOF" in shown.stdout
    paid = sika("wallet", "payout", "+22870100001", database_url=sqlite_url)
    assert paid.returncode == 0, paid.stderr
    assert f"Nothing was paid out: you owe {owed:,} F CFA of commissions" in paid.stdout
    assert json.loads(paid.stdout.splitlines()[-1]) == {"moved": 0, "direction": None, "owed": owed,
                                                        "code": "commissions_owed"}
