"""A purchase's settling writes its outcome, its details and its receipts; on PostgreSQL as one statement
(sika.payments.completion), the provider's receipt laid over the details the row holds then (a note
written meanwhile stays), the answer being the row as written. What the customer sees is as before:
the receipt with the token, the statement line, the balance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from reads_support import statements_run
from sqlalchemy import select

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.payments import Status, new_movement_id
from sika.payments.schema import outbox
from sika.wallet import Pin

AMA = "+22890112233"


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    agent, _ = built.agents.create("Boutique Bè", msisdn="+22892001122")
    built.payments.credit_float(new_movement_id(), agent, 100_000)
    built.customers.open(AMA, "Ama Mensah", language="fr", pin=Pin("4827"), tier=1)
    built.payments.cash_in(new_movement_id(), agent, AMA, 50_000)
    yield built
    built.close()


def _receipts(container: Container, movement_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    with container.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.msisdn, outbox.c.kind, outbox.c.params)
                                  .where(outbox.c.dedupe_key.like(f"{movement_id}:%")).order_by(outbox.c.id))
        return [(row.msisdn, row.kind, json.loads(row.params)) for row in rows]


def _buy_power(container: Container, movement_id: str, amount: int = 2_000) -> Any:
    payer = container.customers.get(AMA)
    return container.purchases.buy(movement_id, payer, provider="ceet", product="electricity",
                                   reference="12345678903", amount=amount, pin=Pin("4827"))


def _buy_unanswered_water(container: Container, movement_id: str) -> Any:
    due = container.purchases.quote("tde", "water", "10000002", None).amount  # the biller never answers
    return container.purchases.buy(movement_id, container.customers.get(AMA), provider="tde",
                                   product="water", reference="10000002", amount=due, pin=Pin("4827"))


def test_a_bill_settled_is_one_statement_with_its_receipt_on_postgresql(container: Container) -> None:
    movement_id = new_movement_id()
    with statements_run(container.engine) as seen:
        paid = _buy_power(container, movement_id)
    assert paid.status is Status.COMPLETED
    token = paid.details["receipt"]["token"]
    assert token and paid.provider_reference  # the answer is the row as written: the reference too
    assert container.movements.get(movement_id) == paid
    if container.engine.dialect.name == "postgresql":
        outcomes = [s for s in seen if s.startswith("WITH moved")]
        assert len(outcomes) == 2, seen  # on to pending (the hold), then completed with its receipt
        assert not any(s.startswith("INSERT INTO pay_outbox") for s in seen), seen
        assert not any("FOR UPDATE" in s for s in seen), seen  # the details merged by the statement
    ((to, kind, params),) = _receipts(container, movement_id)
    assert to == AMA and kind.startswith("receipt_") and params["receipt"]["token"] == token
    balance = container.ledger.get_account(container.customers.get(AMA).account_id).balance
    assert balance == 50_000 - 2_000 - paid.fee


def test_a_note_written_before_the_settling_stays_in_the_details(container: Container) -> None:
    movement_id = new_movement_id()
    pending = _buy_unanswered_water(container, movement_id)
    assert pending.status is Status.PENDING  # the biller has not answered
    container.movements.note(pending, payment_url="https://pay.example/10000002")  # noted meanwhile
    settled = container.payments.settle(movement_id, success=True, receipt={"reference": "TDE-77"})
    assert settled.status is Status.COMPLETED
    stored = container.movements.get(movement_id)
    assert stored.details["payment_url"] == "https://pay.example/10000002"  # kept
    assert stored.details["receipt"] == {"reference": "TDE-77"}
    assert stored.details["description"] == pending.details["description"]


def test_a_failed_bill_records_its_reason_and_queues_no_receipt(container: Container) -> None:
    movement_id = new_movement_id()
    pending = _buy_unanswered_water(container, movement_id)
    failed = container.payments.settle(movement_id, success=False, error_code="provider_timeout",
                                       reason="the biller never answered")
    assert failed.status is Status.FAILED and failed.error_code == "provider_timeout"
    assert failed.details["reason"] == "the biller never answered"
    assert failed.details["description"] == pending.details["description"]
    assert _receipts(container, movement_id) == []
    balance = container.ledger.get_account(container.customers.get(AMA).account_id).balance
    assert balance == 50_000  # the hold returned
