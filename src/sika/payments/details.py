"""Writing a movement's ``details`` without losing a note written meanwhile.

Several threads write one movement's details: the provider's answer notes where the customer pays (a
card's ``payment_url``), its callback settles the movement and records a receipt, reconciliation notes a
late outcome. Each computes its details from a copy read earlier; written as they are, the last writer
would erase what another added in between (a card top-up answered without its payment page, once the
card's callback came first). :func:`merged_json` reads the row again inside the writing transaction
(locked: ``FOR UPDATE`` on PostgreSQL, the write lock on SQLite) and lays the new details over it, so
keys written by others stay.

A merge alone would put back a key its writer took away. A writer that computed all its details
from a copy read earlier, and may take a key away (a hold's capture: its reward groups replace the
hold's ``extras``, and none is left when they are all refused; ``sika.payments.settlement``), writes
with :func:`rebased_json`: what it changed in its copy, done to the row as it is now. A writer that
takes away less than a key (one refused group out of ``extras``: :func:`sika.payments.hooks.drop_group`)
does it again to the row's :func:`stored_details`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, select

from sika.payments.schema import movements
from sika.prepared import Prepared

__all__ = ["merged_json", "merged_text", "rebased_json", "rebased_text", "stored_details",
           "stored_details_and_legs"]

# FOR UPDATE on PostgreSQL; SQLite has no such clause (its writer holds the one write lock already).
_DETAILS = Prepared(select(movements.c.details).where(movements.c.id == bindparam("b_id")).with_for_update())
_DETAILS_AND_LEGS = Prepared(select(movements.c.details, movements.c.legs)
                             .where(movements.c.id == bindparam("b_id")).with_for_update())


def stored_details(connection: Connection, movement_id: str) -> dict[str, Any]:
    """The row's details as they are now, read (locked) for a write in this transaction."""
    stored = _DETAILS.scalar(connection, {"b_id": movement_id})
    return json.loads(stored) if stored else {}


def stored_details_and_legs(connection: Connection, movement_id: str) -> tuple[dict[str, Any], str | None]:
    """The row's details and its legs' JSON (None: no such row) as they are now, read (locked) for a
    write in this transaction."""
    row = _DETAILS_AND_LEGS.first(connection, {"b_id": movement_id})
    if row is None:
        return {}, None
    return (json.loads(row.details) if row.details else {}), row.legs


def merged_json(connection: Connection, movement_id: str, details: dict[str, Any]) -> str:
    """``details`` over the row's current details, as the JSON to write in this transaction."""
    return merged_text(stored_details(connection, movement_id), details)


def merged_text(stored: dict[str, Any], details: dict[str, Any]) -> str:
    """``details`` over ``stored`` (a row's details, as read), as the JSON to write."""
    return json.dumps({**stored, **details}, separators=(",", ":"))


def rebased_json(connection: Connection, movement_id: str, read: Mapping[str, Any],
                 details: Mapping[str, Any]) -> str:
    """``details``, computed from ``read`` (the row's details as read earlier), as the JSON to write in
    this transaction: see :func:`rebased_text`."""
    return rebased_text(stored_details(connection, movement_id), read, details)


def rebased_text(stored: Mapping[str, Any], read: Mapping[str, Any], details: Mapping[str, Any]) -> str:
    """What ``details`` changed in ``read`` (an earlier copy of the row's details), done to ``stored``
    (the row's details now): the keys it adds or changes laid over them, the keys it dropped from
    ``read`` dropped from them too (merged, they would come back). A key another writer added or
    changed since ``read``, and that ``details`` leaves as it was, stays as that writer wrote it. When
    nobody wrote meanwhile (``stored == read``), the answer is ``details`` itself."""
    kept = {key: value for key, value in stored.items() if key in details or key not in read}
    changed = {key: value for key, value in details.items() if key not in read or read[key] != value}
    return merged_text(kept, changed)
