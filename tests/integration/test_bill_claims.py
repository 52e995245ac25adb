"""One bill is paid once, even by two processes (two containers on one database, each with its own
fakes, which cannot know what the other paid): the claim lives in the database."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from sika.api.statuses import status_of
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.payments import Status
from sika.payments.bill_claims import BillAlreadyPaid
from sika.payments.schema import bill_claims
from sika.wallet import Pin

AMA, KOFI = "+22890112233", "+22897112233"


@pytest.fixture
def two(database_url: str) -> Iterator[tuple[Container, Container]]:
    first = bootstrap(Settings(database_url=database_url, providers="instant"))
    second = bootstrap(Settings(database_url=database_url, providers="instant"), migrate=False)
    agent, _ = first.agents.create("Boutique")
    first.payments.credit_float("float", agent, 1_000_000).raise_for_failure()
    for msisdn, name in ((AMA, "Ama"), (KOFI, "Kofi")):
        first.customers.open(msisdn, name, pin=Pin("4827"), tier=1)
        first.payments.cash_in(f"cash-{msisdn}", agent, msisdn, 100_000).raise_for_failure()
    yield first, second
    second.close()
    first.close()


def pay(container: Container, movement_id: str, msisdn: str, reference: str) -> Status:
    due = container.purchases.quote("tde", "water", reference, None).amount
    payer = container.customers.get(msisdn)
    return container.purchases.buy(movement_id, payer, provider="tde", product="water", reference=reference,
                                   amount=due).status


def balance(container: Container, msisdn: str) -> int:
    account = container.customers.get(msisdn).account_id
    assert account is not None
    return container.ledger.get_account(account).balance


def test_a_bill_paid_in_one_process_is_refused_in_another(two: tuple[Container, Container]) -> None:
    first, second = two
    assert pay(first, "mv_bill_1", AMA, "12345678") is Status.COMPLETED
    with pytest.raises(BillAlreadyPaid) as again:
        pay(second, "mv_bill_2", KOFI, "12345678")  # the second process's fake would take it
    assert (again.value.code, status_of(again.value)) == ("bill_already_paid", 409)
    assert second.payments.find("mv_bill_2") is None
    assert balance(second, KOFI) == 100_000
    assert pay(second, "mv_bill_3", KOFI, "23456789") is Status.COMPLETED  # another bill is fine


def test_a_bill_whose_payment_failed_may_be_paid_again(two: tuple[Container, Container]) -> None:
    first, second = two
    assert pay(first, "mv_bill_4", AMA, "10000002") is Status.PENDING  # the biller never answers
    with pytest.raises(BillAlreadyPaid):
        pay(second, "mv_bill_5", KOFI, "10000002")  # being paid
    first.payments.settle("mv_bill_4", success=False, error_code="provider_timeout", reason="gave up")
    assert pay(second, "mv_bill_6", KOFI, "10000002") is Status.PENDING  # claimed anew
    with second.engine.connect() as connection:
        holders = connection.execute(select(bill_claims.c.movement_id)).scalars().all()
    assert holders == ["mv_bill_6"]


def test_two_processes_paying_one_bill_at_the_same_moment_pay_it_once(
        two: tuple[Container, Container]) -> None:
    first, second = two
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def attempt(container: Container, movement_id: str, msisdn: str) -> None:
        start.wait()
        try:
            outcomes[movement_id] = str(pay(container, movement_id, msisdn, "34567890"))
        except BillAlreadyPaid as refused:
            outcomes[movement_id] = refused.code

    threads = [threading.Thread(target=attempt, args=(first, "mv_race_1", AMA)),
               threading.Thread(target=attempt, args=(second, "mv_race_2", KOFI))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes.values()) == ["bill_already_paid", "completed"]
    assert balance(first, AMA) + balance(first, KOFI) < 200_000  # one of them paid, once
