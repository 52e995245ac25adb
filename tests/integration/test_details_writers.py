"""The two writers that take something out of a movement's details keep a note another writer added
meanwhile (sika.payments.details): a reward group dropped while the payment runs, and a wallet ride's
capture. The note is written at the worst moment, between the writer's read and its write (on SQLite,
a group is dropped inside the payment's one transaction: the note is written in it, as a step of it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from promotions_support import Town, assert_adds_up

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import AccountFlags, AccountKind, Transfer, TransferResult, audit
from sika.payments import Movement
from sika.payments import hooks as payment_hooks
from sika.payments.hooks import Additions, Draft, Extra
from sika.payments.movements import Code, Kind, Leg, Role
from sika.payments.settlement import Movements
from sika.rides.geo import Point


class Gift:
    """Adds "a gift of 100 from the pot" to every transfer (as tests/integration/test_movement_hooks)."""

    def __init__(self, pot: int) -> None:
        self.pot = pot

    def extras(self, draft: Draft) -> Additions:
        if draft.kind is not Kind.TRANSFER or draft.payer_account_id is None:
            return Additions()
        leg = Leg(f"{draft.id}.ogift.0", self.pot, draft.payer_account_id, 100, Code.REWARD, Role.PROMOTION,
                  optional="gift")
        return Additions((Extra("gift", (leg,), {"amount": 100}),), {"asked": True})

    def completed(self, connection: Any, movement: Movement, now_ns: int) -> None:
        pass

    def follows_up(self, movement: Movement) -> bool:
        return True


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    yield built
    assert audit.check(built.engine) == []
    built.close()


def test_a_group_dropped_while_the_payment_runs_keeps_a_note_written_meanwhile(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    town = Town.open(container)
    ama, kofi = town.wallet("Ama", 10_000), town.wallet("Kofi")
    pot = container.ledger.create_account(currency="XOF", kind=AccountKind.SUSPENSE,
                                          flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS).id
    bank = container.payments.accounts.id("settlement_bank")
    assert container.ledger.submit([Transfer(id=f"pot-{pot}", debit_account_id=bank, credit_account_id=pot,
                                             amount=150, code=Code.FLOAT)]) == [TransferResult.OK]
    container.movements.hooks = [Gift(pot)]
    first = town.send(ama, kofi, 1_000)
    assert first.details["extras"] == {"gift": {"amount": 100}}  # the pot has 50 left: the next drops it

    real = payment_hooks.without_group
    noted: list[str] = []

    def then_a_note(*args: Any, **kwargs: Any) -> Any:
        kept = real(*args, **kwargs)
        # The ledger has the tombstone; the row is not written yet: another writer notes something.
        movement = container.movements.get(args[1])
        assert "gift" in movement.details["extras"]
        container.movements.note(movement, reconciled="by another thread")
        noted.append(movement.id)
        return kept

    monkeypatch.setattr(payment_hooks, "without_group", then_a_note)
    second = town.send(ama, kofi, 1_000)
    assert noted == [second.id]
    for details in (second.details, container.movements.get(second.id).details):
        assert details["reconciled"] == "by another thread"  # the other writer's note stays
        # and the group is gone for good: a merge of the copy over the row would have kept it
        assert "extras" not in details
        assert details["dropped"] == {"gift": [Code.REWARD, "exceeds_credits", "0"]}
        assert details["asked"] is True and details["operation"] == first.details["operation"]
    assert [leg.optional for leg in container.movements.get(second.id).legs] == ["", "", ""]
    assert town.balance(ama) == 10_000 - 2_000 - first.fee - second.fee + 100


def test_a_wallet_rides_capture_keeps_a_note_written_meanwhile(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    town = Town.open(container)
    rides = container.rides
    assert rides is not None
    campaign = town.campaign("ride_discount", 5_000,
                             rules={"percent": 10, "reward_max": 1_000, "cities": ["lome"]})
    kofi = rides.onboard(town.wallet("Kofi"), city_id="lome", vehicle_type="moto", plate="TG-7101-AA")
    rides.set_documents(kofi.id, "approved")
    rides.update_location(kofi.id, Point(6.1330, 1.2240))
    rides.set_online(kofi.id, online=True)
    ama = town.wallet("Ama", 20_000)
    trip = rides.request("trip-note-1", ama, city_id="lome", vehicle_type="moto",
                         pickup=Point(6.1319, 1.2228), dropoff=Point(6.1725, 1.2145), payment_method="wallet")
    assert trip.payment_id is not None
    held = container.movements.get(trip.payment_id)

    real = Movements._post_hold
    noted: list[str] = []

    def then_a_note(self: Movements, movement: Movement, *args: Any) -> Any:
        refused = real(self, movement, *args)
        # Posted in the ledger; the row is not written yet: another writer notes something.
        self.note(movement, reconciled="by another thread")
        noted.append(movement.id)
        return refused

    monkeypatch.setattr(Movements, "_post_hold", then_a_note)
    rides.accept(kofi.id, trip.id)
    rides.arrive(kofi.id, trip.id)
    rides.start(kofi.id, trip.id)
    rides.complete(kofi.id, trip.id)
    assert noted == [trip.payment_id]
    fare = rides.trip(trip.id).final_fare
    assert fare is not None
    captured = container.movements.get(trip.payment_id)
    assert captured.amount == fare
    details = captured.details
    assert details["reconciled"] == "by another thread"  # the other writer's note stays
    # and the capture's own: the fare and the hold beside it, the discount's group
    assert (details["trip"], details["fare"], details["hold"]) == (trip.id, fare, held.amount)
    (group,) = details["extras"].values()
    assert (group["campaign"], group["amount"]) == (campaign.id, fare // 10)
    assert town.balance(ama) == 20_000 - fare + fare // 10
    assert assert_adds_up(town, campaign).spent == fare // 10

