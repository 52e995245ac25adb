"""``sika reconcile`` asks each live provider about Sika's orders and lists where they disagree, with
the balances the providers report; ``sika payout`` pays a merchant out through PayGate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.payments import Status
from sika.payments.reconciliation import reconcile_providers
from sika.wallet import Pin
from sika_fakes.behaviour import Behaviour
from sika_fakes.local import LocalFakes, start

AMA = "+22890112233"


@pytest.fixture
def fakes() -> Iterator[LocalFakes]:
    started = start(behaviour=Behaviour.at_once())
    yield started
    started.close()


def live_settings(fakes: LocalFakes, database_url: str) -> dict[str, Any]:
    return {**fakes.settings, "database_url": database_url, "public_url": "https://sika.example",
            "providers": "live"}


@pytest.fixture
def town(fakes: LocalFakes, sqlite_url: str) -> Iterator[Container]:
    container = bootstrap(Settings(**live_settings(fakes, sqlite_url)))
    agent, _ = container.agents.create("Boutique")
    container.payments.credit_float("float", agent, 1_000_000).raise_for_failure()
    container.customers.open(AMA, "Ama", pin=Pin("4827"), tier=1)
    container.payments.cash_in("cash", agent, AMA, 100_000).raise_for_failure()
    yield container
    container.close()


def drifted(town: Container, fakes: LocalFakes) -> list[tuple[str, str]]:
    """Two orders on which Sika and a provider disagree, and one on which they agree."""
    ama = town.customers.get(AMA)
    purchases = town.purchases
    assert purchases.buy("mv_r_ok", ama, provider="ceet", product="electricity", reference="12345678903",
                         amount=2_000).status is Status.COMPLETED
    assert purchases.buy("mv_r_gone", ama, provider="ceet", product="electricity", reference="12345678903",
                         amount=3_000).status is Status.COMPLETED
    del fakes.biller.payments["mv_r_gone"]  # the aggregator lost it: Sika delivered a token unpaid for
    waiting = purchases.top_up("mv_r_late", ama, provider="card", product="card_topup",
                               reference="tok_test_000002", amount=5_000)
    assert waiting.status is Status.PENDING
    town.payments.settle(waiting.id, success=False, error_code="provider_timeout", reason="gave up")
    fakes.cinetpay.settle("mv_r_late", True)  # the customer paid after Sika gave up
    return [("mv_r_gone", "completed here, never received by the provider"),
            ("mv_r_late", "failed here, succeeded at the provider: charge, credit or reverse")]


def test_drift_and_balances_are_found_by_asking_each_provider(town: Container, fakes: LocalFakes) -> None:
    expected = drifted(town, fakes)
    report = reconcile_providers(town.engine, town.payments, town.purchases.providers)
    assert sorted((d.movement_id, d.issue) for d in report.drift) == expected
    assert report.checked == 3 and report.unchecked == {}
    accounts = {b.account for b in report.balances}
    assert {"PayGate Flooz", "PayGate T-Money", "Africa's Talking", "biller aggregator"} <= accounts


def sika(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sika", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def environment(fakes: LocalFakes, database_url: str) -> dict[str, str]:
    plain = {k: v for k, v in os.environ.items() if not k.startswith("SIKA_")}
    return {**plain, **{f"SIKA_{k.upper()}": str(v) for k, v in live_settings(fakes, database_url).items()}}


def test_sika_reconcile_lists_the_drift_and_exits_1(town: Container, fakes: LocalFakes,
                                                    sqlite_url: str) -> None:
    expected = drifted(town, fakes)
    env = environment(fakes, sqlite_url)
    found = sika("reconcile", "--json", env=env)
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout.splitlines()[-1])
    assert sorted((d["movement_id"], d["issue"]) for d in report["providers"]["drift"]) == expected
    shown = sika("reconcile", env=env)
    assert shown.returncode == 1 and "mv_r_gone" in shown.stdout
    assert "balance at PayGate Flooz" in shown.stdout
    skipped = sika("reconcile", "--json", "--no-providers", env=env)
    assert json.loads(skipped.stdout.splitlines()[-1])["providers"] is None


def test_sika_payout_pays_a_merchant_out_through_paygate(town: Container, fakes: LocalFakes,
                                                         sqlite_url: str) -> None:
    merchant, _ = town.merchants.create("Assigamé Market")
    approval = town.approvals.request_payment("ap_1", merchant, AMA, 30_000, description="stock")
    town.approvals.approve(approval.id, town.customers.get(AMA), Pin("4827")).raise_for_failure()
    env = environment(fakes, sqlite_url)
    once = ("payout", "merchant", str(merchant.id), "10000", "--msisdn", "99123456", "--network", "flooz",
            "--reference", "PO-1")
    paid = sika(*once, env=env)
    assert paid.returncode == 0, paid.stderr
    assert "10000 XOF to +22899123456, completed" in paid.stdout
    again = sika(*once, env=env)
    assert again.returncode == 0 and len(fakes.paygate.payouts) == 1  # one reference, one payout
    unknown = sika("payout", "merchant", str(merchant.id), "5000", "--msisdn", "90000004", "--network",
                   "FLOOZ", env={**env, "SIKA_PROVIDER_TIMEOUT_S": "0.3"})
    assert unknown.returncode == 2 and "sika payout resolve" in unknown.stderr
