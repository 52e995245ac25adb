"""A plain server mints no money: without provider settings every card top-up, airtime, bill and
bundle is refused with 503 ``provider_not_configured``, nothing is credited and no movement is left;
``SIKA_ENV=production`` refuses to start on development defaults."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import World, bearer, key
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sika.api.app import create_app
from sika.auth import Role
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.devservers import free_port
from sika.payments.schema import movements

AMA = "+22890112233"


@pytest.fixture
def plain(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url))  # no SIKA_PROVIDERS, no provider settings
    yield built
    built.close()


@pytest.fixture
def plain_world(plain: Container) -> Iterator[World]:
    with TestClient(create_app(plain, run_workers=False)) as client:
        admin = bearer(plain, Role.ADMIN)
        made = client.post("/v1/agents", headers=admin, json={"name": "Boutique", "msisdn": "+22892001122"})
        client.post(f"/v1/agents/{made.json()['id']}/float", headers={**admin, **key()},
                    json={"amount": 100_000})
        yield World(client=client, container=plain, admin=admin,
                    agent={"Authorization": f"Bearer {made.json()['api_key']}"}, agent_id=made.json()["id"],
                    merchant={}, merchant_id=0)


def test_a_plain_server_refuses_every_provider_payment_and_moves_nothing(plain_world: World) -> None:
    world = plain_world
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    attempts = [
        ("/v1/top-ups", {"source": "card", "reference": "4111111111111111", "amount": 50_000}),
        ("/v1/top-ups", {"source": "card", "reference": "tok_visa_4242", "amount": 50_000}),
        ("/v1/top-ups", {"source": "flooz", "reference": "+22899123456", "amount": 5_000}),
        ("/v1/airtime", {"operator": "togocom", "amount": 1_000}),
        ("/v1/data", {"operator": "moov", "bundle": "DAY250"}),
        ("/v1/bills", {"provider": "ceet", "reference": "12345678903", "amount": 5_000}),
    ]
    for path, body in attempts:
        refused = world.client.post(path, headers={**ama, **key()}, json=body)
        assert (refused.status_code, refused.json()["code"]) == (503, "provider_not_configured"), (path, body)
    quote = world.client.get("/v1/purchases/quote", headers=ama,
                             params={"provider": "tde", "product": "water", "reference": "12345678"})
    assert (quote.status_code, quote.json()["code"]) == (503, "provider_not_configured")
    assert world.client.get("/v1/catalogue").json() == []
    wallet = world.client.get(f"/v1/wallets/{AMA}", headers=world.admin).json()
    assert wallet["balance"] == wallet["available"] == 20_000
    with world.container.engine.connect() as connection:
        kinds = connection.execute(select(movements.c.kind, func.count()).group_by(movements.c.kind)).all()
    assert dict(kinds) == {"float": 1, "cash_in": 1}  # no top-up, purchase or half-done row


def _environment(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIKA_")}
    return {**env, "SIKA_DATABASE_URL": database_url, **extra}


def test_sika_serve_says_which_providers_are_live_and_refuses_card_top_ups(sqlite_url: str) -> None:
    port = free_port()
    env = _environment(sqlite_url, SIKA_PAYGATE_AUTH_TOKEN="a-paygate-token",
                       SIKA_PAYGATE_CALLBACK_TOKEN="a-paygate-callback-token")
    server = subprocess.Popen([sys.executable, "-m", "sika", "serve", "--port", str(port), "--no-jobs"],
                              env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "sika serve did not start"
            time.sleep(0.2)
        container = bootstrap(Settings(database_url=sqlite_url, providers="off"), migrate=False)
        try:
            agent, _ = container.agents.create("Boutique")
            container.payments.credit_float("f", agent, 10_000).raise_for_failure()
            from sika.wallet import Pin

            container.customers.open(AMA, "Ama", pin=Pin("4827"))
        finally:
            container.close()
        token = httpx.post(f"http://127.0.0.1:{port}/v1/sessions", json={"msisdn": AMA, "pin": "4827"}).json()
        refused = httpx.post(f"http://127.0.0.1:{port}/v1/top-ups",
                             headers={"Authorization": f"Bearer {token['token']}", "Idempotency-Key": "k"},
                             json={"source": "card", "reference": "4111111111111111", "amount": 50_000})
        assert (refused.status_code, refused.json()["code"]) == (503, "provider_not_configured")
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    lines = stderr.splitlines()
    assert "sika: live providers: paygate (PayGate Flooz and T-Money top-ups)" in lines
    assert any(line.startswith("sika: not configured: africastalking (set SIKA_AFRICASTALKING_USERNAME")
               for line in lines)
    assert any("SIKA_VOUCHER_KEY is the development key" in line for line in lines)


def test_production_refuses_to_start_on_development_defaults_with_one_line(sqlite_url: str) -> None:
    env = _environment(sqlite_url, SIKA_ENV="production", SIKA_PROVIDERS="sandbox")
    refused = subprocess.run([sys.executable, "-m", "sika", "serve", "--port", str(free_port())], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "sika: refusing to start with SIKA_ENV=production on development defaults: SIKA_VOUCHER_KEY, "
        "SIKA_PROMO_CODE_KEY, SIKA_PIN_PEPPER, SIKA_PROVIDERS (see docs/deploy.md) [insecure_defaults]"]
    worker = subprocess.run([sys.executable, "-m", "sika", "worker"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert worker.returncode == 1 and "[insecure_defaults]" in worker.stderr
