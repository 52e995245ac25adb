"""The payments hook on its own, with a hook written here (not promotions): an optional group of legs
rides in the movement's chain when the ledger can pay it and is dropped for good when it cannot, so
that every try of the movement agrees on what happened, and the movement itself never fails for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import AccountFlags, AccountKind, Transfer, TransferResult, audit
from sika.payments import Movement, Status, new_movement_id
from sika.payments.hooks import Additions, Draft, Extra, without_group
from sika.payments.movements import Code, Kind, Leg, Role, chain
from sika.wallet import Pin


class Gift:
    """Adds "a gift of 100 from the pot" to every transfer; remembers what completed."""

    def __init__(self, pot: int) -> None:
        self.pot = pot
        self.completed_ids: list[str] = []

    def extras(self, draft: Draft) -> Additions:
        if draft.kind is not Kind.TRANSFER or draft.payer_account_id is None:
            return Additions()
        leg = Leg(
            f"{draft.id}.ogift.0",
            self.pot,
            draft.payer_account_id,
            100,
            Code.REWARD,
            Role.PROMOTION,
            optional="gift",
        )
        return Additions((Extra("gift", (leg,), {"amount": 100}),), {"asked": True})

    def completed(self, connection: Connection, movement: Movement, now_ns: int) -> None:
        self.completed_ids.append(movement.id)

    def follows_up(self, movement: Movement) -> bool:
        return True  # it hears of every completed movement


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="off"))
    yield built
    assert audit.check(built.engine) == []
    built.close()


def _pot(container: Container, amount: int) -> int:
    pot = container.ledger.create_account(
        currency="XOF", kind=AccountKind.SUSPENSE, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    ).id
    if amount:
        bank = container.payments.accounts.id("settlement_bank")
        assert container.ledger.submit(
            [
                Transfer(
                    id=f"pot-{pot}",
                    debit_account_id=bank,
                    credit_account_id=pot,
                    amount=amount,
                    code=Code.FLOAT,
                )
            ]
        ) == [TransferResult.OK]
    return pot


def test_a_group_rides_with_the_movement_or_is_dropped_and_the_movement_goes_on(container: Container) -> None:
    agent, _ = container.agents.create("Boutique")
    container.payments.credit_float(new_movement_id(), agent, 100_000)
    for msisdn in ("+22890112233", "+22897112233"):
        container.customers.open(msisdn, "Client", pin=Pin("4827"), tier=1)
    container.payments.cash_in(new_movement_id(), agent, "+22890112233", 10_000)
    gift = Gift(_pot(container, 150))
    container.movements.hooks = [gift]
    ama = container.customers.get("+22890112233")
    first = container.payments.transfer(new_movement_id(), ama, "+22897112233", 1_000)
    second = container.payments.transfer(new_movement_id(), ama, "+22897112233", 1_000)
    assert (first.status, second.status) == (Status.COMPLETED, Status.COMPLETED)
    assert first.details["extras"] == {"gift": {"amount": 100}} and first.details["asked"] is True
    assert "extras" not in second.details
    assert second.details["dropped"] == {"gift": [Code.REWARD, "exceeds_credits", "0"]}  # its leg ".0"
    assert [leg.optional for leg in second.legs] == ["", "", ""]  # the row no longer carries the group
    assert (
        container.ledger.get_account(ama.account_id or 0).balance
        == 10_000 - 2_000 - first.fee - second.fee + 100
    )
    assert gift.completed_ids == [first.id, second.id]
    # A late try still carrying the group cannot pay it: its first leg's id is a tombstone now.
    late = chain(
        [
            *second.legs[:-1],
            *[
                Leg(
                    f"{second.id}.ogift.0",
                    gift.pot,
                    ama.account_id or 0,
                    100,
                    Code.REWARD,
                    Role.PROMOTION,
                    optional="gift",
                )
            ],
            second.legs[-1],
        ],
        second.id,
    )
    results = container.ledger.submit(late)
    assert TransferResult.EXISTS_WITH_DIFFERENT_FIELDS in results


def test_a_try_that_finds_the_group_paid_by_another_try_keeps_it(container: Container) -> None:
    payer = container.ledger.create_account(currency="XOF", kind=AccountKind.CUSTOMER_WALLET).id
    pot = _pot(container, 500)
    leg = Leg("mv_race.ogift.0", pot, payer, 100, Code.REWARD, Role.PROMOTION, optional="gift")
    assert container.ledger.submit(chain([leg], "mv_race")) == [TransferResult.OK]  # the other try
    counting = (
        container.payments.accounts.id("meter_source"),
        container.payments.accounts.id("movement_guard"),
    )
    kept = without_group(
        container.ledger,
        "mv_race",
        [leg],
        {"extras": {"gift": {}}},
        (leg, TransferResult.EXCEEDS_CREDITS),
        counting=counting,
    )
    assert kept is None  # not dropped: the group went through with the chain
    other = Leg("mv_race2.ogift.0", pot, payer, 100, Code.REWARD, Role.PROMOTION, optional="gift")
    dropped = without_group(
        container.ledger,
        "mv_race2",
        [other],
        {"extras": {"gift": {}}},
        (other, TransferResult.EXCEEDS_CREDITS),
        counting=counting,
    )
    assert dropped == ([], {"dropped": {"gift": [Code.REWARD, "exceeds_credits", "0"]}})
    again = without_group(
        container.ledger,
        "mv_race2",
        [other],
        {"extras": {"gift": {}}},
        (other, TransferResult.EXISTS_WITH_DIFFERENT_FIELDS),
        counting=counting,
    )
    assert again is not None and again[0] == []  # a second try agrees: dropped


def test_a_party_the_movement_has_no_column_for_is_refused_not_dropped(container: Container) -> None:
    """A misspelt party (``payee_id`` for ``payee_customer_id``) would be left out of the row unsaid."""
    movements = container.movements
    with pytest.raises(TypeError, match="payee_id"):
        movements.run(new_movement_id(), [], kind=Kind.TRANSFER, amount=100, payee_id=1)
