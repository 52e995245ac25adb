"""The webhook's group commit: concurrent notifications share one transaction.

The mechanism is :mod:`sika.group_commit`'s; what the webhook adds is what a group is. A request is one
notification's writes (its new messages for the inbox, its delivery statuses), its size their number.
One writer thread stores the messages of everything queued meanwhile in one transaction, applies the
statuses of the notifications whose messages are stored in one more, wakes the callers, and starts on
what queued up during the write. A 200 goes back to Meta only once the notification's writes are
committed; a failed write reaches every caller it concerns, so that Meta delivers them again.

Bounded, like everything on the request path: at most ``QUEUED_MAX`` writes wait (beyond, a
notification is refused at once), and a caller waits ``WAIT_S`` at most. Either way it gets
:class:`InboxBusy` (``whatsapp_inbox_busy``), the webhook answers 503 and Meta delivers the
notification again; a write that still lands after its caller gave up is harmless, since the inbox
keeps each message id once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from sika.chat.whatsapp.store import Received
from sika.chat.whatsapp.webhook import StatusUpdate
from sika.errors import SikaError
from sika.group_commit import GroupCommit as Mechanism
from sika.group_commit import Request

__all__ = ["GROUP_MESSAGES_MAX", "LINGER_S", "QUEUED_MAX", "WAIT_S", "GroupCommit", "InboxBusy",
           "Notification"]

# Messages of concurrent notifications the webhook stores in one transaction at most.
GROUP_MESSAGES_MAX = 1_000
# Writes (messages and statuses) that may wait for the writer: ten full groups, well under a second of
# work for a healthy database, and a few megabytes at most.
QUEUED_MAX = 10 * GROUP_MESSAGES_MAX
# How long a notification waits for its group to be committed before the webhook gives up on it.
WAIT_S = 10.0
# After a group that answered several notifications, how long the writer waits for as many to come
# back before it writes the next: fewer, fuller groups, so fewer commits under SQLite's write lock.
# Measured (docs/benchmarks.md, realistic mix, serve + 2 workers, SQLite, ten alternated pairs):
# 1,062 → 1,137 messages/s at the median, the webhook's p50 7.2 → 5.7 ms and p99 21 → 19 ms; 5 ms was
# worse than 2. A notification that follows a lone one never waits.
LINGER_S = 0.002


class InboxBusy(SikaError):
    """The inbox cannot store this notification now (the queue is full, or the database too slow):
    answered 503, and Meta delivers it again later."""

    code = "whatsapp_inbox_busy"


class Notification(NamedTuple):
    """One notification's writes, and when it came."""

    received: Sequence[Received]
    statuses: Sequence[StatusUpdate]
    now_ns: int


_Group = Sequence[Request[Notification, list[bool]]]


class GroupCommit:
    """Concurrent notifications share one transaction (a group commit): fewer commits, no caller
    sleeps in the database's lock queue, and a coroutine caller costs no thread of its own
    (:meth:`commit_async`). At most ``queued_max`` writes wait, and a caller waits ``wait_s`` at most
    (:class:`InboxBusy`). The writer thread ends after ``idle_s`` without work; the next caller starts
    another."""

    def __init__(self, write: Callable[[Sequence[Received]], list[bool]],
                 apply_statuses: Callable[[Sequence[StatusUpdate], int], object], *,
                 messages_max: int = GROUP_MESSAGES_MAX, idle_s: float = 1.0, queued_max: int = QUEUED_MAX,
                 wait_s: float = WAIT_S, linger_s: float = LINGER_S) -> None:
        self._write = write
        self._apply_statuses = apply_statuses
        # Not a daemon: a write under way is committed and answered before the interpreter exits (an
        # idle writer holds the exit up for idle_s at most).
        self._commit: Mechanism[Notification, list[bool]] = Mechanism(
            self._write_group, name="whatsapp-inbox", busy=InboxBusy, group_max=messages_max,
            queued_max=queued_max, wait_s=wait_s, idle_s=idle_s, daemon=False, linger_s=linger_s)

    def commit(self, received: Sequence[Received], statuses: Sequence[StatusUpdate] = (), *,
               now_ns: int) -> list[bool]:
        """Store ``received`` and apply ``statuses`` (in a group); whether each message was new."""
        return self._commit.submit(Notification(received, statuses, now_ns),
                                   size=len(received) + len(statuses))

    async def commit_async(self, received: Sequence[Received], statuses: Sequence[StatusUpdate] = (),
                           *, now_ns: int) -> list[bool]:
        """:meth:`commit` for a coroutine: its event loop goes on serving while the group is written."""
        return await self._commit.submit_async(Notification(received, statuses, now_ns),
                                               size=len(received) + len(statuses))

    def waiting(self) -> int:
        """Notifications queued behind the write in progress."""
        return self._commit.waiting()

    def _write_group(self, group: _Group, lane: int) -> None:
        """The group's messages in one transaction, then the statuses of the group's notifications
        whose messages are stored in one more (Meta posts two or three statuses for every message we
        send, so at scale most notifications are statuses)."""
        with_messages = []
        for request in group:
            request.result = []
            if request.payload.received:
                with_messages.append(request)
        if with_messages:
            try:
                added = self._write([item for request in with_messages for item in request.payload.received])
            except BaseException as exc:  # every caller of the group hears of it (Meta delivers again)
                for request in with_messages:
                    request.fail(exc)
            else:
                position = 0
                for request in with_messages:
                    request.result = added[position:position + len(request.payload.received)]
                    position += len(request.payload.received)
        with_statuses = [request for request in group if request.payload.statuses and request.error is None]
        if with_statuses:
            try:
                self._apply_statuses(
                    [status for request in with_statuses for status in request.payload.statuses],
                    max(request.payload.now_ns for request in with_statuses))
            except BaseException as exc:  # their callers hear of it (Meta delivers again)
                for request in with_statuses:
                    request.fail(exc)
