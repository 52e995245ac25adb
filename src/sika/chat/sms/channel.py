"""The SMS channel of the outbox: a receipt, a notification or a code, as SMS, through the gateway.

The text is the one the person would read in the chat
(:class:`sika.chat.texts.notifications.NotificationText`, in their language), in GSM-7 when a few
accents are all that keep it out (:func:`~sika.chat.sms.parts.fold`), split into parts by
:func:`sika.chat.sms.parts.split` (at most ``PARTS_MAX``).
Each outbox message is sent once: the row written when the gateway accepted it (``outbox_id`` is
unique) makes a second delivery of the same message send nothing. Delivery reports update that row;
no row keeps the text, which may carry a code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sika.chat.sms.africastalking import AfricasTalkingSms, SmsRejected
from sika.chat.sms.parts import fold, split
from sika.chat.sms.schema import sms_messages
from sika.payments.channels import Message, Unreachable

__all__ = ["REPORT_STATUSES", "SmsChannel"]

log = logging.getLogger(__name__)

# Africa's Talking's delivery report statuses, as stored (lower case).
REPORT_STATUSES = frozenset({"sent", "submitted", "buffered", "rejected", "success", "failed"})
_FINAL = frozenset({"rejected", "success", "failed"})
STATUS_CHARS_MAX = 12
REASON_CHARS_MAX = 60

Text = Callable[[str, dict[str, Any], str], str]


class SmsChannel:
    def __init__(self, engine: Engine, gateway: AfricasTalkingSms, text: Text, *,
                 undelivered: Callable[[int], None] | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        """``undelivered(outbox_id)`` runs once when a report says a message never reached the phone."""
        self._engine = engine
        self.gateway = gateway
        self._text = text
        self._undelivered = undelivered
        self._clock_ns = clock_ns

    def deliver(self, message: Message) -> None:
        """Send ``message`` as SMS; :class:`Unreachable` when the gateway refuses the number for good,
        and the gateway's :class:`SmsUnavailable` (retried by the outbox) when it did not take it."""
        with self._engine.connect() as connection:
            if connection.execute(select(sms_messages.c.id).where(
                    sms_messages.c.outbox_id == message.id)).first() is not None:
                return  # sent already, by a delivery that crashed before it was recorded
        parts = split(fold(self._text(message.kind, message.params, message.msisdn)))
        if parts.cut:
            log.warning("message %s (%s) cut to %s SMS parts", message.id, message.kind, parts.count)
        try:
            sent = self.gateway.send(message.msisdn, parts.text)
        except SmsRejected as exc:
            raise Unreachable(str(exc)) from exc
        now = self._clock_ns()
        values = {"outbox_id": message.id, "msisdn": message.msisdn, "provider_id": sent.message_id,
                  "parts": parts.count, "encoding": parts.encoding, "status": "sent",
                  "cost": sent.cost or None, "created_at_ns": now, "updated_at_ns": now}
        with self._engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(dialect.insert(sms_messages).values(values).on_conflict_do_nothing())

    def report(self, provider_id: str, status: str, failure_reason: str | None = None) -> bool:
        """A delivery report: the message's status now. False when no message has this id.

        A final status (success, failed, rejected) is kept: a late or repeated report changes nothing,
        and the first report that the message never arrived runs ``undelivered`` once.
        """
        status = status.strip().lower()[:STATUS_CHARS_MAX]
        if status not in REPORT_STATUSES:
            return False
        c = sms_messages.c
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(sms_messages)
                .where(c.provider_id == provider_id[:100], c.status.not_in(sorted(_FINAL)))
                .values(status=status, updated_at_ns=self._clock_ns(),
                        failure_reason=(failure_reason or "")[:REASON_CHARS_MAX] or None)
                .returning(c.outbox_id)).all()
            known = bool(changed) or connection.execute(
                select(c.id).where(c.provider_id == provider_id[:100])).first() is not None
        if changed and status in ("failed", "rejected"):
            log.warning("SMS %s was not delivered: %s %s", provider_id, status, failure_reason or "")
            outbox_id = changed[0].outbox_id
            if self._undelivered is not None and outbox_id is not None:
                self._undelivered(int(outbox_id))
        return known

    def close(self) -> None:
        self.gateway.close()
