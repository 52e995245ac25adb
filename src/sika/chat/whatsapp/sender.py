"""Replies out to the Cloud API: rendered within Meta's limits, queued, sent in order, retried.

Replies are rendered (:func:`~sika.chat.whatsapp.render.render_turn`) within the person's 24-hour
customer-service window, else the approved template ``template_name`` carries the first reply's text
(its one body parameter, {{1}}); replies without text are dropped then. What is rendered is queued in
``wa_outbound`` and sent right away, each person's messages in order (several people at once on up to
``SEND_THREADS`` threads); a send that fails is retried from the queue (:meth:`Sender.send_due`). A
secret (a voucher's code) is masked in what stays stored once the message is sent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

from sqlalchemy import Engine

from sika import jsoncodec
from sika.chat.messages import MASK, Reply
from sika.chat.whatsapp.graph import GraphClient, GraphError
from sika.chat.whatsapp.render import DEFAULT_LIST_BUTTON, render_template, render_turn
from sika.chat.whatsapp.schema import outbound
from sika.chat.whatsapp.store import (
    Outgoing,
    Queued,
    defer,
    enqueue_leased,
    enqueue_outbound,
    lease_outbound,
    older_queued_ns,
    outbound_status,
    sent_outbound,
    sent_outbounds,
    unsent_outbound,
)
from sika.chat.whatsapp.windows import last_inbound_ns, last_inbounds_ns
from sika.db import writing
from sika.payments.outbox import SECRET, Message
from sika.payments.queue import claim_due, renew

__all__ = ["BATCH_MAX", "DEFER_NS", "OUTBOUND_LEASE_S", "NotificationText", "Sender",
           "default_notification_text"]

log = logging.getLogger(__name__)

# (kind, params, msisdn) -> the sentence to send, in the recipient's language.
NotificationText = Callable[[str, dict[str, Any], str], str]

_NS = 1_000_000_000
WINDOW_S = 24 * 3600
# A message sent this close to the window's end might arrive after it: use the template instead.
WINDOW_MARGIN_S = 60
# Longer than GraphClient's worst case (timeouts and back-off over all its retries).
OUTBOUND_LEASE_S = 300
# A lease taken this recently is not renewed before a send (see send_due).
FRESH_LEASE_S = 30
OUTBOUND_ATTEMPTS_MAX = 8
# A row waiting behind an earlier one of the same person is looked at again this much later.
DEFER_NS = _NS // 5
BATCH_MAX = 1_000
# Threads that send a pass's answers (the Graph API answers each request in tens of milliseconds):
# each person's answers go out in order on one of them.
SEND_THREADS = 32


def texts_of(text: NotificationText, wanted: Sequence[tuple[str, dict[str, Any], str]]) -> list[str]:
    """Several notifications' texts: at once when ``text`` renders batches (``text.many``, as
    :class:`sika.chat.texts.notifications.NotificationText` does, in a few reads), else one by one."""
    many = getattr(text, "many", None)
    if many is not None:
        return list(many(wanted))
    return [text(kind, params, msisdn) for kind, params, msisdn in wanted]


def default_notification_text(kind: str, params: dict[str, Any], _msisdn: str) -> str:
    """A plain line for tests and for a WhatsApp without the dialog's translated receipts."""
    amount = params.get("amount")
    what = kind.replace("_", " ")
    return f"Sika: {what}, {amount} F CFA." if isinstance(amount, int) else f"Sika: {what}."


class Sender:
    """Sends replies and notifications to one WhatsApp Business number (``graph``; None: sending is
    off, and replies are dropped with a warning)."""

    def __init__(self, engine: Engine, graph: GraphClient | None, *,
                 clock_ns: Callable[[], int] = time.time_ns, template_name: str = "sika_notification",
                 template_language: str | Callable[[str], str] = "fr",
                 notification_text: NotificationText = default_notification_text,
                 list_button: str = DEFAULT_LIST_BUTTON) -> None:
        self._engine = engine
        self.graph = graph
        self._clock_ns = clock_ns
        self._template_name = template_name
        self._template_language = template_language
        self._notification_text = notification_text
        self._list_button = list_button
        # Made on first use; its idle threads end with it.
        self._sender_pool: ThreadPoolExecutor | None = None
        self._senders_lock = threading.Lock()

    def language_of(self, msisdn: str) -> str:
        """The language templates to ``msisdn`` are sent in."""
        return (self._template_language if isinstance(self._template_language, str)
                else self._template_language(msisdn))

    def send_queued(self, queued: Sequence[Queued]) -> None:
        """Send answers just queued, each person's in order on one thread, several people at once;
        record the sends in one transaction (even when a send could not be recorded as failed)."""
        if self.graph is None or not queued:
            return
        by_number: dict[str, list[Queued]] = {}
        for answer in queued:
            by_number.setdefault(answer.msisdn, []).append(answer)
        people = list(by_number.values())
        sent: list[tuple[int, int, str]] = []
        failure: BaseException | None = None
        if len(people) == 1:
            sent = self._send_person(people[0])
            sent_outbounds(self._engine, sent, now_ns=self._clock_ns())
            return
        pending = {self._senders().submit(self._send_person, answers) for answers in people}
        leases = [answer.lease for answer in queued if answer.lease is not None]
        # The usual case: every send done long before the first lease ages, and this thread woken
        # once (woken at each person's end, as below, it spent more CPU than the sends' bookkeeping:
        # 1.7 against 0.35 ms a pass of thirty people).
        until_s = self._until_aged_s([(0, min(leases), "")]) if leases else None
        first = True
        try:
            while pending:
                # Then, with a Graph API so slow that leases age: woken when a person's sends are
                # done, or when what went out gets old enough that its lease could run out while
                # slower people's sends go on, and recorded then.
                done, pending = wait(pending, timeout=until_s if first else self._until_aged_s(sent),
                                     return_when=ALL_COMPLETED if first else FIRST_COMPLETED)
                first = False
                for outcome in done:
                    try:
                        sent += outcome.result()
                    except Exception as exc:  # recorded below, after the sends that did go out
                        failure = failure or exc
                if sent and self._aged(min(lease for _, lease, _ in sent)):
                    sent_outbounds(self._engine, sent, now_ns=self._clock_ns())
                    sent = []
        finally:  # what went out is recorded, whatever stopped the wait (the usual case: once, here)
            sent_outbounds(self._engine, sent, now_ns=self._clock_ns())
        if failure is not None:
            raise failure

    def _send_person(self, answers: Sequence[Queued]) -> list[tuple[int, int, str]]:
        """Send one person's answers in order, stopping at the first that must wait; what went out
        (recorded here if something fails midway, rather than lost with the error)."""
        sent: list[tuple[int, int, str]] = []
        try:
            return self._send_in_order(answers, sent)
        except BaseException:
            with contextlib.suppress(Exception):
                sent_outbounds(self._engine, sent, now_ns=self._clock_ns())
            raise

    def _send_in_order(self, answers: Sequence[Queued], sent: list[tuple[int, int, str]]
                       ) -> list[tuple[int, int, str]]:
        for position, answer in enumerate(answers):
            if answer.lease is None:
                self._give_back(answers[position:])  # an earlier message waits: the queue sends these
                break
            lease = answer.lease
            if self._aged(lease):
                # A slow Graph API used much of the leases on this person's earlier answers: those
                # sent are recorded now, and this one's lease renewed, so that no other sender takes
                # either while the rest go (as the queue renews, send_due).
                sent_outbounds(self._engine, sent, now_ns=self._clock_ns())
                sent.clear()  # (the caller's list: what fails after this records only what follows)
                renewed = self._fresh_lease(answer.id, lease)
                if renewed is None:  # not ours now: its new holder sends it; the queue the rest after
                    self._give_back(answers[position + 1:])
                    break
                lease = renewed
            wamid, go_on = self._try_send(answer.as_row(), lease)
            if wamid is not None:
                sent.append((answer.id, lease, wamid))
            if not go_on:
                self._give_back(answers[position + 1:])
                break
        return sent

    def _until_aged_s(self, sent: Sequence[tuple[int, int, str]]) -> float | None:
        """Seconds until the oldest lease of ``sent`` ages (None: nothing sent waits)."""
        if not sent:
            return None
        oldest = min(lease for _, lease, _ in sent)
        return max(0.0, (oldest - (OUTBOUND_LEASE_S - FRESH_LEASE_S) * _NS - self._clock_ns()) / _NS)

    def _aged(self, lease: int) -> bool:
        """Whether less than ``OUTBOUND_LEASE_S - FRESH_LEASE_S`` of ``lease`` is left: more was
        used than a moment's work, and a send's worst case may not fit in what remains."""
        return lease - self._clock_ns() < (OUTBOUND_LEASE_S - FRESH_LEASE_S) * _NS

    def _fresh_lease(self, row_id: int, lease: int) -> int | None:
        """``lease``, renewed first when it has aged (None: another sender holds the row now)."""
        if not self._aged(lease):
            return lease
        return renew(self._engine, outbound, row_id, lease, now_ns=self._clock_ns(),
                     lease_s=OUTBOUND_LEASE_S)

    def _senders(self) -> ThreadPoolExecutor:
        with self._senders_lock:
            if self._sender_pool is None:
                self._sender_pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="whatsapp-send")
            return self._sender_pool

    def _give_back(self, answers: Sequence[Queued]) -> None:
        now = self._clock_ns()
        for answer in answers:
            if answer.lease is not None:
                defer(self._engine, outbound, answer.id, answer.lease, until_ns=now)

    # Sending -------------------------------------------------------------------------------------

    def send(self, msisdn: str, replies: Sequence[Reply], *, key: str | None = None) -> list[str]:
        """Queue and send replies to ``msisdn`` (a template outside the 24-hour window). Returns the
        wamids of what went out now; what could not is retried by :meth:`send_due`. With ``key``, a
        second call with the same key sends nothing new."""
        return self._queue_and_send(msisdn, self.outgoing(msisdn, replies), key)

    def deliver(self, message: Message) -> None:
        """The payments outbox's :class:`~sika.payments.outbox.Channel`: a receipt or notification.

        It returns once the message is in the outbound queue (a failed send is retried there), and
        raises only when it could not be queued. A secret (a voucher's code) is masked in what stays
        stored once the message is sent.
        """
        text = self._notification_text(message.kind, message.params, message.msisdn)
        secret = message.params.get(SECRET)
        outgoing = self.outgoing(message.msisdn, [Reply(text=text)],
                                  secret=str(secret) if secret not in (None, "") else None)
        self._queue_and_send(message.msisdn, outgoing, f"outbox:{message.id}")

    def deliver_many(self, messages: Sequence[Message]) -> None:
        """:meth:`deliver` for a batch of the outbox: every message queued in one transaction, then sent
        at once, each person's in order, and the sends recorded in one more (rather than three
        transactions a message). Returns once all are queued; raises only when they could not be."""
        if not messages:
            return
        windows = last_inbounds_ns(self._engine, {message.msisdn for message in messages})
        texts = texts_of(self._notification_text, [(m.kind, m.params, m.msisdn) for m in messages])
        items: list[tuple[str, str, Sequence[Outgoing]]] = []
        for message, text in zip(messages, texts, strict=True):
            secret = message.params.get(SECRET)
            outgoing = self.outgoing(message.msisdn, [Reply(text=text)],
                                     secret=str(secret) if secret not in (None, "") else None,
                                     window_open=self.window_open_at(windows.get(message.msisdn)))
            items.append((f"outbox:{message.id}", message.msisdn, outgoing))
        now = self._clock_ns()
        with writing(self._engine).begin() as connection:
            queued = enqueue_leased(connection, items, now_ns=now,
                                    send_lease_until_ns=now + OUTBOUND_LEASE_S * _NS)
        try:
            self.send_queued([answer for answers in queued for answer in answers])
        except Exception as exc:  # queued: what did not go out is sent from the queue
            log.warning("sending %s queued notifications failed (%s); the queue sends them again",
                        len(messages), type(exc).__name__)

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
            lease = row["lease_until_ns"]
            # Renewed (a write, a commit) unless the claim leased it a moment ago: every send starts
            # with at least OUTBOUND_LEASE_S - FRESH_LEASE_S left, more than a send's worst case.
            lease = self._fresh_lease(row["id"], lease)
            if lease is None:
                continue
            earlier_ns = older_queued_ns(self._engine, outbound, row["msisdn"], row["id"])
            if earlier_ns is not None:
                defer(self._engine, outbound, row["id"], lease,
                            until_ns=max(earlier_ns, now) + DEFER_NS)
                continue
            self._send_row(row, lease)
        return len(rows)

    def window_open(self, msisdn: str) -> bool:
        """Whether free-form messages may be sent to ``msisdn`` now (Meta's 24-hour window)."""
        return self.window_open_at(last_inbound_ns(self._engine, msisdn))

    def window_open_at(self, last_inbound_ns: int | None) -> bool:
        return (last_inbound_ns is not None
                and self._clock_ns() - last_inbound_ns < (WINDOW_S - WINDOW_MARGIN_S) * _NS)

    def outgoing(self, msisdn: str, replies: Sequence[Reply], *, secret: str | None = None,
                  window_open: bool | None = None) -> list[Outgoing]:
        if self.graph is None:
            if replies:
                log.warning("whatsapp sending is off (no token): %s replies to %s dropped", len(replies),
                            msisdn)
            return []
        if window_open if window_open is not None else self.window_open(msisdn):
            bodies = render_turn(msisdn, replies, list_button=self._list_button)
        else:
            first = next((reply.text for reply in replies if reply.text.strip()), None)
            if first is None:
                return []
            bodies = [render_template(msisdn, self._template_name, self.language_of(msisdn), [first])]
        return [_outgoing(body, secret) for body in bodies]

    def _queue_and_send(self, msisdn: str, outgoing: list[Outgoing], key: str | None) -> list[str]:
        if not outgoing:
            return []
        keys = [f"{key}:{n}" for n in range(len(outgoing))] if key is not None else None
        with writing(self._engine).begin() as connection:
            ids = enqueue_outbound(connection, msisdn, outgoing, keys=keys, now_ns=self._clock_ns())
        return self._send_rows(msisdn, ids)

    def _send_rows(self, msisdn: str, ids: list[int]) -> list[str]:
        """Send queued rows now, in order, stopping at the first that must wait."""
        wamids: list[str] = []
        if not ids or older_queued_ns(self._engine, outbound, msisdn, ids[0]) is not None:
            return wamids  # earlier messages to this person wait: the queue sends these after them
        for row_id in ids:
            row = lease_outbound(self._engine, row_id, now_ns=self._clock_ns(),
                                       lease_s=OUTBOUND_LEASE_S)
            if row is None:
                if outbound_status(self._engine, row_id) == "queued":
                    break  # another sender holds it, or it waits for a retry
                continue  # sent before (a repeated key)
            wamid, go_on = self._send_row(row, row["lease_until_ns"])
            if wamid is not None:
                wamids.append(wamid)
            if not go_on:
                break
        return wamids

    def _send_row(self, row: Any, lease: int) -> tuple[str | None, bool]:
        """Send one leased row and record it: ``(wamid or None, whether the next row may go)``."""
        wamid, go_on = self._try_send(row, lease)
        if wamid is not None:
            sent_outbound(self._engine, row["id"], lease, wamid, now_ns=self._clock_ns())
        return wamid, go_on

    def _try_send(self, row: Any, lease: int) -> tuple[str | None, bool]:
        """Send one leased row; a failure is recorded (the row is retried or failed), a success is
        the caller's to record. Returns ``(wamid or None, whether the next row may go)``."""
        assert self.graph is not None
        body = jsoncodec.loads(row["secret_body_json"] or row["body_json"])
        try:
            wamid = self.graph.send(body)
        except Exception as exc:  # GraphError, or a bug: the row is retried, then given up
            error_code = exc.error_code if isinstance(exc, GraphError) else None
            retryable = exc.retryable if isinstance(exc, GraphError) else True
            final = unsent_outbound(self._engine, row, lease, error_code=error_code,
                                          retryable=retryable, now_ns=self._clock_ns(),
                                          attempts_max=OUTBOUND_ATTEMPTS_MAX)
            log.warning("whatsapp message %s to %s not sent (attempt %s, %s, code %s)%s", row["id"],
                        row["msisdn"], row["attempts"], type(exc).__name__, error_code,
                        ": given up" if final else "")
            return None, final
        return wamid, True



def _outgoing(body: dict[str, Any], secret: str | None) -> Outgoing:
    full = jsoncodec.dumps(body)
    if not secret:
        return Outgoing(body_json=full)
    masked = jsoncodec.dumps(_masked(body, secret))
    return Outgoing(body_json=masked, secret_body_json=full if masked != full else None)


def _masked(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, MASK)
    if isinstance(value, dict):
        return {key: _masked(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, secret) for item in value]
    return value

