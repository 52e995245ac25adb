"""WhatsApp as a channel of the dialog: webhook in, inbox, dialog, outbound queue, Cloud API out.

The webhook only stores (:meth:`WhatsApp.receive`): each message id once, whatever Meta redelivers
and however many deliveries race. Workers then take the inbox at their own pace
(:meth:`WhatsApp.process_inbox`): one message is handed to the dialog once, the dialog's answers are
queued in the transaction that marks the message handled, and are sent right away, in order. A send
that fails is retried from the outbound queue (:meth:`WhatsApp.send_due`) without asking the dialog
again. Messages of one person are handled, and answered, in the order they came.

Meta allows free-form messages only within 24 hours of the person's last message (the
customer-service window). Outside it, :meth:`send` sends the approved template ``template_name``
instead, with the first reply's text as its one body parameter ({{1}}); replies without text are
dropped then. Receipts from the payments outbox (:meth:`deliver`) usually take that path.

Nothing here logs what people write: message ids, numbers and error codes only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from sika.chat.messages import MASK, Inbound, Reply, Turn
from sika.chat.whatsapp import store
from sika.chat.whatsapp.attachments import screen
from sika.chat.whatsapp.graph import GraphClient, GraphError
from sika.chat.whatsapp.render import DEFAULT_LIST_BUTTON, render, render_template
from sika.chat.whatsapp.schema import inbox, outbound
from sika.chat.whatsapp.webhook import parse, signature_valid, verify_subscription
from sika.payments.outbox import SECRET, Message
from sika.payments.queue import claim_due, renew

__all__ = ["Handler", "NotificationText", "WhatsApp", "default_notification_text"]

log = logging.getLogger(__name__)

Handler = Callable[[Inbound], Turn]
# (kind, params, msisdn) -> the sentence to send, in the recipient's language.
NotificationText = Callable[[str, dict[str, Any], str], str]

_NS = 1_000_000_000
WINDOW_S = 24 * 3600
# A message sent this close to the window's end might arrive after it: use the template instead.
WINDOW_MARGIN_S = 60
INBOX_LEASE_S = 60
# Longer than GraphClient's worst case (timeouts and back-off over all its retries).
OUTBOUND_LEASE_S = 300
INBOX_ATTEMPTS_MAX = 5
OUTBOUND_ATTEMPTS_MAX = 8
# A row waiting behind an earlier one of the same person is looked at again this much later.
DEFER_NS = _NS // 5
BATCH_MAX = 1_000
RETENTION_S = 30 * 86_400


def default_notification_text(kind: str, params: dict[str, Any], _msisdn: str) -> str:
    """A plain line for tests and for a WhatsApp without the dialog's translated receipts."""
    amount = params.get("amount")
    what = kind.replace("_", " ")
    return f"Sika: {what}, {amount} F CFA." if isinstance(amount, int) else f"Sika: {what}."


class WhatsApp:
    def __init__(self, engine: Engine, *, verify_token: str | None, app_secret: str | None,
                 graph: GraphClient | None, handler: Handler, clock_ns: Callable[[], int] = time.time_ns,
                 template_name: str = "sika_notification",
                 template_language: str | Callable[[str], str] = "fr",
                 notification_text: NotificationText = default_notification_text,
                 list_button: str = DEFAULT_LIST_BUTTON) -> None:
        self._engine = engine
        self._verify_token = verify_token
        self._app_secret = app_secret
        self.graph = graph
        self.handler = handler
        self._clock_ns = clock_ns
        self._template_name = template_name
        self._template_language = template_language
        self._notification_text = notification_text
        self._list_button = list_button

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
        try:
            payload = json.loads(raw_body)
        except (ValueError, RecursionError):
            log.info("whatsapp notification of %s bytes is not JSON: ignored", len(raw_body))
            return 0
        parsed = parse(payload)
        now = self._clock_ns()
        new = 0
        for message in parsed.messages:
            sent_at_s = parsed.sent_at_s.get(message.message_id)
            sent_at_ns = min(now, sent_at_s * _NS) if sent_at_s is not None else now
            if store.add_inbound(self._engine, message, sent_at_ns=sent_at_ns, now_ns=now):
                new += 1
                screen(message.msisdn, message.attachment)
        if parsed.statuses:
            store.apply_statuses(self._engine, parsed.statuses, now_ns=now)
        return new

    # The inbox -----------------------------------------------------------------------------------

    def process_inbox(self, limit: int = 100) -> int:
        """One worker pass: hand due messages to the dialog and send its answers. Returns how many
        messages were claimed."""
        assert 0 < limit <= BATCH_MAX
        rows = claim_due(self._engine, inbox, now_ns=self._clock_ns(), limit=limit, lease_s=INBOX_LEASE_S)
        for row in rows:
            self._handle(row)
        return len(rows)

    def _handle(self, row: Any) -> None:
        now = self._clock_ns()
        lease = renew(self._engine, inbox, row["id"], row["lease_until_ns"], now_ns=now,
                      lease_s=INBOX_LEASE_S)
        if lease is None:
            return  # our lease ran out while earlier rows were handled: another worker has it
        earlier_ns = store.older_queued_ns(self._engine, inbox, row["msisdn"], row["id"])
        if earlier_ns is not None:
            store.defer(self._engine, inbox, row["id"], lease, until_ns=max(earlier_ns, now) + DEFER_NS)
            return
        try:
            inbound = store.decode_inbound(row["payload_json"])
            turn = self.handler(inbound)
            outgoing = self._outgoing(inbound.msisdn, turn.replies)
        except Exception as exc:  # the dialog's failure is retried later; the message is kept
            gave_up = store.retry_inbound(self._engine, row, lease, exc, now_ns=self._clock_ns(),
                                          attempts_max=INBOX_ATTEMPTS_MAX)
            log.warning("whatsapp message %s (inbox %s) failed on attempt %s: %s%s", row["message_id"],
                        row["id"], row["attempts"], type(exc).__name__, "; given up" if gave_up else "")
            return
        ids = store.finish_inbound(self._engine, row, lease, outgoing, secret=turn.secret_input,
                                   now_ns=self._clock_ns())
        if ids is None:
            log.error("whatsapp message %s was handled after its lease ran out; its answers are dropped",
                      row["message_id"])
            return
        self._send_rows(row["msisdn"], ids)

    # Sending -------------------------------------------------------------------------------------

    def send(self, msisdn: str, replies: Sequence[Reply], *, key: str | None = None) -> list[str]:
        """Queue and send replies to ``msisdn`` (a template outside the 24-hour window). Returns the
        wamids of what went out now; what could not is retried by :meth:`send_due`. With ``key``, a
        second call with the same key sends nothing new."""
        return self._queue_and_send(msisdn, self._outgoing(msisdn, replies), key)

    def deliver(self, message: Message) -> None:
        """The payments outbox's :class:`~sika.payments.outbox.Channel`: a receipt or notification.

        It returns once the message is in the outbound queue (a failed send is retried there), and
        raises only when it could not be queued. A secret (a voucher's code) is masked in what stays
        stored once the message is sent.
        """
        text = self._notification_text(message.kind, message.params, message.msisdn)
        secret = message.params.get(SECRET)
        outgoing = self._outgoing(message.msisdn, [Reply(text=text)],
                                  secret=str(secret) if secret not in (None, "") else None)
        self._queue_and_send(message.msisdn, outgoing, f"outbox:{message.id}")

    def send_due(self, limit: int = 100) -> int:
        """One worker pass over the outbound queue: send what is due again. Returns how many rows
        were claimed."""
        assert 0 < limit <= BATCH_MAX
        if self.graph is None:
            return 0
        rows = claim_due(self._engine, outbound, now_ns=self._clock_ns(), limit=limit,
                         lease_s=OUTBOUND_LEASE_S)
        for row in rows:
            now = self._clock_ns()
            lease = renew(self._engine, outbound, row["id"], row["lease_until_ns"], now_ns=now,
                          lease_s=OUTBOUND_LEASE_S)
            if lease is None:
                continue
            earlier_ns = store.older_queued_ns(self._engine, outbound, row["msisdn"], row["id"])
            if earlier_ns is not None:
                store.defer(self._engine, outbound, row["id"], lease,
                            until_ns=max(earlier_ns, now) + DEFER_NS)
                continue
            self._send_row(row, lease)
        return len(rows)

    def prune(self, retention_s: int = RETENTION_S) -> int:
        """Forget handled messages and sent messages older than ``retention_s``."""
        return store.prune(self._engine, before_ns=self._clock_ns() - retention_s * _NS)

    def window_open(self, msisdn: str) -> bool:
        """Whether free-form messages may be sent to ``msisdn`` now (Meta's 24-hour window)."""
        last = store.last_inbound_ns(self._engine, msisdn)
        return last is not None and self._clock_ns() - last < (WINDOW_S - WINDOW_MARGIN_S) * _NS

    def _outgoing(self, msisdn: str, replies: Sequence[Reply], *, secret: str | None = None
                  ) -> list[store.Outgoing]:
        if self.graph is None:
            if replies:
                log.warning("whatsapp sending is off (no token): %s replies to %s dropped", len(replies),
                            msisdn)
            return []
        if self.window_open(msisdn):
            bodies = [body for reply in replies
                      for body in render(msisdn, reply, list_button=self._list_button)]
        else:
            first = next((reply.text for reply in replies if reply.text.strip()), None)
            if first is None:
                return []
            language = (self._template_language if isinstance(self._template_language, str)
                        else self._template_language(msisdn))
            bodies = [render_template(msisdn, self._template_name, language, [first])]
        return [_outgoing(body, secret) for body in bodies]

    def _queue_and_send(self, msisdn: str, outgoing: list[store.Outgoing], key: str | None) -> list[str]:
        if not outgoing:
            return []
        keys = [f"{key}:{n}" for n in range(len(outgoing))] if key is not None else None
        with self._engine.begin() as connection:
            ids = store.enqueue_outbound(connection, msisdn, outgoing, keys=keys, now_ns=self._clock_ns())
        return self._send_rows(msisdn, ids)

    def _send_rows(self, msisdn: str, ids: list[int]) -> list[str]:
        """Send queued rows now, in order, stopping at the first that must wait."""
        wamids: list[str] = []
        if not ids or store.older_queued_ns(self._engine, outbound, msisdn, ids[0]) is not None:
            return wamids  # earlier messages to this person wait: the queue sends these after them
        for row_id in ids:
            row = store.lease_outbound(self._engine, row_id, now_ns=self._clock_ns(),
                                       lease_s=OUTBOUND_LEASE_S)
            if row is None:
                if store.outbound_status(self._engine, row_id) == "queued":
                    break  # another sender holds it, or it waits for a retry
                continue  # sent before (a repeated key)
            wamid, go_on = self._send_row(row, row["lease_until_ns"])
            if wamid is not None:
                wamids.append(wamid)
            if not go_on:
                break
        return wamids

    def _send_row(self, row: Any, lease: int) -> tuple[str | None, bool]:
        """Send one leased row: ``(wamid or None, whether the next row may go)``."""
        assert self.graph is not None
        body = json.loads(row["secret_body_json"] or row["body_json"])
        try:
            wamid = self.graph.send(body)
        except Exception as exc:  # GraphError, or a bug: the row is retried, then given up
            error_code = exc.error_code if isinstance(exc, GraphError) else None
            retryable = exc.retryable if isinstance(exc, GraphError) else True
            final = store.unsent_outbound(self._engine, row, lease, error_code=error_code,
                                          retryable=retryable, now_ns=self._clock_ns(),
                                          attempts_max=OUTBOUND_ATTEMPTS_MAX)
            log.warning("whatsapp message %s to %s not sent (attempt %s, %s, code %s)%s", row["id"],
                        row["msisdn"], row["attempts"], type(exc).__name__, error_code,
                        ": given up" if final else "")
            return None, final
        store.sent_outbound(self._engine, row["id"], lease, wamid, now_ns=self._clock_ns())
        return wamid, True


def _outgoing(body: dict[str, Any], secret: str | None) -> store.Outgoing:
    full = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if not secret:
        return store.Outgoing(body_json=full)
    masked = json.dumps(_masked(body, secret), separators=(",", ":"), ensure_ascii=False)
    return store.Outgoing(body_json=masked, secret_body_json=full if masked != full else None)


def _masked(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, MASK)
    if isinstance(value, dict):
        return {key: _masked(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, secret) for item in value]
    return value
