"""A writer's details, computed from an earlier copy, done to the row as it is now (sika.payments.details)."""

from __future__ import annotations

import json

from sika.payments.details import rebased_text


def test_with_nobody_writing_meanwhile_the_details_are_written_as_computed() -> None:
    read = {"trip": "t1", "extras": {"old": {}}}
    details = {"trip": "t1", "fare": 900, "hold": 1_500}  # ``extras`` taken away
    assert json.loads(rebased_text(read, read, details)) == details


def test_a_key_written_meanwhile_stays_and_a_key_taken_away_does_not_come_back() -> None:
    read = {"trip": "t1", "extras": {"old": {}}, "description": "a ride"}
    stored = {**read, "reconciled": "yes", "description": "a ride, corrected"}
    details = {"trip": "t1", "fare": 900, "description": "a ride"}
    assert json.loads(rebased_text(stored, read, details)) == {
        "trip": "t1",
        "fare": 900,
        "reconciled": "yes",  # another writer's
        "description": "a ride, corrected",  # changed by another writer, left alone by this one
    }


def test_a_key_this_writer_changes_is_its_own() -> None:
    read = {"fare": 800}
    assert json.loads(rebased_text({"fare": 850, "note": 1}, read, {"fare": 900})) == {"fare": 900, "note": 1}
