"""Writing a movement's ``details`` without losing a note written meanwhile.

Several threads write one movement's details: the provider's answer notes where the customer pays (a
card's ``payment_url``), its callback settles the movement and records a receipt, reconciliation notes a
late outcome. Each computes its details from a copy read earlier; written as they are, the last writer
would erase what another added in between (a card top-up answered without its payment page, once the
card's callback came first). :func:`merged_json` reads the row again inside the writing transaction
(locked: ``FOR UPDATE`` on PostgreSQL, the write lock on SQLite) and lays the new details over it, so
keys written by others stay. Only for writers that add or replace keys: one that removes a key (a
refused reward's group dropped from ``extras``) writes its dict whole.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, bindparam, select

from sika.payments.schema import movements
from sika.prepared import Prepared

__all__ = ["merged_json", "merged_text"]

# FOR UPDATE on PostgreSQL; SQLite has no such clause (its writer holds the one write lock already).
_DETAILS = Prepared(select(movements.c.details).where(movements.c.id == bindparam("b_id")).with_for_update())


def merged_json(connection: Connection, movement_id: str, details: dict[str, Any]) -> str:
    """``details`` over the row's current details, as the JSON to write in this transaction."""
    stored = _DETAILS.scalar(connection, {"b_id": movement_id})
    return merged_text(json.loads(stored) if stored else {}, details)


def merged_text(stored: dict[str, Any], details: dict[str, Any]) -> str:
    """``details`` over ``stored`` (a row's details, as read), as the JSON to write."""
    return json.dumps({**stored, **details}, separators=(",", ":"))
