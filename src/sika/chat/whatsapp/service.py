"""WhatsApp as a channel of the dialog: webhook in, inbox, dialog, outbound queue, Cloud API out.

The webhook only stores (:meth:`WhatsApp.receive`): each message id once, whatever Meta redelivers
and however many deliveries race; concurrent notifications share a transaction
(:mod:`~sika.chat.whatsapp.group_commit`). Workers then take the inbox at their own pace
(:meth:`WhatsApp.process_inbox`): one message is handed to the dialog once, the dialog's answers are
queued in the transaction that marks the message handled, and are sent right away, in order
(:mod:`~sika.chat.whatsapp.sender`). A send that fails is retried from the outbound queue
(:meth:`WhatsApp.send_due`) without asking the dialog again. Messages of one person are handled, and
answered, in the order they came.

A worker's pass handles its claimed batch in few transactions: the conversations of the batch are
read at once (:func:`sika.chat.state.batch`), and up to ``FLUSH_MAX`` answered messages (or what
``FLUSH_NS`` gathered) are recorded in one transaction: marked handled, their conversations saved,
their answers queued and, for people with nothing else waiting, leased to this worker, which sends
them right after the commit and records the sends in one more transaction. A worker that dies between
the two leaves its answers leased: the outbound queue sends them once the lease has run out.

Meta allows free-form messages only within 24 hours of the person's last message (the
customer-service window); outside it an approved template carries the text. Receipts from the
payments outbox (:meth:`deliver`) usually take that path.

Files people send are screened here, as they arrive (:mod:`~sika.chat.whatsapp.attachments`): the
dialog gets each attachment with the verdict, never the file. Nothing here logs what people write:
message ids, numbers and error codes only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine

from sika.chat import state
from sika.chat.messages import Inbound, Reply, Turn
from sika.chat.whatsapp.attachments import screen
from sika.chat.whatsapp.graph import GraphClient
from sika.chat.whatsapp.group_commit import GroupCommit
from sika.chat.whatsapp.marketing import LIMIT_PAUSE_S, PER_USER_MARKETING_LIMIT, MarketingSender
from sika.chat.whatsapp.render import DEFAULT_LIST_BUTTON
from sika.chat.whatsapp.schema import inbox
from sika.chat.whatsapp.sealing import Sealer
from sika.chat.whatsapp.sender import (
    BATCH_MAX,
    OUTBOUND_LEASE_S,
    NotificationText,
    Sender,
    default_notification_text,
)
from sika.chat.whatsapp.store import (
    Handled,
    LeaseLost,
    Received,
    add_inbounds,
    apply_statuses,
    decode_inbound,
    defer,
    finish_inbounds,
    queued_before,
    received_of,
    renew_all,
    retry_inbound,
)
from sika.chat.whatsapp.store import (
    prune as prune_stored,
)
from sika.chat.whatsapp.webhook import CHANNEL, StatusUpdate, parse, signature_valid, verify_subscription
from sika.chat.whatsapp.windows import last_inbounds_ns
from sika.db import writing
from sika.notices.categories import category_of
from sika.payments.channels import Unreachable
from sika.payments.outbox import Message
from sika.payments.queue import backoff_ns, claim_due

__all__ = ["Handler", "NotificationText", "Prefetch", "WhatsApp", "default_notification_text"]

log = logging.getLogger(__name__)

Handler = Callable[[Inbound], Turn]
# Reads what the handler will need for a batch's numbers at once, for the batch's duration (on this
# thread): Dialog.prefetch.
Prefetch = Callable[[Collection[str]], AbstractContextManager[None]]

_NS = 1_000_000_000
INBOX_LEASE_S = 60
INBOX_ATTEMPTS_MAX = 5
# A row waiting behind an earlier one of the same person is looked at again this much later.
DEFER_NS = _NS // 5
RETENTION_S = 30 * 86_400
# Answered messages one transaction records at most, and how long the first of them waits for it
# under load (a batch's last answers go at its end). A quarter of a second, not a tenth: a recording
# costs eight round trips on PostgreSQL whatever its size, and the realistic mix made 4.9 a batch
# (1.89 -> 1.62 round trips a message for the inbox thread); people wait a little more for a reply.
FLUSH_MAX = 100
FLUSH_NS = _NS // 4


class WhatsApp:
    def __init__(self, engine: Engine, *, verify_token: str | None, app_secret: str | None,
                 graph: GraphClient | None, handler: Handler, clock_ns: Callable[[], int] = time.time_ns,
                 template_name: str = "sika_notification",
                 template_language: str | Callable[[str], str] = "fr",
                 notification_text: NotificationText = default_notification_text,
                 list_button: str = DEFAULT_LIST_BUTTON, prefetch: Prefetch | None = None,
                 marketing_template: str = "sika_offer",
                 on_marketing_limit: Callable[[str, int], None] | None = None) -> None:
        self._engine = engine
        self._verify_token = verify_token
        self._app_secret = app_secret
        self._sealer = Sealer(app_secret)  # what could be a PIN is stored sealed
        self.handler = handler
        self._prefetch = prefetch
        self._clock_ns = clock_ns
        self._sender = Sender(engine, graph, clock_ns=clock_ns, template_name=template_name,
                              template_language=template_language, notification_text=notification_text,
                              list_button=list_button)
        # Promotions: an approved marketing template, sent while the outbox waits (see marketing.py).
        self._on_marketing_limit = on_marketing_limit
        self._marketing = None if graph is None else MarketingSender(
            engine, graph, template_name=marketing_template, template_language=self._sender.language_of,
            text=notification_text, clock_ns=clock_ns, on_limit=on_marketing_limit)
        self._storer = GroupCommit(lambda received: add_inbounds(engine, received),
                                   lambda statuses, now: apply_statuses(engine, statuses, now_ns=now))

    @property
    def graph(self) -> GraphClient | None:
        """The Cloud API client replies go out through (None: sending is off)."""
        return self._sender.graph

    @property
    def enabled(self) -> bool:
        """Whether the webhook is on: both the verify token and the app secret are set."""
        return bool(self._verify_token) and bool(self._app_secret)

    # The webhook ---------------------------------------------------------------------------------

    def verify(self, mode: str | None, token: str | None, challenge: str | None) -> str | None:
        return verify_subscription(mode, token, challenge, self._verify_token)

    def authentic(self, raw_body: bytes, signature: str | None) -> bool:
        return signature_valid(self._app_secret, raw_body, signature)

    def receive(self, raw_body: bytes) -> int:
        """Store a notification's new messages and apply its statuses; returns how many were new.

        The signature must have been checked. A body that is not JSON stores nothing.
        """
        notification = self._notification(raw_body)
        if notification is None:
            return 0
        received, statuses, now = notification
        return _screen_new(received, self._storer.commit(received, statuses, now_ns=now))

    async def receive_async(self, raw_body: bytes) -> int:
        """:meth:`receive` for the webhook's event loop: awaits the group commit rather than holding a
        thread for each notification."""
        notification = self._notification(raw_body)
        if notification is None:
            return 0
        received, statuses, now = notification
        return _screen_new(received, await self._storer.commit_async(received, statuses, now_ns=now))

    def _notification(self, raw_body: bytes) -> tuple[list[Received], list[StatusUpdate], int] | None:
        """A notification's messages and statuses, and when it came; None when there is nothing to do."""
        try:
            payload = json.loads(raw_body)
        except (ValueError, RecursionError):
            log.info("whatsapp notification of %s bytes is not JSON: ignored", len(raw_body))
            return None
        parsed = parse(payload)
        if not parsed.messages and not parsed.statuses:
            return None
        now = self._clock_ns()
        for status in parsed.statuses:  # Meta's 131049, reported late: a promotion did not arrive
            limited = status.error_code == PER_USER_MARKETING_LIMIT and status.recipient
            if limited and status.recipient and self._on_marketing_limit is not None:
                self._on_marketing_limit(status.recipient, now + LIMIT_PAUSE_S * _NS)
        return received_of(parsed, now_ns=now, sealer=self._sealer), parsed.statuses, now

    # The inbox -----------------------------------------------------------------------------------

    def process_inbox(self, limit: int = 100) -> int:
        """One worker pass: hand due messages to the dialog and send its answers. Returns how many
        messages were claimed."""
        assert 0 < limit <= BATCH_MAX
        rows = claim_due(self._engine, inbox, now_ns=self._clock_ns(), limit=limit, lease_s=INBOX_LEASE_S)
        if rows:
            self._handle_batch(rows)
        return len(rows)

    def _handle_batch(self, rows: Sequence[Any]) -> None:
        leases: dict[int, int] = {row["id"]: row["lease_until_ns"] for row in rows}
        earlier = queued_before(self._engine, inbox, rows)
        numbers = {row["msisdn"] for row in rows}
        windows = last_inbounds_ns(self._engine, numbers) if self._sender.graph is not None else {}
        waits: dict[str, int] = {}  # people whose earlier message waits: when it is due
        handled: list[Handled] = []
        first_ns = 0
        with (state.batch(self._engine, CHANNEL, numbers) as conversations,
              self._prefetch(numbers) if self._prefetch is not None else nullcontext()):
            for index, row in enumerate(rows):
                now = self._clock_ns()
                if row["id"] in leases and leases[row["id"]] - now < INBOX_LEASE_S * _NS // 2:
                    # Slow going: record what is done, and keep the rest of the batch ours.
                    self._flush(handled, conversations, waits)
                    handled = []
                    rest = {r["id"]: leases[r["id"]] for r in rows[index:] if r["id"] in leases}
                    leases = renew_all(self._engine, inbox, rest, now_ns=now, lease_s=INBOX_LEASE_S)
                lease = leases.get(row["id"])
                if lease is None:
                    continue  # our lease ran out while earlier rows were handled: another worker has it
                due_ns = _due_before(row, earlier, waits)
                if due_ns is not None:
                    until_ns = max(due_ns, now) + DEFER_NS
                    defer(self._engine, inbox, row["id"], lease, until_ns=until_ns)
                    waits[row["msisdn"]] = min(waits.get(row["msisdn"], until_ns), until_ns)
                    continue
                answered = self._answer(row, lease, windows, conversations, waits)
                if answered is None:
                    continue
                first_ns = first_ns if handled else now
                handled.append(answered)
                if len(handled) >= FLUSH_MAX or self._clock_ns() - first_ns >= FLUSH_NS:
                    self._flush(handled, conversations, waits)
                    handled = []
            self._flush(handled, conversations, waits)

    def _answer(self, row: Any, lease: int, windows: dict[str, int], conversations: state.Batch,
                waits: dict[str, int]) -> Handled | None:
        """Hand one message to the dialog: what to record, or None when it failed (it is retried)."""
        msisdn = row["msisdn"]
        before = conversations.snapshot(msisdn)
        try:
            inbound = decode_inbound(row["payload_json"], self._sealer.open)
            turn = self.handler(inbound)
            outgoing = self._sender.outgoing(inbound.msisdn, turn.replies,
                                      window_open=self._sender.window_open_at(windows.get(msisdn)))
        except Exception as exc:  # the dialog's failure is retried later; the message is kept
            conversations.restore(msisdn, before)
            now = self._clock_ns()
            gave_up = retry_inbound(self._engine, row, lease, exc, now_ns=now,
                                          attempts_max=INBOX_ATTEMPTS_MAX)
            if not gave_up:  # this person's next messages wait for this one
                waits[msisdn] = min(waits.get(msisdn, now), now + backoff_ns(int(row["attempts"])))
            log.warning("whatsapp message %s (inbox %s) failed on attempt %s: %s%s", row["message_id"],
                        row["id"], row["attempts"], type(exc).__name__, "; given up" if gave_up else "")
            return None
        return Handled(row=row, lease=lease, outgoing=outgoing, secret=turn.secret_input)

    def _flush(self, handled: list[Handled], conversations: state.Batch, waits: dict[str, int]) -> None:
        """Record answered messages in one transaction, then send their answers."""
        if not handled and not conversations.unsaved:
            return
        now = self._clock_ns()
        send_lease_ns = now + OUTBOUND_LEASE_S * _NS if self._sender.graph is not None else None
        try:
            with writing(self._engine).begin() as connection:
                queued = finish_inbounds(connection, handled, now_ns=now,
                                               send_lease_until_ns=send_lease_ns)
                conversations.write(connection)
        except LeaseLost as lost:
            # Rolled back: nothing of these messages was recorded. Give back those still ours; they
            # are handled again (money moves once: its id comes from the message id).
            log.error("whatsapp message %s was taken over by another worker; %s answered messages are "
                      "handled again", lost.args[0], len(handled))
            numbers = {item.row["msisdn"] for item in handled}
            conversations.forget(numbers)
            for item in handled:
                defer(self._engine, inbox, item.row["id"], item.lease, until_ns=now)
            for number in numbers:
                waits[number] = min(waits.get(number, now), now)
            return
        self._sender.send_queued([answer for answers in queued for answer in answers])

    # Sending (:mod:`~sika.chat.whatsapp.sender`) -------------------------------------------------

    def send(self, msisdn: str, replies: Sequence[Reply], *, key: str | None = None) -> list[str]:
        """Queue and send replies to ``msisdn`` (a template outside the 24-hour window). Returns the
        wamids of what went out now; what could not is retried by :meth:`send_due`. With ``key``, a
        second call with the same key sends nothing new."""
        return self._sender.send(msisdn, replies, key=key)

    def deliver(self, message: Message) -> None:
        """The payments outbox's :class:`~sika.payments.outbox.Channel`: a receipt or notification,
        queued (a failed send is retried there); raises only when it could not be queued. Marketing
        goes only as the approved marketing template, never free-form nor queued behind the outbox."""
        if category_of(message.kind) == "marketing":
            if self._marketing is None:
                raise Unreachable("whatsapp sending is off (no token)")
            self._marketing.deliver(message)
            return
        self._sender.deliver(message)

    def deliver_many(self, messages: Sequence[Message]) -> list[BaseException | None]:
        """The outbox's :class:`~sika.payments.channels.BatchChannel`: :meth:`deliver` for a batch, its
        receipts and notifications queued together (marketing goes one by one, as in :meth:`deliver`).
        What became of each message: None once queued, else the error."""
        outcomes: list[BaseException | None] = [None] * len(messages)
        batched = []
        for index, message in enumerate(messages):
            if category_of(message.kind) != "marketing":
                batched.append(index)
                continue
            try:
                self.deliver(message)
            except Exception as exc:  # this message's outcome; the others go on
                outcomes[index] = exc
        try:
            self._sender.deliver_many([messages[index] for index in batched])
        except Exception as exc:  # none of them was queued: the outbox tries them again
            for index in batched:
                outcomes[index] = exc
        return outcomes

    def send_due(self, limit: int = 100) -> int:
        """One worker pass over the outbound queue: send what is due again. Returns how many rows
        were claimed."""
        return self._sender.send_due(limit)

    def window_open(self, msisdn: str) -> bool:
        """Whether free-form messages may be sent to ``msisdn`` now (Meta's 24-hour window)."""
        return self._sender.window_open(msisdn)

    def prune(self, retention_s: int = RETENTION_S) -> int:
        """Forget handled messages and sent messages older than ``retention_s``."""
        return prune_stored(self._engine, before_ns=self._clock_ns() - retention_s * _NS)


def _screen_new(received: Sequence[Received], added: Sequence[bool]) -> int:
    """How many messages were new; a dangerous file among them is logged as a security event (once,
    when first stored)."""
    new = 0
    for item, was_added in zip(received, added, strict=True):
        if was_added:
            new += 1
            screen(item.inbound.msisdn, item.inbound.attachment)
    return new


def _due_before(row: Any, earlier: dict[str, list[tuple[int, int]]], waits: dict[str, int]) -> int | None:
    """When the first earlier message of the same person that still waits is due, if there is one."""
    dues = [due_ns for row_id, due_ns in earlier.get(row["msisdn"], ()) if row_id < row["id"]]
    if row["msisdn"] in waits:
        dues.append(waits[row["msisdn"]])
    return min(dues, default=None)

