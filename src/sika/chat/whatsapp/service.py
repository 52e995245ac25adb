"""WhatsApp as a channel of the dialog: webhook in, inbox, dialog, outbound queue, Cloud API out.

The webhook only stores (:meth:`WhatsApp.receive`): each message id once, whatever Meta redelivers
and however many deliveries race. Workers then take the inbox at their own pace
(:meth:`WhatsApp.process_inbox`): one message is handed to the dialog once, the dialog's answers are
queued in the transaction that marks the message handled, and are sent right away, in order. A send
that fails is retried from the outbound queue (:meth:`WhatsApp.send_due`) without asking the dialog
again. Messages of one person are handled, and answered, in the order they came.

A worker's pass handles its claimed batch in few transactions: the conversations of the batch are
read at once (:func:`sika.chat.state.batch`), and up to ``FLUSH_MAX`` answered messages (or what
``FLUSH_NS`` gathered) are recorded in one transaction: marked handled, their conversations saved,
their answers queued and, for people with nothing else waiting, leased to this worker, which sends
them right after the commit and records the sends in one more transaction. A worker that dies between
the two leaves its answers leased: the outbound queue sends them once the lease has run out.

Meta allows free-form messages only within 24 hours of the person's last message (the
customer-service window). Outside it, :meth:`send` sends the approved template ``template_name``
instead, with the first reply's text as its one body parameter ({{1}}); replies without text are
dropped then. Receipts from the payments outbox (:meth:`deliver`) usually take that path.

Nothing here logs what people write: message ids, numbers and error codes only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sqlalchemy import Engine

from sika.chat import state
from sika.chat.messages import MASK, Inbound, Reply, Turn
from sika.chat.whatsapp import store
from sika.chat.whatsapp.attachments import screen
from sika.chat.whatsapp.graph import GraphClient, GraphError
from sika.chat.whatsapp.marketing import LIMIT_PAUSE_S, PER_USER_MARKETING_LIMIT, MarketingSender
from sika.chat.whatsapp.render import DEFAULT_LIST_BUTTON, render_template, render_turn
from sika.chat.whatsapp.schema import inbox, outbound
from sika.chat.whatsapp.sealing import Sealer
from sika.chat.whatsapp.webhook import CHANNEL, StatusUpdate, parse, signature_valid, verify_subscription
from sika.db import writing
from sika.notices.categories import category_of
from sika.payments.channels import Unreachable
from sika.payments.outbox import SECRET, Message
from sika.payments.queue import backoff_ns, claim_due, renew

__all__ = ["Handler", "NotificationText", "Prefetch", "WhatsApp", "default_notification_text"]

log = logging.getLogger(__name__)

Handler = Callable[[Inbound], Turn]
# Reads what the handler will need for a batch's numbers at once, for the batch's duration (on this
# thread): Dialog.prefetch.
Prefetch = Callable[[Collection[str]], AbstractContextManager[None]]
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
# Messages of concurrent notifications the webhook stores in one transaction at most.
GROUP_MESSAGES_MAX = 1_000
# Threads that send a pass's answers (the Graph API answers each request in tens of milliseconds):
# each person's answers go out in order on one of them.
SEND_THREADS = 32
# Answered messages one transaction records at most, and how long the first of them waits for it.
FLUSH_MAX = 100
FLUSH_NS = _NS // 10


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
                 list_button: str = DEFAULT_LIST_BUTTON, prefetch: Prefetch | None = None,
                 marketing_template: str = "sika_offer",
                 on_marketing_limit: Callable[[str, int], None] | None = None) -> None:
        self._engine = engine
        self._verify_token = verify_token
        self._app_secret = app_secret
        self._sealer = Sealer(app_secret)  # what could be a PIN is stored sealed
        self.graph = graph
        self.handler = handler
        self._prefetch = prefetch
        self._clock_ns = clock_ns
        self._template_name = template_name
        self._template_language = template_language
        self._notification_text = notification_text
        self._list_button = list_button
        # Promotions: an approved marketing template, sent while the outbox waits (see marketing.py).
        self._on_marketing_limit = on_marketing_limit
        self._marketing = None if graph is None else MarketingSender(
            engine, graph, template_name=marketing_template, template_language=self._language_of,
            text=notification_text, clock_ns=clock_ns, on_limit=on_marketing_limit)
        self._storer = _GroupCommit(lambda received: store.add_inbounds(engine, received),
                                    lambda statuses, now: store.apply_statuses(engine, statuses, now_ns=now))
        # Made on first use; its idle threads end with it.
        self._sender_pool: ThreadPoolExecutor | None = None
        self._senders_lock = threading.Lock()

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

    def _notification(self, raw_body: bytes) -> tuple[list[store.Received], list[StatusUpdate], int] | None:
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
        return store.received_of(parsed, now_ns=now, sealer=self._sealer), parsed.statuses, now

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
        earlier = store.queued_before(self._engine, inbox, rows)
        numbers = {row["msisdn"] for row in rows}
        windows = store.last_inbounds_ns(self._engine, numbers) if self.graph is not None else {}
        waits: dict[str, int] = {}  # people whose earlier message waits: when it is due
        handled: list[store.Handled] = []
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
                    leases = store.renew_all(self._engine, inbox, rest, now_ns=now, lease_s=INBOX_LEASE_S)
                lease = leases.get(row["id"])
                if lease is None:
                    continue  # our lease ran out while earlier rows were handled: another worker has it
                due_ns = _due_before(row, earlier, waits)
                if due_ns is not None:
                    until_ns = max(due_ns, now) + DEFER_NS
                    store.defer(self._engine, inbox, row["id"], lease, until_ns=until_ns)
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
                waits: dict[str, int]) -> store.Handled | None:
        """Hand one message to the dialog: what to record, or None when it failed (it is retried)."""
        msisdn = row["msisdn"]
        before = conversations.snapshot(msisdn)
        try:
            inbound = store.decode_inbound(row["payload_json"], self._sealer.open)
            turn = self.handler(inbound)
            outgoing = self._outgoing(inbound.msisdn, turn.replies,
                                      window_open=self._window_open_at(windows.get(msisdn)))
        except Exception as exc:  # the dialog's failure is retried later; the message is kept
            conversations.restore(msisdn, before)
            now = self._clock_ns()
            gave_up = store.retry_inbound(self._engine, row, lease, exc, now_ns=now,
                                          attempts_max=INBOX_ATTEMPTS_MAX)
            if not gave_up:  # this person's next messages wait for this one
                waits[msisdn] = min(waits.get(msisdn, now), now + backoff_ns(int(row["attempts"])))
            log.warning("whatsapp message %s (inbox %s) failed on attempt %s: %s%s", row["message_id"],
                        row["id"], row["attempts"], type(exc).__name__, "; given up" if gave_up else "")
            return None
        return store.Handled(row=row, lease=lease, outgoing=outgoing, secret=turn.secret_input)

    def _flush(self, handled: list[store.Handled], conversations: state.Batch, waits: dict[str, int]) -> None:
        """Record answered messages in one transaction, then send their answers."""
        if not handled and not conversations.unsaved:
            return
        now = self._clock_ns()
        send_lease_ns = now + OUTBOUND_LEASE_S * _NS if self.graph is not None else None
        try:
            with writing(self._engine).begin() as connection:
                queued = store.finish_inbounds(connection, handled, now_ns=now,
                                               send_lease_until_ns=send_lease_ns)
                conversations.write(connection)
        except store.LeaseLost as lost:
            # Rolled back: nothing of these messages was recorded. Give back those still ours; they
            # are handled again (money moves once: its id comes from the message id).
            log.error("whatsapp message %s was taken over by another worker; %s answered messages are "
                      "handled again", lost.args[0], len(handled))
            numbers = {item.row["msisdn"] for item in handled}
            conversations.forget(numbers)
            for item in handled:
                store.defer(self._engine, inbox, item.row["id"], item.lease, until_ns=now)
            for number in numbers:
                waits[number] = min(waits.get(number, now), now)
            return
        self._send_queued([answer for answers in queued for answer in answers])

    def _send_queued(self, queued: Sequence[store.Queued]) -> None:
        """Send answers just queued, each person's in order on one thread, several people at once;
        record the sends in one transaction (even when a send could not be recorded as failed)."""
        if self.graph is None or not queued:
            return
        by_number: dict[str, list[store.Queued]] = {}
        for answer in queued:
            by_number.setdefault(answer.msisdn, []).append(answer)
        people = list(by_number.values())
        sent: list[tuple[int, int, str]] = []
        failure: BaseException | None = None
        if len(people) == 1:
            outcomes: list[Future[list[tuple[int, int, str]]]] = []
            sent = self._send_person(people[0])
        else:
            outcomes = [self._senders().submit(self._send_person, answers) for answers in people]
        for outcome in outcomes:
            try:
                sent += outcome.result()
            except Exception as exc:  # recorded below, after the sends that did go out
                failure = failure or exc
        store.sent_outbounds(self._engine, sent, now_ns=self._clock_ns())
        if failure is not None:
            raise failure

    def _send_person(self, answers: Sequence[store.Queued]) -> list[tuple[int, int, str]]:
        """Send one person's answers in order, stopping at the first that must wait; what went out."""
        sent: list[tuple[int, int, str]] = []
        for position, answer in enumerate(answers):
            if answer.lease is None:
                self._give_back(answers[position:])  # an earlier message waits: the queue sends these
                break
            wamid, go_on = self._try_send(answer.as_row(), answer.lease)
            if wamid is not None:
                sent.append((answer.id, answer.lease, wamid))
            if not go_on:
                self._give_back(answers[position + 1:])
                break
        return sent

    def _senders(self) -> ThreadPoolExecutor:
        with self._senders_lock:
            if self._sender_pool is None:
                self._sender_pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="whatsapp-send")
            return self._sender_pool

    def _give_back(self, answers: Sequence[store.Queued]) -> None:
        now = self._clock_ns()
        for answer in answers:
            if answer.lease is not None:
                store.defer(self._engine, outbound, answer.id, answer.lease, until_ns=now)

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
        if category_of(message.kind) == "marketing":  # never free-form, never queued behind the outbox
            if self._marketing is None:
                raise Unreachable("whatsapp sending is off (no token)")
            self._marketing.deliver(message)
            return
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
        return self._window_open_at(store.last_inbound_ns(self._engine, msisdn))

    def _window_open_at(self, last_inbound_ns: int | None) -> bool:
        return (last_inbound_ns is not None
                and self._clock_ns() - last_inbound_ns < (WINDOW_S - WINDOW_MARGIN_S) * _NS)

    def _outgoing(self, msisdn: str, replies: Sequence[Reply], *, secret: str | None = None,
                  window_open: bool | None = None) -> list[store.Outgoing]:
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
            bodies = [render_template(msisdn, self._template_name, self._language_of(msisdn), [first])]
        return [_outgoing(body, secret) for body in bodies]

    def _language_of(self, msisdn: str) -> str:
        return (self._template_language if isinstance(self._template_language, str)
                else self._template_language(msisdn))

    def _queue_and_send(self, msisdn: str, outgoing: list[store.Outgoing], key: str | None) -> list[str]:
        if not outgoing:
            return []
        keys = [f"{key}:{n}" for n in range(len(outgoing))] if key is not None else None
        with writing(self._engine).begin() as connection:
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
        """Send one leased row and record it: ``(wamid or None, whether the next row may go)``."""
        wamid, go_on = self._try_send(row, lease)
        if wamid is not None:
            store.sent_outbound(self._engine, row["id"], lease, wamid, now_ns=self._clock_ns())
        return wamid, go_on

    def _try_send(self, row: Any, lease: int) -> tuple[str | None, bool]:
        """Send one leased row; a failure is recorded (the row is retried or failed), a success is
        the caller's to record. Returns ``(wamid or None, whether the next row may go)``."""
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
        return wamid, True


@dataclass(eq=False, slots=True)
class _Request:
    """One notification's writes, what came of them, and how its caller is woken once they are done:
    a thread waits on an event, a coroutine awaits a future of its event loop."""

    received: Sequence[store.Received]
    statuses: Sequence[StatusUpdate]
    now_ns: int
    waiter: threading.Event | asyncio.Future[None]
    added: list[bool] = field(default_factory=list)
    error: BaseException | None = None
    # The error's traceback where it happened: the callers of a group share the error, and each
    # raise would otherwise add its caller's frames to the last one's (hundreds of lines logged).
    origin: TracebackType | None = None

    @property
    def size(self) -> int:
        return len(self.received) + len(self.statuses)

    def fail(self, error: BaseException) -> None:
        self.error, self.origin = error, error.__traceback__

    def outcome(self) -> list[bool]:
        if self.error is not None:
            raise self.error.with_traceback(self.origin)
        return self.added


class _GroupCommit:
    """Concurrent notifications share one transaction (a group commit). Callers queue their writes; one
    writer thread stores the messages of everything queued meanwhile in one transaction, applies each
    caller's statuses, wakes the callers, then starts on what queued up during the write. Fewer
    commits, no caller sleeps in the database's lock queue, and a coroutine caller costs no thread of
    its own (:meth:`commit_async`). A notification is answered only once its writes are committed; a
    failed write reaches every caller it concerns, so that Meta delivers those notifications again."""

    def __init__(self, write: Callable[[Sequence[store.Received]], list[bool]],
                 apply_statuses: Callable[[Sequence[StatusUpdate], int], object], *,
                 messages_max: int = GROUP_MESSAGES_MAX, idle_s: float = 1.0) -> None:
        self._write = write
        self._apply_statuses = apply_statuses
        self._messages_max = messages_max
        self._idle_s = idle_s  # an idle writer thread ends after this; under load it never idles
        self._lock = threading.Lock()
        self._queue: deque[_Request] = deque()
        self._writing = False  # the writer has work: a caller that queues need not wake it
        self._alive = False  # a writer thread runs (it ends after idle_s without work)
        # How a caller wakes the parked writer: far cheaper than a thread pool's submit per group.
        self._wakeup: queue.SimpleQueue[None] = queue.SimpleQueue()

    def commit(self, received: Sequence[store.Received], statuses: Sequence[StatusUpdate] = (), *,
               now_ns: int) -> list[bool]:
        """Store ``received`` and apply ``statuses`` (in a group); whether each message was new."""
        waiter = threading.Event()
        request = _Request(received, statuses, now_ns, waiter)
        self._enqueue(request)
        waiter.wait()
        return request.outcome()

    async def commit_async(self, received: Sequence[store.Received], statuses: Sequence[StatusUpdate] = (),
                           *, now_ns: int) -> list[bool]:
        """:meth:`commit` for a coroutine: its event loop goes on serving while the group is written."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        request = _Request(received, statuses, now_ns, waiter)
        self._enqueue(request)
        await waiter
        return request.outcome()

    def _enqueue(self, request: _Request) -> None:
        with self._lock:
            self._queue.append(request)
            if self._writing:
                return  # the writer takes it after the group it is writing
            self._writing = True
            start = not self._alive
            self._alive = True
        if not start:
            self._wakeup.put(None)
            return
        try:
            # Not a daemon: a write under way is committed and answered before the interpreter exits
            # (an idle writer holds the exit up for idle_s at most).
            threading.Thread(target=self._run, name="whatsapp-inbox").start()
        except RuntimeError as exc:  # no thread to write with: refuse rather than never answer
            self._fail_queued(exc)
            raise

    def _run(self) -> None:
        """The writer: write groups while callers wait, park in between, end once idle for long."""
        group: list[_Request] | None = None
        try:
            while True:
                with self._lock:
                    group = self._take_group() if self._queue else None
                    self._writing = group is not None
                if group is not None:
                    self._write_group(group)
                    _wake(group)
                    group = None
                elif not self._park():
                    return
        except BaseException as exc:  # never leave callers waiting on a writer that is gone
            log.exception("the whatsapp inbox writer stopped; the notifications waiting are refused")
            for request in group or ():
                request.fail(exc)
            _wake(group or [])
            self._fail_queued(exc)  # the next caller starts a new writer

    def _park(self) -> bool:
        """Wait for a caller; False when none came within ``idle_s`` (the thread ends)."""
        try:
            self._wakeup.get(timeout=self._idle_s)
        except queue.Empty:
            with self._lock:
                if not self._writing:
                    self._alive = False
                    return False
            self._wakeup.get()  # a caller came as the wait ran out: its wake-up is on its way
        return True

    def _take_group(self) -> list[_Request]:
        group = [self._queue.popleft()]
        size = group[0].size
        while self._queue and size + self._queue[0].size <= self._messages_max:
            size += self._queue[0].size
            group.append(self._queue.popleft())
        return group

    def _write_group(self, group: list[_Request]) -> None:
        """The group's messages in one transaction, then the statuses of the group's notifications
        whose messages are stored in one more (Meta posts two or three statuses for every message we
        send, so at scale most notifications are statuses)."""
        with_messages = [request for request in group if request.received]
        if with_messages:
            try:
                added = self._write([item for request in with_messages for item in request.received])
            except BaseException as exc:  # every caller of the group hears of it (Meta delivers again)
                for request in with_messages:
                    request.fail(exc)
            else:
                position = 0
                for request in with_messages:
                    request.added = added[position:position + len(request.received)]
                    position += len(request.received)
        with_statuses = [request for request in group if request.statuses and request.error is None]
        if with_statuses:
            try:
                self._apply_statuses([status for request in with_statuses for status in request.statuses],
                                     max(request.now_ns for request in with_statuses))
            except BaseException as exc:  # their callers hear of it (Meta delivers again)
                for request in with_statuses:
                    request.fail(exc)

    def _fail_queued(self, error: BaseException) -> None:
        with self._lock:
            group = list(self._queue)
            self._queue.clear()
            self._writing = self._alive = False
        for request in group:
            request.fail(error)
        _wake(group)


def _wake(group: Sequence[_Request]) -> None:
    """Wake a written group's callers: threads at once, each event loop's coroutines with one call."""
    futures: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for request in group:
        if isinstance(request.waiter, threading.Event):
            request.waiter.set()
        else:
            futures.setdefault(request.waiter.get_loop(), []).append(request.waiter)
    for loop, waiting in futures.items():
        try:
            loop.call_soon_threadsafe(_settle, waiting)
        except RuntimeError:  # the loop is closed: nobody awaits these any more
            continue


def _settle(futures: Sequence[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a caller cancelled meanwhile (its client went away)
            future.set_result(None)


def _screen_new(received: Sequence[store.Received], added: Sequence[bool]) -> int:
    """How many messages were new; the files among them are screened (once, when first stored)."""
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
