"""Helpers for the HTTP tests: credentials, idempotency keys, and a small town to pay in."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
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




@contextlib.contextmanager
def served(container: Container, *, port: int) -> Iterator[str]:
    """The real HTTP server (uvicorn, with the background jobs) on 127.0.0.1:``port``, in a thread."""
    import uvicorn

    from sika.api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="sika-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until ``check()`` holds (background jobs at work), or fail."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "still not so after waiting"
        time.sleep(0.05)
