"""A seeded crash-point simulation of the money path, in the spirit of TigerBeetle's VOPR.

Each run (one seed) opens a small town, then sends transfers through the HTTP app. For each request the
seed picks a step of the path (``sika.payments.crashpoints.STEPS``: key claimed, movement recorded,
ledger committed, outcome written, answer stored) and a fault there: the process dies (nothing after it
runs; the app is started again on the same database, as after a kill -9) or the database fails once.
The client then does what clients do: retries with the same key, sometimes first with another body
(another payee), and finally with its own body again.

After each run: money is conserved (the ledger audit), no movement is left half-done, each key moved
money at most once and only as the request that got the 201 said, and every balance is what the
acknowledged answers add up to. The seed is in the test's name: a failure replays exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from sika.api import owners
from sika.api.app import create_app
from sika.auth.idempotency import prune
from sika.auth.schema import idempotency
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import audit
from sika.payments import crashpoints, new_movement_id
from sika.payments.schema import movements
from sika.wallet import Pin

# A dead process's database connections are dropped, not closed: the garbage collector finds them.
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

SEEDS = 8
REQUESTS_PER_RUN = 6
PAYERS = ("+22890112233", "+22890112234")
PAYEES = ("+22897112233", "+22897112234", "+22897112235")
FUNDED = 200_000
AMOUNTS = (700, 1_500, 6_000)
FAULT_RATIO = 0.85
OTHER_BODY_RATIO = 0.4
PRUNE_RATIO = 0.3
RETRIES_MAX = 4
# A pid no process has (above Linux's largest): the owner of claims the simulated crash left behind.
_DEAD_PID = 4_194_305


@dataclass
class Fault:
    step: str
    kind: str  # "crash" or "error"
    fired: bool = False

    def __call__(self, step: str) -> None:
        if self.fired or step != self.step:
            return
        self.fired = True
        if self.kind == "crash":
            raise crashpoints.ProcessCrash(step)
        raise OperationalError(f"injected at {step}", None, Exception("database is locked"))


@dataclass
class Process:
    """One life of the server: a container and an in-process HTTP client."""

    container: Container
    client: TestClient

    def close(self) -> None:
        self.client.__exit__(None, None, None)  # the app's lifespan closes the container

    def abandon(self) -> None:
        """A dead process's client: its event loop saw the crash; close what can be closed."""
        try:
            self.client.__exit__(None, None, None)
        except (Exception, asyncio.CancelledError):
            self.container.close()


@dataclass
class Town:
    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    acknowledged: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def _start(url: str) -> Process:
    container = bootstrap(Settings(database_url=url, providers="instant"), migrate=False)
    client = TestClient(create_app(container, run_workers=False), raise_server_exceptions=False)
    client.__enter__()
    return Process(container, client)


def _open_town(url: str) -> Town:
    container = bootstrap(Settings(database_url=url, providers="instant"))
    try:
        agent, _ = container.agents.create("Boutique Bè", msisdn="+22892001122")
        container.payments.credit_float(new_movement_id(), agent, 10 * FUNDED)
        for msisdn in (*PAYERS, *PAYEES):
            container.customers.open(msisdn, f"Client {msisdn[-4:]}", pin=Pin("4827"), tier=1)
        for msisdn in PAYERS:
            container.payments.cash_in(new_movement_id(), agent, msisdn, FUNDED).raise_for_failure()
        town = Town(url)
        town.tokens = {m: container.sessions.open(m, Pin("4827")).token for m in PAYERS}
        return town
    finally:
        container.close()


def _bury(process: Process) -> None:
    """What a kill -9 leaves: the process is gone, and so is the owner of the claims it held."""
    dead = owners.current().rsplit("/", 2)[0] + f"/{_DEAD_PID}/0"
    with process.container.engine.begin() as connection:
        connection.execute(update(idempotency).where(idempotency.c.status.is_(None)).values(owner=dead))
    process.abandon()


def _send(town: Town, process: Process, payer: str, key: str, body: dict[str, Any], *,
          fault: Fault | None = None) -> tuple[Process, int | None, dict[str, Any]]:
    """One try; returns the process that lives on, and the status (None: the process died)."""
    headers = {"Authorization": f"Bearer {town.tokens[payer]}", "Idempotency-Key": key}

    def post() -> Any:
        return process.client.post("/v1/transfers", headers=headers, json=body)

    if fault is None:
        answer = post()
        return process, answer.status_code, answer.json()
    answer = None
    with crashpoints.installed(fault), contextlib.suppress(crashpoints.ProcessCrash):
        answer = post()  # a crash in a worker thread reaches the client as itself
    if fault.fired and fault.kind == "crash":
        # Whatever the client got (an exception, or a broken answer from the dying event loop), the
        # process is dead: nothing it would have done after the crash point was done.
        _bury(process)
        return _start(town.url), None, {}
    assert answer is not None
    return process, answer.status_code, answer.json()


def _one_request(town: Town, process: Process, rng: random.Random, n: int) -> Process:
    payer = rng.choice(PAYERS)
    key = f"vopr-{n}"
    mine = {"to": rng.choice(PAYEES), "amount": rng.choice(AMOUNTS)}
    other = {"to": next(p for p in PAYEES if p != mine["to"]), "amount": mine["amount"]}
    fault = Fault(rng.choice(crashpoints.STEPS), rng.choice(("crash", "error"))) \
        if rng.random() < FAULT_RATIO else None
    process, status, answer = _send(town, process, payer, key, mine, fault=fault)
    owner: dict[str, Any] | None = mine if status == 201 else None
    first_answer = answer
    if rng.random() < PRUNE_RATIO:  # the stored answers outlived their TTL: only the movements remain
        prune(process.container.engine, ttl_s=-1)
    if rng.random() < OTHER_BODY_RATIO:
        process, status, answer = _send(town, process, payer, key, other)
        assert status in (201, 409), (status, answer)
        if status == 201:  # the key's first request never ran: this one owns the key now
            assert owner is None, f"{key}: another body got 201 for a key whose request was answered"
            owner = other
            town.acknowledged.append((payer, other, answer))
    if owner is mine:
        town.acknowledged.append((payer, mine, first_answer))
        return process
    for _ in range(RETRIES_MAX):
        process, status, answer = _send(town, process, payer, key, mine)
        if owner is other:
            assert (status, answer.get("code")) == (409, "idempotency_conflict"), answer
            return process
        if status == 201:
            town.acknowledged.append((payer, mine, answer))
            return process
        assert status == 503, (status, answer)  # only an injected database error: database_unavailable
    pytest.fail(f"request {key} never completed: {status} {answer}")


def _check(town: Town, container: Container, acknowledged: list[tuple[str, dict[str, Any], dict[str, Any]]],
           ) -> None:
    assert audit.check(container.engine) == []
    with container.engine.connect() as connection:
        rows = connection.execute(select(movements.c.id, movements.c.status, movements.c.counterparty,
                                         movements.c.amount).where(movements.c.kind == "transfer")).all()
    assert {row.status for row in rows} <= {"completed"}, rows  # nothing stuck half-done
    by_id = {row.id: row for row in rows}
    assert len(by_id) == len(acknowledged)  # no movement nobody was told about
    for _, body, answer in acknowledged:
        row = by_id[answer["id"]]
        assert (row.counterparty, row.amount, answer["status"]) == (body["to"], body["amount"], "completed")

    def balance(msisdn: str) -> int:
        account_id = container.customers.get(msisdn).account_id
        assert account_id is not None
        return container.ledger.get_account(account_id).balance

    for payee in PAYEES:
        assert balance(payee) == sum(body["amount"] for _, body, _ in acknowledged if body["to"] == payee)
    for payer in PAYERS:
        spent = sum(body["amount"] + answer["fee"] for who, body, answer in acknowledged if who == payer)
        assert balance(payer) == FUNDED - spent


@pytest.fixture(params=range(SEEDS), ids=lambda seed: f"seed{seed}")
def seed(request: pytest.FixtureRequest) -> int:
    return int(request.param)


def test_every_crash_point_keeps_money_conserved_and_answers_true(database_url: str, seed: int) -> None:
    rng = random.Random(seed)
    town = _open_town(database_url)
    process = _start(database_url)
    try:
        for n in range(REQUESTS_PER_RUN):
            process = _one_request(town, process, rng, n)
        _check(town, process.container, town.acknowledged)
    finally:
        process.close()
        gc.collect()  # a dead process's dropped connections are found here, not in a later test


def _all_faults() -> Iterator[tuple[str, str]]:
    for step in crashpoints.STEPS:
        for kind in ("crash", "error"):
            yield step, kind


@pytest.mark.parametrize(("step", "kind"), list(_all_faults()))
def test_each_fault_at_each_step_is_survived_by_a_retry(database_url: str, step: str, kind: str) -> None:
    """Every step and fault at least once, whatever the seeds drew."""
    town = _open_town(database_url)
    process = _start(database_url)
    try:
        body = {"to": PAYEES[0], "amount": 1_500}
        process, status, _ = _send(town, process, PAYERS[0], "every-1", body, fault=Fault(step, kind))
        assert status in (None, 201, 503)
        for _ in range(RETRIES_MAX):
            process, status, answer = _send(town, process, PAYERS[0], "every-1", body)
            if status == 201:
                town.acknowledged.append((PAYERS[0], body, answer))
                break
        _check(town, process.container, town.acknowledged)
    finally:
        process.close()
        gc.collect()  # a dead process's dropped connections are found here, not in a later test


