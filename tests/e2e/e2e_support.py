"""Helpers for the HTTP tests: credentials, idempotency keys, and a small town to pay in."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fastapi.testclient import TestClient

from sika.auth import Role
from sika.bootstrap import Container

_keys = itertools.count()


def bearer(container: Container, role: Role) -> dict[str, str]:
    _, secret = container.api_keys.create(role, f"test {role}")
    return {"Authorization": f"Bearer {secret}"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-key-{next(_keys)}"}


@dataclass
class World:
    """A small town: an admin, an agent with a funded float, a merchant, and helpers."""

    client: TestClient
    container: Container
    admin: dict[str, str]
    agent: dict[str, str]
    agent_id: int
    merchant: dict[str, str]
    merchant_id: int

    def wallet(self, msisdn: str, name: str, pin: str = "4827", *, cash: int = 0,
               tier: int = 1) -> dict[str, str]:
        """Open a wallet, set its tier, cash in ``cash``; return the customer's auth header."""
        opened = self.client.post("/v1/wallets", headers=self.agent,
                                  json={"msisdn": msisdn, "name": name, "pin": pin})
        assert opened.status_code == 201, opened.text
        self.container.customers.set_tier(msisdn, tier)
        if cash:
            done = self.client.post("/v1/cash-ins", headers={**self.agent, **key()},
                                    json={"msisdn": msisdn, "amount": cash})
            assert done.status_code == 201, done.text
        return self.login(msisdn, pin)

    def login(self, msisdn: str, pin: str) -> dict[str, str]:
        session = self.client.post("/v1/sessions", json={"msisdn": msisdn, "pin": pin})
        assert session.status_code == 201, session.text
        return {"Authorization": f"Bearer {session.json()['token']}"}

    def balance(self, msisdn: str) -> int:
        answer = self.client.get(f"/v1/wallets/{msisdn}", headers=self.admin)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["balance"])

    def float_balance(self) -> int:
        return int(self.client.get("/v1/agents/me", headers=self.agent).json()["float_balance"])


