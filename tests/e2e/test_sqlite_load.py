"""Twenty clients at once on the embedded SQLite: every transfer answered, none with a 5xx.

Before the request path's writers took the write lock in short steps and the pool was sized for the
server's threads, 13 of 300 answers were 500 "database is locked" (some after the money had moved).
"""

from __future__ import annotations

import collections
import random
import threading
from pathlib import Path

import httpx
from test_crash import Server

from sika.bootstrap import bootstrap
from sika.config import Settings
from sika.ledger import audit
from sika.payments import new_movement_id
from sika.wallet import Pin

CLIENTS = 20
TRANSFERS_EACH = 12
FUNDED = 100_000
RECIPIENTS = tuple(f"+2289711{n:04d}" for n in range(4))


def test_twenty_clients_on_sqlite_all_get_true_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sika.db'}"
    container = bootstrap(Settings(database_url=url))
    senders = [f"+2289011{n:04d}" for n in range(CLIENTS)]
    agent, _ = container.agents.create("Boutique Bè")
    container.payments.credit_float(new_movement_id(), agent, CLIENTS * FUNDED)
    for msisdn in (*senders, *RECIPIENTS):
        container.customers.open(msisdn, f"Client {msisdn[-4:]}", pin=Pin("4827"), tier=1)
    for msisdn in senders:
        container.payments.cash_in(new_movement_id(), agent, msisdn, FUNDED).raise_for_failure()
    tokens = {m: container.sessions.open(m, Pin("4827")).token for m in senders}
    server = Server(url, tmp_path / "serve.log")
    statuses: collections.Counter[int] = collections.Counter()
    moved: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def client(sender: str) -> None:
        rng = random.Random(sender)
        with httpx.Client(base_url=server.url, timeout=60,
                          headers={"Authorization": f"Bearer {tokens[sender]}"}) as http:
            for n in range(TRANSFERS_EACH):
                body = {"to": rng.choice(RECIPIENTS), "amount": rng.choice((500, 1_500))}
                answer = http.post("/v1/transfers", headers={"Idempotency-Key": f"{sender}-{n}"}, json=body)
                with lock:
                    statuses[answer.status_code] += 1
                    if answer.status_code == 201:
                        moved[body["to"]] += body["amount"]

    try:
        server.start()
        threads = [threading.Thread(target=client, args=(sender,)) for sender in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        server.stop()
    assert statuses == {201: CLIENTS * TRANSFERS_EACH}, (statuses, server.log_tail())
    for msisdn in RECIPIENTS:
        account = container.customers.get(msisdn).account_id
        assert account is not None
        assert container.ledger.get_account(account).balance == moved[msisdn]
    assert audit.check(container.engine) == []
    container.close()
