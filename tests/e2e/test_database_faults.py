"""The database itself fails under load: nothing it acknowledged is lost, nothing happens twice.

- PostgreSQL is crashed (every server process quits at once, no checkpoint: ``pg_ctl stop -m
  immediate``) while ``sika serve`` takes transfers, then started again (it replays its write-ahead
  log). Sika keeps running; clients retry with their keys until they get an answer.
- A process writing to SQLite is killed (SIGKILL) in the middle of its commits, again and again; each
  time the file opens clean and holds every commit the process had seen return.
"""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from test_crash import RECIPIENTS, SENDERS, Sent, Server, _balance, _open_town

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.devservers import postgres_cluster
from sika.ledger import audit
from sika.payments.schema import movements

ACKS_BEFORE_CRASH = 30
ACKS_AFTER_RESTART = 30
DOWN_S = 1.5
ANSWER_S_MAX = 90.0
FUNDED = 1_000_000


class Traffic:
    """Client threads sending transfers; each request is retried with its key until it is answered."""

    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url = url
        self.tokens = tokens
        self.lock = threading.Lock()
        self.acknowledged: list[Sent] = []
        self.refused: list[tuple[Sent, int, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(sender,), name=f"client-{sender}")
                        for sender in tokens]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def wait_for(self, acks: int) -> None:
        deadline = time.monotonic() + ANSWER_S_MAX
        while self.count() < acks:
            assert time.monotonic() < deadline, f"only {self.count()} transfers answered"
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(ANSWER_S_MAX + 30)
        assert not any(thread.is_alive() for thread in self.threads)

    def _client(self, sender: str) -> None:
        rng = random.Random(sender)
        headers = {"Authorization": f"Bearer {self.tokens[sender]}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                sent = Sent(sender, f"dbfault-{sender}-{n}",
                            {"to": rng.choice(RECIPIENTS), "amount": rng.choice((700, 1_500, 6_000))})
                self._until_answered(client, sent)
                n += 1

    def _until_answered(self, client: httpx.Client, sent: Sent) -> None:
        deadline = time.monotonic() + ANSWER_S_MAX
        while time.monotonic() < deadline:
            try:
                answer = client.post("/v1/transfers", headers={"Idempotency-Key": sent.key}, json=sent.body)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if answer.status_code == 201:
                sent.answer = answer.json()
                with self.lock:
                    self.acknowledged.append(sent)
                return
            if answer.status_code == 503 or answer.json().get("code") == "idempotency_in_progress":
                time.sleep(0.2)  # the database is away, or our own earlier try still runs
                continue
            with self.lock:
                self.refused.append((sent, answer.status_code, answer.text))
            return
        pytest.fail(f"{sent.key} had no answer in {ANSWER_S_MAX} s")


def _check(container: Container, acknowledged: list[Sent]) -> None:
    with container.engine.connect() as connection:
        stored = dict(connection.execute(
            select(movements.c.id, movements.c.status).where(movements.c.kind == "transfer")).all())
    answers = [sent.answer for sent in acknowledged if sent.answer is not None]
    assert sorted(answer["id"] for answer in answers) == sorted(stored)  # each once, none unasked
    assert set(stored.values()) <= {"completed"}
    for msisdn in SENDERS:
        spent = sum(s.body["amount"] + s.answer["fee"] for s in acknowledged
                    if s.sender == msisdn and s.answer)
        assert _balance(container, msisdn) == FUNDED - spent
    for msisdn in RECIPIENTS:
        received = sum(s.body["amount"] for s in acknowledged if s.body["to"] == msisdn)
        assert _balance(container, msisdn) == received
    assert audit.check(container.engine) == []


@pytest.mark.postgres
# The crash drops the test's own pooled connections too; the garbage collector finds them.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_postgresql_crashed_and_restarted_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with postgres_cluster(durable=True) as cluster:
        container = bootstrap(Settings(database_url=cluster.url))
        server = Server(cluster.url, tmp_path / "serve.log")
        try:
            traffic = Traffic("", _open_town(container))
            server.start()
            traffic.url = server.url
            traffic.start()
            try:
                traffic.wait_for(ACKS_BEFORE_CRASH)
                cluster.crash()
                time.sleep(DOWN_S)
                cluster.start()
                traffic.wait_for(traffic.count() + ACKS_AFTER_RESTART)
            finally:
                traffic.finish()
            assert traffic.refused == [], (traffic.refused, server.log_tail())
        finally:
            server.stop()
        container.engine.dispose()  # its pooled connections died with the crash
        try:
            _check(container, traffic.acknowledged)
        finally:
            container.close()
            gc.collect()  # here, where the dropped connections' warnings are expected


# A child that commits ledger-backed movements to SQLite as fast as it can and prints each id once its
# commit returned; the parent kills it mid-flight.
_WRITER = """
import sys
from sika.bootstrap import bootstrap
from sika.config import Settings
container = bootstrap(Settings(database_url=sys.argv[1]), migrate=False)
agent = container.agents.get(int(sys.argv[2]))
n = 0
while True:
    mid = f"{sys.argv[3]}-{n}"
    container.payments.credit_float(mid, agent, 1 + n % 7).raise_for_failure()
    print(mid, flush=True)
    n += 1
"""
KILLS = 4
COMMITS_BEFORE_KILL_MIN = 20


def test_sqlite_with_its_writer_killed_mid_commit_keeps_every_returned_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sika.db'}"
    container = bootstrap(Settings(database_url=url))
    agent, _ = container.agents.create("Boutique Bè")
    container.close()
    rng = random.Random(16)
    returned: list[str] = []
    for life in range(KILLS):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, url, str(agent.id), f"life{life}"],
                                  stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        assert writer.stdout is not None
        lines: list[str] = []
        target = COMMITS_BEFORE_KILL_MIN + rng.randrange(40)
        while len(lines) < target:
            line = writer.stdout.readline()
            assert line, "the writer stopped by itself"
            lines.append(line.strip())
        writer.send_signal(signal.SIGKILL)  # while it is in its next commit, or about to be
        writer.wait(timeout=30)
        writer.stdout.close()
        returned.extend(lines)
        _opens_clean(url, returned)


def _opens_clean(url: str, returned: list[str]) -> None:
    container = bootstrap(Settings(database_url=url), migrate=False)
    try:
        with container.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            found: dict[str, Any] = dict(connection.execute(
                select(movements.c.id, movements.c.status).where(movements.c.id.in_(returned))).all())
        assert set(found) == set(returned)  # every commit the writer saw return survived
        assert audit.check(container.engine) == []
        # What was in flight is either not there or finishes: recovery leaves nothing half-done.
        container.payments.recover()
    finally:
        container.close()
