"""Movement kinds are open (a domain names and registers its own) and a movement's status follows one
state machine (sika.payments.runner's docstring)."""

from __future__ import annotations

import json

import pytest

from sika.payments.hooks import KindHooks, Kinds
from sika.payments.movements import TRANSITIONS, Kind, Status, check_transition, movement_from_row
from sika.rides.payment_kinds import RIDE


def _row(kind: str) -> dict[str, object]:
    return {"id": "mv_1", "kind": kind, "status": "completed", "amount": 800, "fee": 0, "commission": 0,
            "currency": "XOF", "payer_customer_id": 1, "payee_customer_id": None, "agent_id": None,
            "merchant_id": None, "counterparty": "Lomé moto", "provider": None, "product": None,
            "provider_reference": None, "details": json.dumps({"trip": "t1", "fare": 800}),
            "error_code": None, "created_at_ns": 1, "updated_at_ns": 1, "legs": "[]", "deadline_ns": None,
            "request_digest": None}


def test_a_stored_kind_reads_back_as_the_same_kind_object_registered_or_not() -> None:
    assert movement_from_row(_row("ride")).kind is RIDE
    assert movement_from_row(_row("transfer")).kind is Kind.TRANSFER
    unknown = movement_from_row(_row("some_old_kind")).kind
    assert unknown == "some_old_kind" and str(unknown) == "some_old_kind" and f"{unknown}" == "some_old_kind"
    assert json.dumps({"kind": unknown}) == '{"kind": "some_old_kind"}'


@pytest.mark.parametrize("name", ["", "Ride", "ride-cash", "a" * 25, "1ride"])
def test_a_kind_name_is_short_lowercase_words(name: str) -> None:
    with pytest.raises(ValueError, match="movement kind"):
        Kind(name)


def test_a_kind_nobody_registered_behaves_as_a_plain_payment() -> None:
    kinds = Kinds()
    hooks = kinds.of(Kind("some_old_kind"))
    movement = movement_from_row(_row("some_old_kind"))
    assert hooks.receipt_amount(movement) == 800
    assert hooks.needs_attention(movement) is False
    assert hooks.taken == ("voucher_settled", "this was paid out already")


def test_a_registered_kind_uses_its_hooks() -> None:
    class Fare(KindHooks):
        def receipt_amount(self, movement: object) -> int:
            return 1

    kinds = Kinds()
    kinds.register(Kind("some_fare"), Fare())
    assert kinds.of(Kind("some_fare")).receipt_amount(movement_from_row(_row("some_fare"))) == 1


def test_completed_and_failed_are_final_and_the_documented_steps_are_allowed() -> None:
    assert TRANSITIONS[Status.COMPLETED] == TRANSITIONS[Status.FAILED] == frozenset()
    for current, target in [(Status.PROCESSING, Status.COMPLETED), (Status.PROCESSING, Status.FAILED),
                            (Status.PROCESSING, Status.PENDING), (Status.PENDING, Status.COMPLETED),
                            (Status.PENDING, Status.FAILED), (Status.PENDING, Status.PROCESSING)]:
        assert check_transition(current, target) is target
    for current, target in [(Status.COMPLETED, Status.FAILED), (Status.FAILED, Status.COMPLETED),
                            (Status.COMPLETED, Status.PENDING), (Status.PROCESSING, Status.PROCESSING)]:
        with pytest.raises(AssertionError, match="cannot go"):
            check_transition(current, target)
