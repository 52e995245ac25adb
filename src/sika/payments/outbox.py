"""The outbox: receipts and notifications written with the money's outcome, delivered by workers.

A message is enqueued in the same database transaction that records what it tells (``enqueue`` takes
the caller's connection), so a receipt is never sent for money that did not move, nor lost for money
that did. ``dedupe_key`` is unique: enqueuing the same receipt twice keeps one.

Workers claim due messages under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one
writer at a time), so several ``sika worker`` processes never deliver one message twice at once; a
worker that dies mid-delivery loses its lease and the message is delivered by another. Delivery is
at-least-once towards the channel, which drops repeats by the message id it is given.

Each message goes through the channel that can really reach its person (:mod:`sika.payments.channels`).
States::

    queued --delivered by a route--> delivered   (a secret is wiped, unless the inbox holds it for
                                                   its owner until read)
    queued --channel failed, attempts left--> queued (later)
    queued --no route reaches the number, or ATTEMPTS_MAX failures--> failed (secret wiped; the
                                                   message's ``fallback`` is queued instead)
    queued --the notification policy holds it--> queued (until the instant it may go; ``reason``)
    queued --the notification policy drops it--> dropped (secret wiped; ``reason``)

The routes of a claim's messages are chosen together (one read for all). The policy (a
:class:`~sika.payments.channels.Gate`, :mod:`sika.notices`) is asked for each message just before it
goes, each time it is claimed: a message held until 19:20 is asked again at 19:20, and a day's cap
counts the promotions delivered earlier in the same pass (a promotion goes one by one, whatever its
route).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from sika import jsoncodec
from sika.arrays import int_array, text_array
from sika.notices.categories import MARKETING_PREFIX
from sika.payments.channels import (
    FALLBACK,
    OWNER_SECRET_KINDS,
    SECRET,
    BatchChannel,
    Channel,
    Gate,
    InboxChannel,
    Message,
    Route,
    Router,
    Unreachable,
    Verdict,
)
from sika.payments.queue import backoff_ns, claim_due, queued, renew
from sika.payments.schema import outbox
from sika.prepared import Prepared

__all__ = ["OWNER_SECRET_KINDS", "SECRET", "Channel", "InboxChannel", "Message", "Outbox", "enqueue"]

log = logging.getLogger(__name__)

LEASE_S = 60
_NS = 1_000_000_000
ATTEMPTS_MAX = 10
PAGE_LIMIT_MAX = 200
ERROR_CHARS_MAX = 200


def enqueue(connection: Connection, *, dedupe_key: str, msisdn: str, kind: str, params: dict[str, Any],
            now_ns: int, due_ns: int | None = None) -> None:
    """Queue a message inside the caller's transaction; a second enqueue of ``dedupe_key`` is a no-op.
    ``due_ns``: not before then (a paced broadcast); now by default."""
    row = _queued((dedupe_key, msisdn, kind, params), now_ns=now_ns, due_ns=due_ns)
    _ENQUEUE[connection.dialect.name].execute(connection, row)


def enqueue_many(connection: Connection, messages: Sequence[tuple[str, str, str, dict[str, Any]]], *,
                 now_ns: int) -> None:
    """:func:`enqueue` for several ``(dedupe_key, msisdn, kind, params)`` in one call to the database
    (a payment's receipts: one round trip on PostgreSQL rather than one each)."""
    # (One row goes as one execute: Prepared.execute_many sends a pipeline only for several.)
    _ENQUEUE[connection.dialect.name].execute_many(connection, [_queued(m, now_ns=now_ns) for m in messages])


def _queued(message: tuple[str, str, str, dict[str, Any]], *, now_ns: int,
            due_ns: int | None = None) -> dict[str, Any]:
    dedupe_key, msisdn, kind, params = message
    return {"dedupe_key": dedupe_key, "msisdn": msisdn, "kind": kind, "params": jsoncodec.dumps(params),
            "status": "queued", "next_attempt_ns": max(now_ns, due_ns or now_ns), "created_at_ns": now_ns}


# Built once (a receipt or two for every payment), for each database's words for "unless queued already".
_ENQUEUED: dict[str, Any] = {key: bindparam(key) for key in (
    "dedupe_key", "msisdn", "kind", "params", "status", "next_attempt_ns", "created_at_ns")}
_DELIVERED = Prepared(update(outbox)
                      .where(outbox.c.id == bindparam("message_id"),
                             outbox.c.lease_until_ns == bindparam("lease"))
                      .values(status="delivered", delivered_at_ns=bindparam("now"), lease_until_ns=None,
                              channel=bindparam("channel"), params=bindparam("stored_params"),
                              reason=bindparam("policy_reason")))
# PostgreSQL: a batch's deliveries as one statement over arrays (executemany ran one UPDATE a row on
# the server, between a BEGIN and a COMMIT): alone in autocommit, one round trip and one commit.
_DELIVERED_MANY_POSTGRES = Prepared(text(
    "UPDATE pay_outbox AS o SET status = 'delivered', delivered_at_ns = CAST(:now AS BIGINT),"
    " lease_until_ns = NULL, channel = CAST(:channel AS VARCHAR), params = v.params, reason = v.reason"
    " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:leases AS BIGINT[]), CAST(:params AS TEXT[]),"
    " CAST(:reasons AS TEXT[])) AS v(id, lease, params, reason)"
    # The rows by their key too: joined on the values alone, a plan made while the table had no
    # statistics could walk the whole table (docs/scaling.md).
    " WHERE o.id = v.id AND o.id = ANY(CAST(:ids AS BIGINT[])) AND o.lease_until_ns = v.lease"))
_ENQUEUE = {
    "postgresql": Prepared(postgresql.insert(outbox).values(_ENQUEUED)
                           .on_conflict_do_nothing(index_elements=["dedupe_key"])),
    "sqlite": Prepared(sqlite.insert(outbox).values(_ENQUEUED)
                       .on_conflict_do_nothing(index_elements=["dedupe_key"])),
}


class Outbox:
    def __init__(self, engine: Engine, channel: Channel | Router | None = None, *,
                 clock_ns: Callable[[], int] = time.time_ns, gate: Gate | None = None) -> None:
        self._engine = engine
        self._router = _routed(channel or InboxChannel())
        self._clock_ns = clock_ns
        self.gate = gate  # the notification policy; None: every message goes at once

    @property
    def channel(self) -> Router:
        """The routes messages go through; a plain channel set here takes every message."""
        return self._router

    @channel.setter
    def channel(self, channel: Channel | Router) -> None:
        self._router = _routed(channel)

    def claim(self, limit: int = 100) -> list[Message]:
        """Take up to ``limit`` due messages under a lease; the caller delivers them."""
        rows = claim_due(self._engine, outbox, now_ns=self._clock_ns(), limit=limit, lease_s=LEASE_S)
        return [_message(row) for row in rows]

    def deliver_due(self, limit: int = 100) -> int:
        """One worker pass: claim, route, deliver, record. Returns how many were claimed. Messages whose
        route takes batches (:class:`~sika.payments.channels.BatchChannel`: WhatsApp) are delivered
        together and recorded in one transaction; the others one by one."""
        messages = self.claim(limit)
        routes = self._router.route_many(messages)  # the routes' reads, once for the claim
        batches: dict[str, tuple[Route, list[tuple[Message, int, str | None]]]] = {}
        for message, route in zip(messages, routes, strict=True):
            assert message.lease_until_ns is not None
            lease = self._lease(message.id, message.lease_until_ns)
            if lease is None:
                continue  # our lease ran out while earlier messages were delivered: another worker has it
            # Asked in turn, just before each delivery: a cap counts what was delivered before it.
            go, reason = self._ask_gate(message, lease)
            if not go:
                continue
            if route is None:
                self._give_up(message, lease, "unreachable: no channel reaches this number")
            elif isinstance(route.channel, BatchChannel) and not message.kind.startswith(MARKETING_PREFIX):
                batches.setdefault(route.name, (route, []))[1].append((message, lease, reason))
            else:  # one by one (SMS; a promotion, which the policy's caps must see delivered)
                self._deliver_one(message, lease, route, reason)
        for route, batch in batches.values():
            # Each lease checked again: the one-by-one deliveries above may have taken a while.
            kept = []
            for message, held, reason in batch:
                renewed = self._lease(message.id, held)
                if renewed is not None:
                    kept.append((message, renewed, reason))
            if kept:
                self._deliver_batch(route, kept)
        return len(messages)

    def _lease(self, message_id: int, lease_until_ns: int) -> int | None:
        """The message's lease, renewed once half of it has run out (None: it is no longer ours)."""
        now = self._clock_ns()
        if lease_until_ns - now > LEASE_S * _NS // 2:
            return lease_until_ns
        return renew(self._engine, outbox, message_id, lease_until_ns, now_ns=now, lease_s=LEASE_S)

    def _deliver_one(self, message: Message, lease: int, route: Route, reason: str | None) -> None:
        try:
            route.channel.deliver(message)
        except Exception as exc:
            self._not_delivered(message, lease, route, exc)
        else:
            self._delivered([(message, lease, reason)], route)

    def _deliver_batch(self, route: Route, batch: list[tuple[Message, int, str | None]]) -> None:
        assert isinstance(route.channel, BatchChannel)
        try:
            outcomes = route.channel.deliver_many([message for message, _, _ in batch])
        except Exception as exc:  # none of them was delivered
            outcomes = [exc] * len(batch)
        delivered = []
        for (message, lease, reason), error in zip(batch, outcomes, strict=True):
            if error is None:
                delivered.append((message, lease, reason))
            else:
                self._not_delivered(message, lease, route, error)
        self._delivered(delivered, route)

    def _not_delivered(self, message: Message, lease: int, route: Route, error: BaseException) -> None:
        if isinstance(error, Unreachable):
            self._give_up(message, lease, f"unreachable by {route.name}: {error}")
            return
        # any other channel failure is retried later; the message is kept
        log.warning("delivery of message %s by %s failed: %s", message.id, route.name, error)
        self._failed(message, f"{type(error).__name__}: {error}", lease)

    def _ask_gate(self, message: Message, lease: int) -> tuple[bool, str | None]:
        """Whether the message may go now (else it was held or dropped), and the policy's reason."""
        if self.gate is None:
            return True, None
        now = self._clock_ns()
        verdict = self.gate.verdict(message, now)
        if verdict.send_at_ns is not None and verdict.send_at_ns <= now:
            return True, verdict.reason
        self._hold_or_drop(message, lease, verdict)
        return False, verdict.reason

    def _hold_or_drop(self, message: Message, lease: int, verdict: Verdict) -> None:
        c = outbox.c
        where = and_(c.id == message.id, c.status == "queued", c.lease_until_ns == lease)
        if verdict.send_at_ns is None:
            values: dict[str, Any] = {"status": "dropped", "params": _json(_without_secret(message.params))}
        else:  # waiting is no failed attempt
            values = {"next_attempt_ns": verdict.send_at_ns, "attempts": max(message.attempts - 1, 0)}
        log.info("message %s (%s) %s: %s", message.id, message.kind,
                 "dropped" if verdict.send_at_ns is None else "held", verdict.reason)
        with self._engine.begin() as connection:
            connection.execute(update(outbox).where(where).values(
                lease_until_ns=None, reason=verdict.reason[:ERROR_CHARS_MAX], **values))

    def get(self, message_id: int) -> Message | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(outbox).where(outbox.c.id == message_id)).mappings().first()
        return _message(row) if row is not None else None

    def feed(self, msisdn: str, *, limit: int = 50, before: int | None = None) -> list[Message]:
        """Delivered and queued messages for one number, newest first (the in-app inbox)."""
        assert 0 < limit <= PAGE_LIMIT_MAX
        query = select(outbox).where(outbox.c.msisdn == msisdn)
        if before is not None:
            query = query.where(outbox.c.id < before)
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(outbox.c.id.desc()).limit(limit)).mappings()
            return [_message(row) for row in rows]

    def forget_secrets(self, messages: list[Message]) -> None:
        """The owner has read these: wipe the secrets the inbox held for them."""
        with self._engine.begin() as connection:
            for message in messages:
                if message.secret and message.status == "delivered":
                    connection.execute(update(outbox).where(outbox.c.id == message.id).values(
                        params=_json(_without_secret(message.params))))

    def pending_count(self) -> int:
        with self._engine.connect() as connection:
            return len(connection.execute(
                select(outbox.c.id).where(queued(outbox)).limit(10_000)).all())

    def _delivered(self, delivered: list[tuple[Message, int, str | None]], route: Route) -> None:
        """Record deliveries, ``(message, lease, policy's reason)`` each, in one transaction."""
        if not delivered:
            return
        now = self._clock_ns()
        stored = [_json(message.params if route.for_owner else _without_secret(message.params))
                  for message, _, _ in delivered]
        reasons = [None if reason is None else reason[:ERROR_CHARS_MAX] for _, _, reason in delivered]
        rows = [{"message_id": message.id, "lease": lease, "policy_reason": reason, "now": now,
                 "channel": route.name, "stored_params": params}
                for (message, lease, _), reason, params in zip(delivered, reasons, stored, strict=True)]
        if self._engine.dialect.name == "postgresql":  # one statement alone: its own transaction
            if len(rows) == 1:
                _DELIVERED.execute_alone(self._engine, rows[0])
                return
            _DELIVERED_MANY_POSTGRES.execute_alone(self._engine, {
                "ids": int_array([message.id for message, _, _ in delivered]),
                "leases": int_array([lease for _, lease, _ in delivered]),
                "params": text_array(stored), "reasons": text_array(reasons),
                "now": now, "channel": route.name})
            return
        with self._engine.begin() as connection:
            _DELIVERED.execute_many(connection, rows)

    def _failed(self, message: Message, error: str, lease: int) -> None:
        if message.attempts >= ATTEMPTS_MAX:
            self._give_up(message, lease, error)
            return
        now = self._clock_ns()
        with self._engine.begin() as connection:
            connection.execute(
                update(outbox)
                .where(and_(outbox.c.id == message.id, outbox.c.status == "queued",
                            outbox.c.lease_until_ns == lease))
                .values(lease_until_ns=None, next_attempt_ns=now + backoff_ns(message.attempts),
                        last_error=error[:ERROR_CHARS_MAX]))

    def _give_up(self, message: Message, lease: int, error: str) -> None:
        """Nobody can be reached (or every try failed): the message fails, its secret is wiped, and
        whoever its ``fallback`` names is told instead, in the same transaction."""
        now = self._clock_ns()
        log.info("message %s (%s) given up: %s", message.id, message.kind, error)
        with self._engine.begin() as connection:
            done = connection.execute(
                update(outbox)
                .where(and_(outbox.c.id == message.id, outbox.c.status == "queued",
                            outbox.c.lease_until_ns == lease))
                .values(status="failed", lease_until_ns=None, last_error=error[:ERROR_CHARS_MAX],
                        params=_json(_without_secret(message.params)))).rowcount
            fallback = message.params.get(FALLBACK)
            if done and isinstance(fallback, dict) and fallback.get("msisdn") and fallback.get("kind"):
                params = {k: v for k, v in message.params.items() if k != FALLBACK}
                enqueue(connection, dedupe_key=f"fallback:{message.id}", msisdn=str(fallback["msisdn"]),
                        kind=str(fallback["kind"]), params={**params, "to": message.msisdn}, now_ns=now)


def _routed(channel: Channel | Router) -> Router:
    return channel if isinstance(channel, Router) else Router([Route("channel", channel)])


def _without_secret(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != SECRET}


def _json(params: dict[str, Any]) -> str:
    return jsoncodec.dumps(params)


def _message(row: Any) -> Message:
    return Message(id=row["id"], msisdn=row["msisdn"], kind=row["kind"],
                   params=jsoncodec.loads(row["params"]), status=row["status"], attempts=row["attempts"],
                   created_at_ns=row["created_at_ns"],
                   delivered_at_ns=row["delivered_at_ns"], lease_until_ns=row["lease_until_ns"],
                   channel=row["channel"], reason=row["reason"])
