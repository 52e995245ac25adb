"""Reading and writing WhatsApp's tables (see :mod:`sika.chat.whatsapp.schema` for the states).

Every write that follows a claim names the lease it was given (``lease_until_ns``, a fencing token):
a worker whose lease ran out and was taken over changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, or_, select, update

from sika.arrays import int_array, text_array
from sika.chat.messages import MASK, Inbound
from sika.chat.whatsapp.inbound_json import decode_inbound, encode_inbound
from sika.chat.whatsapp.schema import inbox, outbound
from sika.chat.whatsapp.sealing import Sealer
from sika.chat.whatsapp.statements import (
    ADD_INBOUNDS_POSTGRES,
    ADD_INBOUNDS_SQLITE,
    DONE_MANY,
    ENQUEUE_MANY_POSTGRES,
    ENQUEUE_MANY_SQLITE,
    FINISHED_MANY_POSTGRES,
    INBOX_KNOWN,
    KNOWN,
    MASKED,
    OLDER_DUE,
    OPEN_WINDOWS_POSTGRES,
    QUEUED_BEFORE,
    QUEUED_BEFORE_POSTGRES,
    SENT,
    SENT_MANY_POSTGRES,
    WAITING,
    WAITING_POSTGRES,
    dialect_of,
    statements_of,
)
from sika.chat.whatsapp.webhook import Parsed, StatusUpdate
from sika.chat.whatsapp.windows import stored_windows
from sika.db import writing
from sika.errors import SikaError
from sika.payments.queue import backoff_ns

__all__ = [
    "Handled", "LeaseLost", "Outgoing", "Queued", "Received", "add_inbounds", "apply_statuses",
    "decode_inbound", "defer", "encode_inbound", "enqueue_leased", "enqueue_outbound",
    "finish_inbounds", "lease_outbound", "older_queued_ns", "outbound_status", "prune", "queued_before",
    "received_of", "renew_all", "retry_inbound", "sent_outbound", "sent_outbounds", "unsent_outbound",
]

_NS = 1_000_000_000
ERROR_CHARS_MAX = 200
# Messages one transaction of the webhook stores at most.
ADD_MAX = 10_000
# Ids one statement marks handled (a claim takes far fewer; under SQLite's 32,766 variables).
_DONE_CHUNK = 1_000
# A queued answer's own columns, one array each in ENQUEUE_MANY_POSTGRES (the rest are the pass's).
_ENQUEUED_COLUMNS = ("msisdn", "body_json", "secret_body_json", "attempts", "lease_until_ns", "source_key")
_ENQUEUED_INTS = frozenset({"attempts", "lease_until_ns"})
_INBOUND_TEXT_COLUMNS = ("message_id", "msisdn", "kind", "text", "choice_id", "payload_json")
PRUNE_BATCH_MAX = 10_000
# A status may only move forward: the webhooks for one message can arrive out of order.
_BEFORE = {"sent": ("queued",), "delivered": ("queued", "sent"), "read": ("queued", "sent", "delivered"),
           "failed": ("queued", "sent", "delivered")}


class LeaseLost(SikaError):
    """Another worker took the row over: roll back (``args[0]`` names the rows)."""

    code = "lease_lost"

    def __init__(self, row_ids: Sequence[object]) -> None:
        super().__init__(", ".join(map(str, row_ids)))


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """One Cloud API body to queue; ``secret_body_json`` is the unmasked one, when it differs."""

    body_json: str
    secret_body_json: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Handled:
    """A claimed message the dialog answered: what to record in the batch's transaction."""

    row: Any
    lease: int
    outgoing: Sequence[Outgoing]
    secret: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Queued:
    """An answer just queued: ``lease`` is set when it was leased to us, to be sent at once."""

    id: int
    msisdn: str
    body_json: str
    secret_body_json: str | None
    lease: int | None

    def as_row(self) -> dict[str, Any]:
        """As a leased row of ``wa_outbound`` reads, for the code that sends both."""
        return {"id": self.id, "msisdn": self.msisdn, "body_json": self.body_json,
                "secret_body_json": self.secret_body_json, "attempts": 1, "lease_until_ns": self.lease}


# The inbox ------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class Received:
    """A message from a notification: when it was sent (the window opens there) and received.

    ``inbound`` is as stored: a text that could be a PIN is masked, and ``sealed`` holds it sealed
    (see :mod:`sika.chat.whatsapp.sealing`)."""

    inbound: Inbound
    sent_at_ns: int
    now_ns: int
    sealed: str | None = None


def received_of(parsed: Parsed, *, now_ns: int, sealer: Sealer) -> list[Received]:
    """A notification's messages as the inbox stores them, PIN-like texts sealed before any write."""
    received = []
    for message in parsed.messages:
        sent_at_s = parsed.sent_at_s.get(message.message_id)
        stored, sealed = sealer.inbound(message)
        received.append(Received(stored, sent_at_ns=min(now_ns, sent_at_s * _NS) if sent_at_s is not None
                                 else now_ns, now_ns=now_ns, sealed=sealed))
    return received


def add_inbounds(engine: Engine, received: Sequence[Received]) -> list[bool]:
    """Store received messages once each (a second delivery of an id is a no-op, even within the
    group), in order, in one transaction, and open their senders' 24-hour windows; whether each was
    new."""
    assert len(received) <= ADD_MAX, len(received)
    latest: dict[str, int] = {}
    rows = []
    for item in received:
        inbound = item.inbound
        assert inbound.channel == "whatsapp" and inbound.message_id and inbound.msisdn.startswith("+")
        rows.append({"message_id": inbound.message_id, "msisdn": inbound.msisdn, "kind": inbound.kind.value,
                     "text": inbound.text, "choice_id": inbound.choice_id, "status": "queued", "attempts": 0,
                     "payload_json": encode_inbound(inbound, sealed=item.sealed),
                     "next_attempt_ns": item.now_ns, "received_at_ns": item.now_ns})
        latest[inbound.msisdn] = max(latest.get(inbound.msisdn, item.sent_at_ns), item.sent_at_ns)
    if not rows:
        return []
    windows = stored_windows(engine)
    due = windows.due(latest)  # a window stored within the minute is left as it is
    with writing(engine).begin() as connection:
        add = _add_inbounds_postgres if connection.dialect.name == "postgresql" else _add_inbounds_sqlite
        added = add(connection, rows, due)
    windows.stored(due)
    return added


def _add_inbounds_sqlite(connection: Connection, rows: Sequence[dict[str, Any]],
                         latest: dict[str, int]) -> list[bool]:
    """:func:`add_inbounds` on SQLite, under its write lock: which ids are stored already, then the new
    ones in one call (a message id delivered twice, even within this group, is stored once), then the
    windows in one order for every writer (two groups opening the same windows cannot deadlock)."""
    stored = {row[0] for row in INBOX_KNOWN.all(connection, {"ids": [row["message_id"] for row in rows]})}
    added = []
    for row in rows:
        added.append(row["message_id"] not in stored)
        stored.add(row["message_id"])
    ADD_INBOUNDS_SQLITE.execute_many(connection, [row for row, new in zip(rows, added, strict=True) if new])
    statements_of(connection).open_window.execute_many(connection, [
        {"msisdn": msisdn, "last_inbound_at_ns": at_ns} for msisdn, at_ns in sorted(latest.items())])
    return added


def _add_inbounds_postgres(connection: Connection, rows: Sequence[dict[str, Any]],
                           latest: dict[str, int]) -> list[bool]:
    """:func:`add_inbounds` on PostgreSQL: two statements a group (one when no window is due), not two
    a message."""
    params = {f"{c}s": text_array([r[c] for r in rows]) for c in _INBOUND_TEXT_COLUMNS}
    params["ats"] = int_array([r["received_at_ns"] for r in rows])
    added_ids = {row[0] for row in ADD_INBOUNDS_POSTGRES.all(connection, params)}
    added = []
    for row in rows:  # the first of a message id delivered twice within the group is the one stored
        added.append(row["message_id"] in added_ids)
        added_ids.discard(row["message_id"])
    numbers = sorted(latest)
    if numbers:
        OPEN_WINDOWS_POSTGRES.execute(connection, {"msisdns": text_array(numbers),
                                                   "ats": int_array([latest[n] for n in numbers])})
    return added


def retry_inbound(engine: Engine, row: Any, lease: int, error: BaseException, *, now_ns: int,
                  attempts_max: int) -> bool:
    """Put a message back after a failure, later, or give up on it; returns whether we gave up."""
    gave_up = int(row["attempts"]) >= attempts_max
    with writing(engine).begin() as connection:
        connection.execute(
            update(inbox).where(inbox.c.id == row["id"], inbox.c.status == "queued",
                                inbox.c.lease_until_ns == lease)
            .values(status="failed" if gave_up else "queued", lease_until_ns=None,
                    next_attempt_ns=now_ns + backoff_ns(int(row["attempts"])),
                    last_error=type(error).__name__[:ERROR_CHARS_MAX]))
    return gave_up


def finish_inbounds(connection: Connection, handled: Sequence[Handled], *, now_ns: int,
                    send_lease_until_ns: int | None) -> list[list[Queued]]:
    """Mark claimed messages handled and queue their answers, in the caller's transaction (answers of
    a message are ``inbox:<id>:<n>``). Raises :class:`LeaseLost` when one of them is no longer ours:
    the caller rolls back. With ``send_lease_until_ns``, the answers to people with nothing queued
    before them are leased to the caller, to be sent right after the commit."""
    if connection.dialect.name == "postgresql":
        _finish_postgres(connection, handled, now_ns=now_ns)
    else:
        _finish(connection, handled, now_ns=now_ns)
    return enqueue_leased(connection, [(f"inbox:{item.row['id']}", item.row["msisdn"], item.outgoing)
                                       for item in handled],
                          now_ns=now_ns, send_lease_until_ns=send_lease_until_ns)


def _finish_postgres(connection: Connection, handled: Sequence[Handled], *, now_ns: int) -> None:
    """:func:`finish_inbounds`'s marks on PostgreSQL: one statement a batch, PINs masked in it."""
    if not handled:
        return
    secret = [item.secret for item in handled]
    marked = FINISHED_MANY_POSTGRES.execute(connection, {
        "now": now_ns, "ids": int_array([item.row["id"] for item in handled]),
        "leases": int_array([item.lease for item in handled]),
        "texts": text_array([MASK if hidden else None for hidden in secret]),
        "payloads": text_array([_masked(item.row["payload_json"]) if hidden else None
                                for item, hidden in zip(handled, secret, strict=True)])})
    if marked != len(handled):
        raise LeaseLost([item.row["id"] for item in handled])


def _finish(connection: Connection, handled: Sequence[Handled], *, now_ns: int) -> None:
    by_lease: dict[int, list[int]] = {}
    for item in handled:
        if not item.secret:
            by_lease.setdefault(item.lease, []).append(item.row["id"])
    for lease, ids in by_lease.items():  # one lease a claim: one statement a batch
        for start in range(0, len(ids), _DONE_CHUNK):
            chunk = ids[start:start + _DONE_CHUNK]
            marked = DONE_MANY.execute(connection, {"ids": chunk, "lease": lease, "handled_at_ns": now_ns})
            if marked != len(chunk):
                raise LeaseLost([row_id for ids_ in by_lease.values() for row_id in ids_])
    # A PIN: its text is masked as the message is marked handled (in one call for the batch).
    secrets = [{"row_id": item.row["id"], "lease": item.lease, "handled_at_ns": now_ns,
                "payload": _masked(item.row["payload_json"])} for item in handled if item.secret]
    if secrets and MASKED.execute_many(connection, secrets) != len(secrets):
        raise LeaseLost([row["row_id"] for row in secrets])


def _masked(payload_json: str) -> str:
    return encode_inbound(dataclasses.replace(decode_inbound(payload_json), text=MASK))


def enqueue_leased(connection: Connection, items: Sequence[tuple[str, str, Sequence[Outgoing]]], *,
                   now_ns: int, send_lease_until_ns: int | None) -> list[list[Queued]]:
    """Queue each item's bodies, ``(key, number, bodies)``, in order and in the caller's transaction,
    keyed ``<key>:<n>`` (a key queued before is not queued again, nor sent by the caller). With
    ``send_lease_until_ns``, the bodies to people with nothing queued before them are leased to the
    caller, to be sent right after the commit."""
    numbers = sorted({msisdn for _, msisdn, bodies in items if bodies})
    if not numbers:
        return [[] for _ in items]
    waiting = {row[0] for row in (
        WAITING_POSTGRES.all(connection, {"numbers": text_array(numbers)})
        if connection.dialect.name == "postgresql" else WAITING.all(connection, {"numbers": numbers}))}
    rows: list[dict[str, Any]] = []
    for key_of, msisdn, bodies in items:
        lease = send_lease_until_ns if msisdn not in waiting else None
        rows += [{"msisdn": msisdn, "body_json": body.body_json, "secret_body_json": body.secret_body_json,
                  "status": "queued", "attempts": 0 if lease is None else 1, "lease_until_ns": lease,
                  "next_attempt_ns": now_ns, "created_at_ns": now_ns, "updated_at_ns": now_ns,
                  "source_key": f"{key_of}:{n}"} for n, body in enumerate(bodies)]
    keys = [row["source_key"] for row in rows]
    # Queued before (a worker that lost the message since, or a delivery tried again after a crash):
    # never queued nor sent twice.
    known: dict[str, int] = {key: int(row_id) for key, row_id in KNOWN.all(connection, {"keys": keys})}
    fresh = [row for row in rows if row["source_key"] not in known]
    enqueue = statements_of(connection).enqueue
    ids: dict[str, int] = {}
    if len(fresh) == 1:
        found = enqueue.first(connection, fresh[0])
        assert found is not None
        ids[found.source_key] = int(found.id)
    elif fresh and connection.dialect.name == "sqlite":
        # In one driver call, then their ids by key: in-process, cheaper than a RETURNING a row.
        ENQUEUE_MANY_SQLITE.execute_many(connection, fresh)
        ids = {key: int(row_id) for key, row_id in KNOWN.all(
            connection, {"keys": [row["source_key"] for row in fresh]})}
        assert len(ids) == len(fresh), "each answer queued once"
    elif fresh:  # over the network: one round trip for all, the rows as arrays
        assert all(row["status"] == "queued" and row["next_attempt_ns"] == now_ns for row in fresh)
        arrays = {f"{column}_all": (int_array if column in _ENQUEUED_INTS else text_array)(
            [row[column] for row in fresh]) for column in _ENQUEUED_COLUMNS}
        written = ENQUEUE_MANY_POSTGRES.all(connection, {"now": now_ns, **arrays})
        ids = {row.source_key: int(row.id) for row in written}
    queued: list[list[Queued]] = []
    position = 0
    for _, _, bodies in items:
        answers = []
        for row in rows[position:position + len(bodies)]:
            key = row["source_key"]
            ours = key in ids
            answers.append(Queued(ids[key] if ours else known[key], row["msisdn"], row["body_json"],
                                  row["secret_body_json"], row["lease_until_ns"] if ours else None))
        position += len(bodies)
        queued.append(answers)
    return queued


def queued_before(engine: Engine, table: Table, rows: Sequence[Any]) -> dict[str, list[tuple[int, int]]]:
    """For a claimed batch: the still-queued rows of the same people that came before the batch's
    last row and are not in the batch, as ``(id, next_attempt_ns)`` by number, oldest first; on
    PostgreSQL the first ``EARLIER_MAX`` of a person's (the oldest, which holds the others back)."""
    if not rows:
        return {}
    ids = [int(row["id"]) for row in rows]
    numbers = sorted({row["msisdn"] for row in rows})
    if engine.dialect.name == "postgresql":
        found = QUEUED_BEFORE_POSTGRES[table.name].all(
            engine, {"numbers": text_array(numbers), "last": max(ids), "ids": int_array(ids)})
    else:
        found = QUEUED_BEFORE[table.name].all(engine, {"numbers": numbers, "last": max(ids), "ids": ids})
    earlier: dict[str, list[tuple[int, int]]] = {}
    for msisdn, row_id, due_ns in found:
        earlier.setdefault(msisdn, []).append((int(row_id), int(due_ns)))
    return earlier


def renew_all(engine: Engine, table: Table, leases: Mapping[int, int], *, now_ns: int,
              lease_s: int) -> dict[int, int]:
    """Extend our leases on claimed rows (``{id: lease}``); returns the new lease of each row still
    ours (see :func:`sika.payments.queue.renew`)."""
    renewed_ns = now_ns + lease_s * _NS
    kept: dict[int, int] = {}
    with writing(engine).begin() as connection:
        for row_id, lease in sorted(leases.items()):
            taken = connection.execute(
                update(table).where(table.c.id == row_id, table.c.status == "queued",
                                    table.c.lease_until_ns == lease)
                .values(lease_until_ns=renewed_ns)).rowcount
            if taken:
                kept[row_id] = renewed_ns
    return kept


# Both queues ----------------------------------------------------------------------------------------

def older_queued_ns(engine: Engine, table: Table, msisdn: str, row_id: int) -> int | None:
    """When the oldest still-queued earlier row for the same number is due, if there is one: rows
    for one person are handled in the order they came."""
    due: int | None = OLDER_DUE[table.name].scalar(engine, {"msisdn": msisdn, "row_id": row_id})
    return due


def defer(engine: Engine, table: Table, row_id: int, lease: int, *, until_ns: int) -> None:
    """Give a claimed row back without counting the claim as an attempt."""
    with writing(engine).begin() as connection:
        connection.execute(
            update(table).where(table.c.id == row_id, table.c.status == "queued",
                                table.c.lease_until_ns == lease)
            .values(lease_until_ns=None, next_attempt_ns=until_ns, attempts=table.c.attempts - 1))


def prune(engine: Engine, *, before_ns: int, limit: int = PRUNE_BATCH_MAX) -> int:
    """Forget finished messages received or sent before ``before_ns`` (at most ``limit`` per table)."""
    assert 0 < limit <= PRUNE_BATCH_MAX
    removed = 0
    with writing(engine).begin() as connection:
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
        connection.execute(dialect_of(connection).insert(outbound).values(source_key=key, **values)
                           .on_conflict_do_nothing(index_elements=["source_key"]))
        ids.append(int(connection.execute(select(outbound.c.id).where(outbound.c.source_key == key))
                       .scalar_one()))
    return ids


def lease_outbound(engine: Engine, row_id: int, *, now_ns: int, lease_s: int) -> Any | None:
    """Lease one queued, due, unleased outbound row (the row), or None."""
    with writing(engine).begin() as connection:
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
    SENT.execute_alone(engine, {"row_id": row_id, "lease": lease, "sent_wamid": wamid, "now": now_ns})


def sent_outbounds(engine: Engine, sent: Sequence[tuple[int, int, str]], *, now_ns: int) -> None:
    """Record sends that Meta accepted, ``(id, lease, wamid)`` each, in one transaction (on PostgreSQL
    one statement)."""
    if not sent:
        return
    rows = [{"row_id": row_id, "lease": lease, "sent_wamid": wamid, "now": now_ns}
            for row_id, lease, wamid in sent]
    if engine.dialect.name == "postgresql":  # one statement, alone in autocommit: one round trip
        if len(sent) == 1:
            SENT.execute_alone(engine, rows[0])
            return
        ids, leases, wamids = zip(*sent, strict=True)
        SENT_MANY_POSTGRES.execute_alone(engine, {"ids": int_array(ids), "leases": int_array(leases),
                                                  "wamids": text_array(wamids), "now": now_ns})
        return
    with writing(engine).begin() as connection:
        SENT.execute_many(connection, rows)


def unsent_outbound(engine: Engine, row: Any, lease: int, *, error_code: int | None, retryable: bool,
                    now_ns: int, attempts_max: int) -> bool:
    """Record a failed send: queued again later, or failed for good; returns whether for good."""
    final = not retryable or int(row["attempts"]) >= attempts_max
    values: dict[str, Any] = {"status": "failed" if final else "queued", "error_code": error_code,
                              "lease_until_ns": None, "updated_at_ns": now_ns,
                              "next_attempt_ns": now_ns + backoff_ns(int(row["attempts"]))}
    if final:
        values["secret_body_json"] = None
    with writing(engine).begin() as connection:
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
    with writing(engine).begin() as connection:
        for status in ordered:
            values: dict[str, Any] = {"status": status.status, "updated_at_ns": now_ns}
            if status.error_code is not None:
                values["error_code"] = status.error_code
            changed += connection.execute(
                update(outbound).where(outbound.c.wamid == status.message_id,
                                       outbound.c.status.in_(_BEFORE[status.status])).values(values)).rowcount
    return changed
