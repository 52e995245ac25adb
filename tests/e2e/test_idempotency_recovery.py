"""A request the database dropped mid-way leaves its Idempotency-Key claimed; the retry runs at once.

When the database goes away under a request, the request fails (503) and so does releasing its key:
the claim stays, unanswered, owned by this very process. The process knows that no request of its own
is running that key any more, so the client's retry (the same key and body, once the database is
back) takes the claim over and runs at once. Before, the retry was told 409 "still running" until the
claim's lease ran out, a minute after every database restart.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from e2e_support import World, key
from sqlalchemy.exc import OperationalError

from sika.api import idempotency

AMA, KOFI = "+22890112233", "+22897112233"


def _database_away(*_: Any, **__: Any) -> Any:
    raise OperationalError("UPDATE …", {}, ConnectionRefusedError("connection refused"))


def _transfer(world: World) -> tuple[dict[str, str], dict[str, Any]]:
    """Ama's headers (her session, one Idempotency-Key) and a transfer of 1,500 to Kofi."""
    ama = world.wallet(AMA, "Ama Mensah", cash=10_000)
    world.wallet(KOFI, "Kofi Agbeko")
    return {**ama, **key()}, {"to": KOFI, "amount": 1_500}


def test_the_retry_of_a_request_the_database_dropped_runs_at_once_and_pays_once(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    headers, body = _transfer(world)
    with monkeypatch.context() as away:
        away.setattr(world.container.payments, "transfer", _database_away)
        away.setattr(idempotency, "_release", _database_away)
        dropped = world.client.post("/v1/transfers", headers=headers, json=body)
    assert dropped.status_code == 503, dropped.text

    retried = world.client.post("/v1/transfers", headers=headers, json=body)

    assert retried.status_code == 201, retried.text
    assert world.balance(KOFI) == 1_500
    assert world.balance(AMA) == 10_000 - 1_500 - retried.json()["fee"]
    again = world.client.post("/v1/transfers", headers=headers, json=body)
    assert (again.status_code, again.json()["id"]) == (201, retried.json()["id"])
    assert world.balance(KOFI) == 1_500


def test_a_retry_while_the_first_request_still_runs_here_is_told_to_wait(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    headers, body = _transfer(world)
    transfer = world.container.payments.transfer
    inside, go_on = threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        assert go_on.wait(30)
        return transfer(*args, **kwargs)

    monkeypatch.setattr(world.container.payments, "transfer", slow)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(
        world.client.post("/v1/transfers", headers=headers, json=body)))
    first.start()
    try:
        assert inside.wait(30)
        retried = world.client.post("/v1/transfers", headers=headers, json=body)
    finally:
        go_on.set()
        first.join(60)

    assert (retried.status_code, retried.json()["code"]) == (409, "idempotency_in_progress")
    assert answers[0].status_code == 201, answers[0].text
    assert world.balance(KOFI) == 1_500
