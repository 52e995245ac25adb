"""kill -9 in the middle of traffic: what the server acknowledged survives, and what was in flight
happens exactly once when the client retries it with the same Idempotency-Key.

A real ``sika serve`` process runs on a durable database (a PostgreSQL cluster with fsync on, or a
SQLite file); client threads send transfers, each with its own key, until the server is killed with
SIGKILL. The server is started again on the same database, and the clients check and retry.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import select

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.devservers import free_port, temporary_postgres
from sika.ledger import audit
from sika.payments import new_movement_id
from sika.payments.schema import movements
from sika.wallet import Pin

SENDERS = ("+22890112233", "+22890112234", "+22890112235", "+22890112236")
RECIPIENTS = ("+22897112233", "+22897112234", "+22897112235")
FUNDED = 1_000_000
ACKS_BEFORE_KILL = 40
TRAFFIC_S_MAX = 10.0
START_S_MAX = 60.0
_NS = 1_000_000_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database whose commits survive the death of the process that made them."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sika.db'}"
        return
    with temporary_postgres(durable=True) as url:
        yield url


class Server:
    """``sika serve`` as a separate process, its output in a log file for when a test fails."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self._env = {**os.environ, "SIKA_DATABASE_URL": database_url}
        self._log_path = log_path
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        assert self._process is None
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = self._log_path.open("ab")
        self._process = subprocess.Popen([sys.executable, "-m", "sika", "serve", "--port", str(port)],
                                         env=self._env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_S_MAX
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                pytest.fail(f"sika serve exited early: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"sika serve never answered /healthz: {self.log_tail()}")

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._reap(timeout_s=30)

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        self._reap(timeout_s=30)

    def log_tail(self) -> str:
        return self._log_path.read_text(errors="replace")[-3000:] if self._log_path.exists() else ""

    def _reap(self, *, timeout_s: float) -> None:
        assert self._process is not None
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=timeout_s)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Sent:
    sender: str
    key: str
    body: dict[str, Any]
    answer: dict[str, Any] | None = None  # the 201's body, once acknowledged


@dataclass
class ClientLog:
    acknowledged: list[Sent] = field(default_factory=list)
    in_flight: list[Sent] = field(default_factory=list)  # no answer: the server died meanwhile
    refused: list[tuple[Sent, int, str]] = field(default_factory=list)


def _open_town(container: Container) -> dict[str, str]:
    """An agent, funded senders and empty recipients; returns each sender's bearer token."""
    agent, _ = container.agents.create("Boutique Bè", msisdn="+22892001122")
    container.payments.credit_float(new_movement_id(), agent, 10 * FUNDED)
    for msisdn in (*SENDERS, *RECIPIENTS):
        container.customers.open(msisdn, f"Client {msisdn[-4:]}", pin=Pin("4827"), tier=1)
    for msisdn in SENDERS:
        done = container.payments.cash_in(new_movement_id(), agent, msisdn, FUNDED)
        assert done.status == "completed", done
    return {msisdn: container.sessions.open(msisdn, Pin("4827")).token for msisdn in SENDERS}


def _send_until_the_server_dies(base_url: str, sender: str, token: str, *, stop: threading.Event,
                                log: ClientLog, lock: threading.Lock) -> None:
    rng = random.Random(sender)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for n in range(100_000):
            if stop.is_set():
                return
            sent = Sent(sender, f"crash-{sender}-{n}",
                        {"to": rng.choice(RECIPIENTS), "amount": rng.choice((700, 1_500, 6_000))})
            try:
                answer = client.post("/v1/transfers", headers={"Idempotency-Key": sent.key}, json=sent.body)
            except httpx.TransportError:
                with lock:
                    log.in_flight.append(sent)
                return
            with lock:
                if answer.status_code == 201:
                    sent.answer = answer.json()
                    log.acknowledged.append(sent)
                else:
                    log.refused.append((sent, answer.status_code, answer.text))


def _traffic_then_kill(server: Server, tokens: dict[str, str]) -> ClientLog:
    log, lock, stop = ClientLog(), threading.Lock(), threading.Event()
    threads = [threading.Thread(target=_send_until_the_server_dies, name=f"client-{sender}",
                                args=(server.url, sender, token),
                                kwargs={"stop": stop, "log": log, "lock": lock})
               for sender, token in tokens.items()]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + TRAFFIC_S_MAX
        while len(log.acknowledged) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return log


def _balance(container: Container, msisdn: str) -> int:
    account_id = container.customers.get(msisdn).account_id
    assert account_id is not None
    return container.ledger.get_account(account_id).balance


def test_acknowledged_transfers_survive_kill_9_and_retries_complete_once(durable_url: str,
                                                                         tmp_path: Path) -> None:
    container = bootstrap(Settings(database_url=durable_url))
    server = Server(durable_url, tmp_path / "serve.log")
    try:
        tokens = _open_town(container)
        server.start()
        log = _traffic_then_kill(server, tokens)
        assert log.refused == [], log.refused
        assert len(log.acknowledged) >= ACKS_BEFORE_KILL, server.log_tail()
        assert len(log.in_flight) == len(SENDERS)  # each client's last request had no answer

        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            def auth(sent: Sent, key: bool = False) -> dict[str, str]:
                headers = {"Authorization": f"Bearer {tokens[sent.sender]}"}
                return {**headers, "Idempotency-Key": sent.key} if key else headers

            # Every acknowledged transfer is there, as it was acknowledged.
            for sent in log.acknowledged:
                assert sent.answer is not None
                seen = client.get(f"/v1/transfers/{sent.answer['id']}", headers=auth(sent))
                assert seen.status_code == 200, (sent, seen.text)
                assert (seen.json()["status"], seen.json()["amount"]) == ("completed", sent.body["amount"])
                replay = client.post("/v1/transfers", headers=auth(sent, key=True), json=sent.body)
                assert (replay.status_code, replay.json()) == (201, sent.answer)

            # A request that died with the server held its key's claim: the claim's owner process
            # is gone, so the retry takes it over at once (no waiting out the lease) and finishes
            # the request, once.
            for sent in log.in_flight:
                retried = client.post("/v1/transfers", headers=auth(sent, key=True), json=sent.body)
                assert retried.status_code == 201, retried.text
                assert retried.json()["status"] == "completed"
                again = client.post("/v1/transfers", headers=auth(sent, key=True), json=sent.body)
                assert again.json() == retried.json()
                sent.answer = retried.json()
    finally:
        server.stop()

    try:
        done = log.acknowledged + log.in_flight
        answers = [sent.answer for sent in done if sent.answer is not None]
        assert len(answers) == len(done)
        with container.engine.connect() as connection:
            stored = dict(connection.execute(
                select(movements.c.id, movements.c.status).where(movements.c.kind == "transfer")).all())
        # Nothing happened that no client asked for, and each request happened once.
        assert Counter(answer["id"] for answer in answers) == Counter(list(stored))
        assert set(stored.values()) == {"completed"}
        for msisdn in SENDERS:
            spent = sum(s.body["amount"] + s.answer["fee"] for s in done if s.sender == msisdn and s.answer)
            assert _balance(container, msisdn) == FUNDED - spent
        for msisdn in RECIPIENTS:
            received = sum(s.body["amount"] for s in done if s.body["to"] == msisdn)
            assert _balance(container, msisdn) == received
        assert audit.check(container.engine) == []
    finally:
        container.close()
