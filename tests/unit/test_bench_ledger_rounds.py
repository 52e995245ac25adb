"""``sika bench ledger`` cuts its plan into rounds the ledger and the floor take in turn."""

from __future__ import annotations

from sika.bench.ledger import _rounds


def test_every_request_goes_once_in_order_and_each_round_holds_a_slice_of_every_client() -> None:
    plan = [[[f"a{i}"] for i in range(7)], [[f"b{i}"] for i in range(10)]]
    parts = _rounds(plan, 5)  # type: ignore[arg-type]
    assert len(parts) == 5
    for client, requests in enumerate(plan):
        assert [r for part in parts for r in part[client]] == requests
        assert all(part[client] for part in parts)


def test_a_client_with_fewer_requests_than_rounds_sits_some_out() -> None:
    plan = [[["x"], ["y"]], [["z"]] * 9]
    parts = _rounds(plan, 5)  # type: ignore[arg-type]
    assert len(parts) == 5
    assert [r for part in parts for r in part[0]] == [["x"], ["y"]]
    assert sum(1 for part in parts if part[0]) == 2
    assert [r for part in parts for r in part[1]] == plan[1]


def test_fewer_rounds_when_no_client_has_that_many_requests() -> None:
    assert len(_rounds([[["x"], ["y"]], [["z"]]], 5)) == 2  # type: ignore[arg-type]
