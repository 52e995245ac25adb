"""The webhook's group commit: concurrent notifications share one transaction.

Each notification's writes (its new messages for the inbox, its delivery statuses) are queued; one
writer thread stores everything queued meanwhile in one transaction, wakes the callers, and starts on
what queued up during the write. A 200 goes back to Meta only once the notification's writes are
committed; a failed write reaches every caller it concerns, so that Meta delivers them again.

Bounded, like everything on the request path: at most ``QUEUED_MAX`` writes wait (beyond, a
notification is refused at once), and a caller waits ``WAIT_S`` at most. Either way it gets
:class:`InboxBusy` (``whatsapp_inbox_busy``), the webhook answers 503 and Meta delivers the
notification again; a write that still lands after its caller gave up is harmless, since the inbox
keeps each message id once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from sika.chat.whatsapp.store import Received
from sika.chat.whatsapp.webhook import StatusUpdate
from sika.errors import SikaError

__all__ = ["GROUP_MESSAGES_MAX", "QUEUED_MAX", "WAIT_S", "GroupCommit", "InboxBusy", "Request"]

log = logging.getLogger(__name__)

# Messages of concurrent notifications the webhook stores in one transaction at most.
GROUP_MESSAGES_MAX = 1_000
# Writes (messages and statuses) that may wait for the writer: ten full groups, well under a second of
# work for a healthy database, and a few megabytes at most.
QUEUED_MAX = 10 * GROUP_MESSAGES_MAX
# How long a notification waits for its group to be committed before the webhook gives up on it.
WAIT_S = 10.0


class InboxBusy(SikaError):
    """The inbox cannot store this notification now (the queue is full, or the database too slow):
    answered 503, and Meta delivers it again later."""

    code = "whatsapp_inbox_busy"


@dataclass(eq=False, slots=True)
class Request:
    """One notification's writes, what came of them, and how its caller is woken once they are done:
    a thread waits on an event, a coroutine awaits a future of its event loop."""

    received: Sequence[Received]
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


class GroupCommit:
    """Concurrent notifications share one transaction (a group commit). Callers queue their writes; one
    writer thread stores the messages of everything queued meanwhile in one transaction, applies each
    caller's statuses, wakes the callers, then starts on what queued up during the write. Fewer
    commits, no caller sleeps in the database's lock queue, and a coroutine caller costs no thread of
    its own (:meth:`commit_async`). A notification is answered only once its writes are committed; a
    failed write reaches every caller it concerns, so that Meta delivers those notifications again.
    At most ``queued_max`` writes wait, and a caller waits ``wait_s`` at most (:class:`InboxBusy`)."""

    def __init__(self, write: Callable[[Sequence[Received]], list[bool]],
                 apply_statuses: Callable[[Sequence[StatusUpdate], int], object], *,
                 messages_max: int = GROUP_MESSAGES_MAX, idle_s: float = 1.0, queued_max: int = QUEUED_MAX,
                 wait_s: float = WAIT_S) -> None:
        assert 0 < messages_max <= queued_max and wait_s > 0
        self._write = write
        self._apply_statuses = apply_statuses
        self._messages_max = messages_max
        self._idle_s = idle_s  # an idle writer thread ends after this; under load it never idles
        self._queued_max = queued_max
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._queue: deque[Request] = deque()
        self._queued = 0  # the writes (messages and statuses) of the requests in _queue
        # The waiting coroutines of the event loop that called last (a loop served before keeps its
        # own until its waiters are answered or expired).
        self._deadlines: _Deadlines | None = None
        self._writing = False  # the writer has work: a caller that queues need not wake it
        self._alive = False  # a writer thread runs (it ends after idle_s without work)
        # How a caller wakes the parked writer: far cheaper than a thread pool's submit per group.
        self._wakeup: queue.SimpleQueue[None] = queue.SimpleQueue()

    def commit(self, received: Sequence[Received], statuses: Sequence[StatusUpdate] = (), *,
               now_ns: int) -> list[bool]:
        """Store ``received`` and apply ``statuses`` (in a group); whether each message was new."""
        waiter = threading.Event()
        request = Request(received, statuses, now_ns, waiter)
        self._enqueue(request)
        if not waiter.wait(self._wait_s):
            raise _timed_out(self._wait_s)
        return request.outcome()

    async def commit_async(self, received: Sequence[Received], statuses: Sequence[StatusUpdate] = (),
                           *, now_ns: int) -> list[bool]:
        """:meth:`commit` for a coroutine: its event loop goes on serving while the group is written."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        request = Request(received, statuses, now_ns, waiter)
        self._enqueue(request)
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = _Deadlines(loop, self._wait_s)
        deadlines.add(waiter)
        await waiter
        return request.outcome()

    def _enqueue(self, request: Request) -> None:
        with self._lock:
            if self._queue and self._queued + request.size > self._queued_max:
                # Refused before anything is queued: Meta delivers it again once the writer caught up.
                raise InboxBusy(f"{self._queued} writes wait for the inbox already")
            self._queue.append(request)
            self._queued += request.size
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
        group: list[Request] | None = None
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
            # A caller came as the wait ran out: its wake-up is on its way. Bounded all the same:
            # the loop looks at the queue whether or not the wake-up arrived.
            with contextlib.suppress(queue.Empty):
                self._wakeup.get(timeout=self._wait_s)
        return True

    def _take_group(self) -> list[Request]:
        group = [self._queue.popleft()]
        size = group[0].size
        while self._queue and size + self._queue[0].size <= self._messages_max:
            size += self._queue[0].size
            group.append(self._queue.popleft())
        self._queued -= size
        assert self._queued >= 0, self._queued
        return group

    def _write_group(self, group: list[Request]) -> None:
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
            self._queued = 0
            self._writing = self._alive = False
        for request in group:
            request.fail(error)
        _wake(group)


def _wake(group: Sequence[Request]) -> None:
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


def _timed_out(wait_s: float) -> InboxBusy:
    return InboxBusy(f"the inbox did not store the notification within {wait_s:g} s")


class _Deadlines:
    """The coroutines of one event loop waiting for their groups, oldest first, and one timer that
    fails those still waiting after ``wait_s``: one timer for them all rather than one each (a timer
    a notification costs as much as the rest of the group commit's work for it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wait_s: float) -> None:
        self.loop = loop
        self._wait_s = wait_s
        self._waiting: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, waiter: asyncio.Future[None]) -> None:
        """Called on the loop's thread, as every method here."""
        while self._waiting and self._waiting[0][1].done():  # answered: forget them as we go
            self._waiting.popleft()
        self._waiting.append((self.loop.time() + self._wait_s, waiter))
        if self._timer is None:
            self._timer = self.loop.call_at(self._waiting[0][0], self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self.loop.time()
        while self._waiting and (self._waiting[0][1].done() or self._waiting[0][0] <= now):
            _, waiter = self._waiting.popleft()
            if not waiter.done():  # still waiting: its notification is refused (Meta delivers again)
                waiter.set_exception(_timed_out(self._wait_s))
        if self._waiting:
            self._timer = self.loop.call_at(self._waiting[0][0], self._expire)
