"""A payment's outcome on PostgreSQL as one statement, when the outcome writes nothing but its row and
its receipts (and details added to the row's).

:meth:`sika.payments.runner.Runner.recorded_outcome` writes the outcome, the receipts and the kind's
and hooks' follow-ups in one transaction: ``BEGIN``, the update, the receipts, ``COMMIT``, four round
trips (a purchase's settling also read the details ``FOR UPDATE`` to merge them, and the row again
after). Most payments (a transfer, a bill, airtime) have no follow-up, so the update and the receipts
go as one statement, which PostgreSQL runs as a transaction of its own: one round trip, as atomic and
as durable. The receipts are inserted only if the update found the row still in the status it was
read in (``WHERE EXISTS``): another try that recorded an outcome first leaves nothing queued twice.
The details the statement writes are ``jsonb``'s text of the merge: its keys in ``jsonb``'s order and
spacing (the same keys and values; nothing compares the text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, text

from sika import jsoncodec
from sika.arrays import text_array
from sika.payments.schema import movements
from sika.prepared import Prepared

__all__ = ["complete_alone", "jsonb_fit"]

# What ``jsonb`` refuses that a JSON text may hold: a NUL, a surrogate escape (a lone one, as a
# provider's text cut inside an emoji is written; a pair is taken too, to be simple), NaN and the
# infinities (sika.jsoncodec's fallback writes them). Details carrying one are merged in Python.
_JSONB_UNFIT = re.compile(r"\\u0000|\\u[dD][89abAB]|\\u[dD][c-fC-F]|\bNaN\b|Infinity")
# The row's columns, named: what comes back is the row as written, whatever the table's order.
_COLUMNS = ", ".join(movements.c.keys())

# Updated only where still ``current``; the receipts follow the update or nothing (a second enqueue of
# a dedupe key is a no-op, as sika.payments.outbox.enqueue's). New details are laid over the row's
# (``||``: keys another writer added meanwhile stay, as sika.payments.details.merged_json keeps
# them). The row comes back as written. (The only text put in the SQL is the table's own column names.)
# Every parameter's type is written out: the statement then goes straight to libpq
# (sika.libpq_statements), a third of the client's CPU a statement.
_COMPLETE = Prepared(text(
    "WITH moved AS (UPDATE pay_movements SET status = CAST(:status AS VARCHAR),"  # noqa: S608
    " error_code = CAST(:error AS VARCHAR), updated_at_ns = CAST(:now AS BIGINT),"
    " details = CASE WHEN CAST(:details AS TEXT) IS NULL THEN details"
    " ELSE (CAST(COALESCE(NULLIF(details, ''), '{}') AS JSONB) || CAST(:details AS JSONB))::TEXT END"
    " WHERE id = CAST(:id AS VARCHAR) AND status = CAST(:current AS VARCHAR)"
    f" RETURNING {_COLUMNS}),"
    " queued AS (INSERT INTO pay_outbox (dedupe_key, msisdn, kind, params, status, next_attempt_ns,"
    " created_at_ns) SELECT q.dedupe_key, q.msisdn, q.kind, q.params, 'queued', CAST(:now AS BIGINT),"
    " CAST(:now AS BIGINT)"
    " FROM unnest(CAST(:keys AS TEXT[]), CAST(:msisdns AS TEXT[]), CAST(:kinds AS TEXT[]),"
    " CAST(:params AS TEXT[])) AS q(dedupe_key, msisdn, kind, params)"
    " WHERE EXISTS (SELECT 1 FROM moved) ON CONFLICT (dedupe_key) DO NOTHING)"
    f" SELECT {_COLUMNS} FROM moved"))


def jsonb_fit(details_json: str) -> bool:
    """Whether PostgreSQL's ``jsonb`` takes this JSON text as it is (see ``_JSONB_UNFIT``)."""
    return _JSONB_UNFIT.search(details_json) is None


def complete_alone(engine: Engine, movement_id: str, *, current: str, status: str, error_code: str | None,
                   now_ns: int, details_json: str | None,
                   receipts: Sequence[tuple[str, str, str, dict[str, Any]]]) -> dict[str, Any] | None:
    """Move the row from ``current`` to ``status`` (``details_json``, if any, over its details) and queue
    ``receipts`` (``(dedupe_key, msisdn, kind, params)``), as one transaction on PostgreSQL; the row
    as written, or None when it was no longer ``current`` (nothing was written)."""
    assert engine.dialect.name == "postgresql", "SQLite records an outcome within its together"
    assert details_json is None or jsonb_fit(details_json), "merge these details in Python"
    row = _COMPLETE.first_alone(engine, {
        "id": movement_id, "current": current, "status": status, "error": error_code, "now": now_ns,
        "details": details_json,
        # As array literals (sika.arrays): psycopg's list dumper is Python, a value at a time.
        "keys": text_array([r[0] for r in receipts]), "msisdns": text_array([r[1] for r in receipts]),
        "kinds": text_array([r[2] for r in receipts]),
        "params": text_array([jsoncodec.dumps(r[3]) for r in receipts])})
    return None if row is None else row._mapping
