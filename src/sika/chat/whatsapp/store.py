"""Reading and writing WhatsApp's tables (see :mod:`sika.chat.whatsapp.schema` for the states).

Every write that follows a claim names the lease it was given (``lease_until_ns``, a fencing token):
a worker whose lease ran out and was taken over changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sika.chat.messages import MASK, Attachment, Inbound, InboundKind, Location
from sika.chat.whatsapp.schema import contacts, inbox, outbound
from sika.chat.whatsapp.webhook import StatusUpdate
from sika.payments.queue import backoff_ns

__all__ = [
    "Outgoing",
    "add_inbound",
    "apply_statuses",
    "decode_inbound",
    "defer",
    "encode_inbound",
    "enqueue_outbound",
    "finish_inbound",
    "last_inbound_ns",
    "lease_outbound",
    "older_queued_ns",
    "outbound_status",
    "prune",
    "retry_inbound",
    "sent_outbound",
    "unsent_outbound",
]

_NS = 1_000_000_000
ERROR_CHARS_MAX = 200
PRUNE_BATCH_MAX = 10_000
# A status may only move forward: the webhooks for one message can arrive out of order.
_BEFORE = {"sent": ("queued",), "delivered": ("queued", "sent"), "read": ("queued", "sent", "delivered"),
           "failed": ("queued", "sent", "delivered")}


class _LeaseLost(Exception):
    """Another worker took the row over: roll back."""


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """One Cloud API body to queue; ``secret_body_json`` is the unmasked one, when it differs."""

    body_json: str
    secret_body_json: str | None = None


# The inbox ------------------------------------------------------------------------------------------

def add_inbound(engine: Engine, inbound: Inbound, *, sent_at_ns: int, now_ns: int) -> bool:
    """Store a received message once (a second delivery of its id is a no-op) and open its sender's
    24-hour window. Returns whether it was new."""
    assert inbound.channel == "whatsapp" and inbound.message_id and inbound.msisdn.startswith("+")
    row = {"message_id": inbound.message_id, "msisdn": inbound.msisdn, "kind": inbound.kind.value,
           "text": inbound.text, "choice_id": inbound.choice_id, "payload_json": encode_inbound(inbound),
           "status": "queued", "attempts": 0, "next_attempt_ns": now_ns, "received_at_ns": now_ns}
    with engine.begin() as connection:
        dialect = _dialect(connection)
        # RETURNING rather than rowcount: with PostgreSQL's implicit RETURNING, rowcount is -1.
        added = connection.execute(dialect.insert(inbox).values(row).on_conflict_do_nothing(
            index_elements=["message_id"]).returning(inbox.c.id)).first() is not None
        fresh = dialect.insert(contacts).values(msisdn=inbound.msisdn, last_inbound_at_ns=sent_at_ns)
        connection.execute(fresh.on_conflict_do_update(
            index_elements=["msisdn"],
            set_={"last_inbound_at_ns": case(
                (fresh.excluded.last_inbound_at_ns > contacts.c.last_inbound_at_ns,
                 fresh.excluded.last_inbound_at_ns),
                else_=contacts.c.last_inbound_at_ns)}))
    return added


def finish_inbound(engine: Engine, row: Any, lease: int, outgoing: Sequence[Outgoing], *, secret: bool,
                   now_ns: int) -> list[int] | None:
    """Mark a claimed message handled and queue its answers, in one transaction; the answers' row
    ids, or None when our lease was lost (nothing is written then). A secret's text is masked here."""
    values: dict[str, Any] = {"status": "done", "handled_at_ns": now_ns, "lease_until_ns": None}
    if secret:
        masked = dataclasses.replace(decode_inbound(row["payload_json"]), text=MASK)
        values.update(text=MASK, payload_json=encode_inbound(masked))
    try:
        with engine.begin() as connection:
            taken = connection.execute(
                update(inbox).where(inbox.c.id == row["id"], inbox.c.status == "queued",
                                    inbox.c.lease_until_ns == lease).values(values)).rowcount
            if not taken:
                raise _LeaseLost
            keys = [f"inbox:{row['id']}:{n}" for n in range(len(outgoing))]
            return enqueue_outbound(connection, row["msisdn"], outgoing, keys=keys, now_ns=now_ns)
    except _LeaseLost:
        return None


def retry_inbound(engine: Engine, row: Any, lease: int, error: BaseException, *, now_ns: int,
                  attempts_max: int) -> bool:
    """Put a message back after a failure, later, or give up on it; returns whether we gave up."""
    gave_up = int(row["attempts"]) >= attempts_max
    with engine.begin() as connection:
        connection.execute(
            update(inbox).where(inbox.c.id == row["id"], inbox.c.status == "queued",
                                inbox.c.lease_until_ns == lease)
            .values(status="failed" if gave_up else "queued", lease_until_ns=None,
                    next_attempt_ns=now_ns + backoff_ns(int(row["attempts"])),
                    last_error=type(error).__name__[:ERROR_CHARS_MAX]))
    return gave_up


# Both queues ----------------------------------------------------------------------------------------

def older_queued_ns(engine: Engine, table: Table, msisdn: str, row_id: int) -> int | None:
    """When the oldest still-queued earlier row for the same number is due, if there is one: rows
    for one person are handled in the order they came."""
    with engine.connect() as connection:
        due: int | None = connection.execute(
            select(func.min(table.c.next_attempt_ns))
            .where(table.c.msisdn == msisdn, table.c.id < row_id, table.c.status == "queued")).scalar()
    return due


def defer(engine: Engine, table: Table, row_id: int, lease: int, *, until_ns: int) -> None:
    """Give a claimed row back without counting the claim as an attempt."""
    with engine.begin() as connection:
        connection.execute(
            update(table).where(table.c.id == row_id, table.c.status == "queued",
                                table.c.lease_until_ns == lease)
            .values(lease_until_ns=None, next_attempt_ns=until_ns, attempts=table.c.attempts - 1))


def prune(engine: Engine, *, before_ns: int, limit: int = PRUNE_BATCH_MAX) -> int:
    """Forget finished messages received or sent before ``before_ns`` (at most ``limit`` per table)."""
    assert 0 < limit <= PRUNE_BATCH_MAX
    removed = 0
    with engine.begin() as connection:
        for table, stamp, finished in ((inbox, inbox.c.received_at_ns, ("done", "failed")),
                                       (outbound, outbound.c.created_at_ns,
                                        ("sent", "delivered", "read", "failed"))):
            old = (select(table.c.id).where(stamp < before_ns, table.c.status.in_(finished))
                   .order_by(table.c.id).limit(limit))
            removed += connection.execute(delete(table).where(table.c.id.in_(old.scalar_subquery()))).rowcount
    return removed


# The outbound queue ---------------------------------------------------------------------------------

def enqueue_outbound(connection: Connection, msisdn: str, outgoing: Sequence[Outgoing], *,
                     keys: Sequence[str] | None, now_ns: int) -> list[int]:
    """Queue bodies for ``msisdn`` in order; with ``keys``, a key queued before is not queued again.
    Returns the rows' ids (those queued before included), in order."""
    assert keys is None or len(keys) == len(outgoing)
    ids: list[int] = []
    for index, item in enumerate(outgoing):
        values = {"msisdn": msisdn, "body_json": item.body_json, "secret_body_json": item.secret_body_json,
                  "status": "queued", "attempts": 0, "next_attempt_ns": now_ns, "created_at_ns": now_ns,
                  "updated_at_ns": now_ns}
        if keys is None:
            ids.append(int(connection.execute(insert(outbound).values(values).returning(outbound.c.id))
                           .scalar_one()))
            continue
        key = keys[index]
        connection.execute(_dialect(connection).insert(outbound).values(source_key=key, **values)
                           .on_conflict_do_nothing(index_elements=["source_key"]))
        ids.append(int(connection.execute(select(outbound.c.id).where(outbound.c.source_key == key))
                       .scalar_one()))
    return ids


def lease_outbound(engine: Engine, row_id: int, *, now_ns: int, lease_s: int) -> Any | None:
    """Lease one queued, due, unleased outbound row (the row), or None."""
    with engine.begin() as connection:
        return connection.execute(
            update(outbound)
            .where(outbound.c.id == row_id, outbound.c.status == "queued",
                   outbound.c.next_attempt_ns <= now_ns,
                   or_(outbound.c.lease_until_ns.is_(None), outbound.c.lease_until_ns < now_ns))
            .values(lease_until_ns=now_ns + lease_s * _NS, attempts=outbound.c.attempts + 1)
            .returning(*outbound.c)).mappings().first()


def outbound_status(engine: Engine, row_id: int) -> str:
    with engine.connect() as connection:
        return str(connection.execute(select(outbound.c.status).where(outbound.c.id == row_id)).scalar_one())


def sent_outbound(engine: Engine, row_id: int, lease: int, wamid: str, *, now_ns: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(outbound).where(outbound.c.id == row_id, outbound.c.lease_until_ns == lease)
            .values(status="sent", wamid=wamid, secret_body_json=None, lease_until_ns=None,
                    error_code=None, updated_at_ns=now_ns))


def unsent_outbound(engine: Engine, row: Any, lease: int, *, error_code: int | None, retryable: bool,
                    now_ns: int, attempts_max: int) -> bool:
    """Record a failed send: queued again later, or failed for good; returns whether for good."""
    final = not retryable or int(row["attempts"]) >= attempts_max
    values: dict[str, Any] = {"status": "failed" if final else "queued", "error_code": error_code,
                              "lease_until_ns": None, "updated_at_ns": now_ns,
                              "next_attempt_ns": now_ns + backoff_ns(int(row["attempts"]))}
    if final:
        values["secret_body_json"] = None
    with engine.begin() as connection:
        connection.execute(update(outbound).where(outbound.c.id == row["id"], outbound.c.status == "queued",
                                                  outbound.c.lease_until_ns == lease).values(values))
    return final


def apply_statuses(engine: Engine, statuses: Sequence[StatusUpdate], *, now_ns: int) -> int:
    """Move sent messages forward (delivered, read, failed); returns how many rows changed."""
    changed = 0
    # One order for every writer: two notifications touching the same rows cannot deadlock.
    ordered = sorted(statuses, key=lambda s: (s.message_id, tuple(_BEFORE).index(s.status)))
    if not ordered:
        return 0
    with engine.begin() as connection:
        for status in ordered:
            values: dict[str, Any] = {"status": status.status, "updated_at_ns": now_ns}
            if status.error_code is not None:
                values["error_code"] = status.error_code
            changed += connection.execute(
                update(outbound).where(outbound.c.wamid == status.message_id,
                                       outbound.c.status.in_(_BEFORE[status.status])).values(values)).rowcount
    return changed


# The contacts' windows ------------------------------------------------------------------------------

def last_inbound_ns(engine: Engine, msisdn: str) -> int | None:
    with engine.connect() as connection:
        found: int | None = connection.execute(
            select(contacts.c.last_inbound_at_ns).where(contacts.c.msisdn == msisdn)).scalar()
    return found


# Inbound messages as JSON ---------------------------------------------------------------------------

def encode_inbound(inbound: Inbound) -> str:
    data = dataclasses.asdict(inbound)
    data["kind"] = inbound.kind.value
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_inbound(payload_json: str) -> Inbound:
    data = json.loads(payload_json)
    location = Location(**data["location"]) if data.get("location") else None
    attachment = Attachment(**data["attachment"]) if data.get("attachment") else None
    inbound = Inbound(channel=data["channel"], msisdn=data["msisdn"], kind=InboundKind(data["kind"]),
                      message_id=data["message_id"], text=data["text"], choice_id=data["choice_id"],
                      location=location, attachment=attachment, profile_name=data["profile_name"])
    assert inbound.msisdn.startswith("+") and inbound.message_id, inbound.message_id
    return inbound


def _dialect(connection: Connection) -> Any:
    return postgresql if connection.dialect.name == "postgresql" else sqlite
