"""A Sika served over real HTTP (uvicorn on a free port, in a thread) with one live provider pointed at
its fake: the adapter talks to the fake over HTTP and the fake calls back over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from sika.api.app import create_app
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.devservers import free_port
from sika.payments import Movement, Status
from sika.wallet import Customer, Pin

AMA = "+22890112233"
OPENING = 100_000


@dataclass
class Served:
    container: Container
    url: str
    customer: Customer

    def balance(self) -> int:
        assert self.customer.account_id is not None
        return self.container.ledger.get_account(self.customer.account_id).balance

    def available(self) -> int:
        assert self.customer.account_id is not None
        return self.container.ledger.get_account(self.customer.account_id).available

    def movement(self, movement_id: str) -> Movement:
        return self.container.payments.get(movement_id)

    def poll(self) -> None:
        """The poll job, once, on every pending order whatever its age."""
        purchases = self.container.purchases
        purchases._poll_ns = 0
        purchases.poll()

    def post_callback(self, name: str, *, query: str = "", **options: Any) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/providers/{name}/callback{query}", timeout=10, **options)


def public_address() -> tuple[int, str]:
    port = free_port()
    return port, f"http://127.0.0.1:{port}"


@contextmanager
def served(database_url: str, port: int, **settings: Any) -> Iterator[Served]:
    """Sika at ``http://127.0.0.1:<port>`` (its public URL) with a funded customer, until the end."""
    container = bootstrap(Settings(database_url=database_url, public_url=f"http://127.0.0.1:{port}",
                                   provider_timeout_s=0.5, provider_retries_max=2, **settings))
    agent, _ = container.agents.create("Boutique Bè", msisdn="+22892001122")
    container.payments.credit_float("float-1", agent, 5_000_000).raise_for_failure()
    container.customers.open(AMA, "Ama Mensah", pin=Pin("4827"), tier=1)
    container.payments.cash_in("cash-in-1", agent, AMA, OPENING).raise_for_failure()
    server = uvicorn.Server(uvicorn.Config(create_app(container, run_workers=False), host="127.0.0.1",
                                           port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="sika-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Served(container, f"http://127.0.0.1:{port}", container.customers.get(AMA))
    finally:
        server.should_exit = True
        thread.join(15)  # the app's lifespan closes the container


def settled(served_town: Served, movement_id: str, timeout_s: float = 5.0) -> Movement:
    """The movement once it left ``pending`` (callbacks arrive on other threads), or as it is."""
    deadline = time.monotonic() + timeout_s
    while True:
        movement = served_town.movement(movement_id)
        if movement.status is not Status.PENDING or time.monotonic() > deadline:
            return movement
        time.sleep(0.02)
