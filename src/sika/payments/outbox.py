"""The outbox: receipts and notifications written with the money's outcome, delivered by workers.

A message is enqueued in the same database transaction that records what it tells (``enqueue`` takes
the caller's connection), so a receipt is never sent for money that did not move, nor lost for money
that did. ``dedupe_key`` is unique: enqueuing the same receipt twice keeps one.

Workers claim due messages under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one
writer at a time), so several ``sika worker`` processes never deliver one message twice at once; a
worker that dies mid-delivery loses its lease and the message is delivered by another. Delivery is
at-least-once towards the channel, which drops repeats by the message id it is given.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sika.payments.queue import backoff_ns, claim_due, renew
from sika.payments.schema import outbox

__all__ = ["Channel", "InboxChannel", "Message", "Outbox", "enqueue"]

log = logging.getLogger(__name__)

LEASE_S = 60
ATTEMPTS_MAX = 10
PAGE_LIMIT_MAX = 200
ERROR_CHARS_MAX = 200
# Params under this key are secrets (a voucher's code): wiped once the message is delivered.
SECRET = "secret"  # noqa: S105 (a key name, not a password)


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    msisdn: str
    kind: str
    params: dict[str, Any]
    status: str
    attempts: int
    created_at_ns: int
    delivered_at_ns: int | None
    lease_until_ns: int | None = None


class Channel(Protocol):
    def deliver(self, message: Message) -> None:
        """Deliver or raise; called again for the same ``message.id`` after a failure or crash."""


class InboxChannel:
    """The in-app inbox: a delivered message is one a customer reads from their notifications feed.

    It is the channel when no chat channel is configured; WhatsApp and SMS deliver the same messages.
    """

    def deliver(self, message: Message) -> None:
        log.debug("notification %s (%s) to %s in the inbox", message.id, message.kind, message.msisdn)


def enqueue(connection: Connection, *, dedupe_key: str, msisdn: str, kind: str, params: dict[str, Any],
            now_ns: int) -> None:
    """Queue a message inside the caller's transaction; a second enqueue of ``dedupe_key`` is a no-op."""
    values = {"dedupe_key": dedupe_key, "msisdn": msisdn, "kind": kind,
              "params": json.dumps(params, separators=(",", ":"), ensure_ascii=False),
              "status": "queued", "next_attempt_ns": now_ns, "created_at_ns": now_ns}
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(dialect.insert(outbox).values(values).on_conflict_do_nothing(
        index_elements=["dedupe_key"]))


class Outbox:
    def __init__(self, engine: Engine, channel: Channel | None = None, *,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self.channel: Channel = channel or InboxChannel()
        self._clock_ns = clock_ns

    def claim(self, limit: int = 100) -> list[Message]:
        """Take up to ``limit`` due messages under a lease; the caller delivers them."""
        rows = claim_due(self._engine, outbox, now_ns=self._clock_ns(), limit=limit, lease_s=LEASE_S)
        return [_message(row) for row in rows]

    def deliver_due(self, limit: int = 100) -> int:
        """One worker pass: claim, deliver, record. Returns how many were claimed."""
        messages = self.claim(limit)
        for message in messages:
            assert message.lease_until_ns is not None
            lease = renew(self._engine, outbox, message.id, message.lease_until_ns, now_ns=self._clock_ns(),
                          lease_s=LEASE_S)
            if lease is None:
                continue  # our lease ran out while earlier messages were delivered: another worker has it
            try:
                self.channel.deliver(message)
            except Exception as exc:  # any channel failure is retried later; the message is kept
                log.warning("delivery of message %s failed: %s", message.id, exc)
                self._failed(message, f"{type(exc).__name__}: {exc}", lease)
            else:
                self._delivered(message, lease)
        return len(messages)

    def feed(self, msisdn: str, *, limit: int = 50, before: int | None = None) -> list[Message]:
        """Delivered and queued messages for one number, newest first (the in-app inbox)."""
        assert 0 < limit <= PAGE_LIMIT_MAX
        query = select(outbox).where(outbox.c.msisdn == msisdn)
        if before is not None:
            query = query.where(outbox.c.id < before)
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(outbox.c.id.desc()).limit(limit)).mappings()
            return [_message(row) for row in rows]

    def pending_count(self) -> int:
        with self._engine.connect() as connection:
            return len(connection.execute(
                select(outbox.c.id).where(outbox.c.status == "queued").limit(10_000)).all())

    def _delivered(self, message: Message, lease: int) -> None:
        params = {k: v for k, v in message.params.items() if k != SECRET}
        with self._engine.begin() as connection:
            connection.execute(
                update(outbox).where(outbox.c.id == message.id, outbox.c.lease_until_ns == lease)
                .values(status="delivered", delivered_at_ns=self._clock_ns(), lease_until_ns=None,
                        params=json.dumps(params, separators=(",", ":"), ensure_ascii=False)))

    def _failed(self, message: Message, error: str, lease: int) -> None:
        now = self._clock_ns()
        gave_up = message.attempts >= ATTEMPTS_MAX
        with self._engine.begin() as connection:
            connection.execute(
                update(outbox)
                .where(and_(outbox.c.id == message.id, outbox.c.status == "queued",
                            outbox.c.lease_until_ns == lease))
                .values(status="failed" if gave_up else "queued", lease_until_ns=None,
                        next_attempt_ns=now + backoff_ns(message.attempts),
                        last_error=error[:ERROR_CHARS_MAX]))


def _message(row: Any) -> Message:
    return Message(id=row["id"], msisdn=row["msisdn"], kind=row["kind"], params=json.loads(row["params"]),
                   status=row["status"], attempts=row["attempts"], created_at_ns=row["created_at_ns"],
                   delivered_at_ns=row["delivered_at_ns"], lease_until_ns=row["lease_until_ns"])
