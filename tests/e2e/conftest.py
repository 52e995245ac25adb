"""HTTP fixtures: a container on a fresh database (SQLite and PostgreSQL), a client, and helpers that
open wallets, agents and merchants. Every test ends with a clean ledger audit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import World, bearer, key
from fastapi.testclient import TestClient

from sika.api.app import create_app
from sika.auth import Role
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import audit


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    yield built
    assert audit.check(built.engine) == []
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container, run_workers=False)) as test_client:
        yield test_client


@pytest.fixture
def world(client: TestClient, container: Container) -> World:
    admin = bearer(container, Role.ADMIN)
    made = client.post("/v1/agents", headers=admin, json={"name": "Boutique Bè", "msisdn": "+22892001122"})
    assert made.status_code == 201, made.text
    agent = {"Authorization": f"Bearer {made.json()['api_key']}"}
    funded = client.post(f"/v1/agents/{made.json()['id']}/float", headers={**admin, **key()},
                         json={"amount": 5_000_000})
    assert funded.status_code == 201, funded.text
    merchant = client.post("/v1/merchants", headers=admin, json={"name": "Assigame Market"})
    assert merchant.status_code == 201, merchant.text
    return World(client=client, container=container, admin=admin, agent=agent, agent_id=made.json()["id"],
                 merchant={"Authorization": f"Bearer {merchant.json()['api_key']}"},
                 merchant_id=merchant.json()["id"])
