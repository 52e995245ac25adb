"""Group commit: concurrent requests share one database transaction and one fsync.

Requests wait in one queue. A *lane* (a writer thread with its own connection) takes every request
waiting (up to ``group_max`` transfers) and runs them as one batch, each request a segment of its own
so that results and linked chains stay per request. While one commit is in flight the next group
gathers by itself; after a commit that answered several callers the lane waits at most half a
millisecond for them to come back, so a lone request pays no added latency and a crowd shares the
cost of a commit.

With several lanes (PostgreSQL), groups run side by side: while one waits for the database, another
gathers and sends. A lane only takes requests whose accounts no group in flight touches, so groups
running together never wait on each other's row locks, and each sees the accounts as the previous
commits left them. A request skipped for that reason keeps its place: it goes first once the
accounts are free. Lanes gather one at a time, so with one lane the order is strictly first come,
first served.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from sika.ledger.engine import referenced_account_ids
from sika.ledger.model import Transfer, TransferResult

__all__ = ["LANES_MAX", "GroupCommitter"]

# run(transfers, segments, lane) -> one result per transfer
RunBatch = Callable[[list[Transfer], list[int], int], list[TransferResult]]
LANES_MAX = 16
_QUEUE_MAX = 100_000
# Longest a group waits for callers it just answered: a fraction of one commit's fsync.
_LINGER_S_MAX = 0.0005
# Requests a lane looks through for ones it may take: a bound on the work of one gathering.
_SCAN_MAX = 1_024


class _Request:
    """One caller's transfers and, once run, their results. ``done`` is held until they are in."""

    __slots__ = ("accounts", "done", "error", "results", "transfers")

    def __init__(self, transfers: Sequence[Transfer]) -> None:
        self.transfers = transfers
        self.accounts = referenced_account_ids(transfers)
        self.results: list[TransferResult] = []
        self.error: BaseException | None = None
        # A lock acquired now and released by the lane: the cheapest one-shot signal in CPython.
        self.done = threading.Lock()
        self.done.acquire()


class GroupCommitter:
    def __init__(
        self,
        run: RunBatch,
        *,
        group_max: int,
        lanes: int = 1,
        on_close: Callable[[int], None] | None = None,
    ) -> None:
        assert group_max > 0
        assert 1 <= lanes <= LANES_MAX
        self._run = run
        self._on_close = on_close
        self._group_max = group_max
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # a request came, or accounts were freed
        self._space = threading.Condition(self._lock)  # the queue has room again
        self._waiting: deque[_Request] = deque()
        self._busy: set[int] = set()  # accounts of the groups in flight
        # Queue length at which a submitter wakes the gathering lane: 1 while it waits for a first
        # request; while it lingers, as many as it still hopes for (each wake-up costs a thread
        # switch, and a group of 20 would otherwise cost 20).
        self._wanted = 1
        self._space_waiting = 0
        self._closed = False
        self._gathering = threading.Lock()  # one lane gathers at a time
        self._threads = [
            threading.Thread(target=self._loop, args=(lane,), name="ledger-group-commit", daemon=True)
            for lane in range(lanes)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, transfers: Sequence[Transfer]) -> list[TransferResult]:
        if not transfers:
            return []
        if len(transfers) > self._group_max:
            raise ValueError(f"a request holds at most {self._group_max} transfers")
        request = _Request(transfers)
        # Checked and enqueued under one lock, so that no request lands after the lanes have left.
        with self._lock:
            while len(self._waiting) >= _QUEUE_MAX and not self._closed:
                self._space_waiting += 1
                self._space.wait()
                self._space_waiting -= 1
            if self._closed:
                raise RuntimeError("the ledger's group committer is closed")
            self._waiting.append(request)
            if len(self._waiting) >= self._wanted:
                self._arrived.notify()
        request.done.acquire()
        if request.error is not None:
            raise request.error
        return request.results

    @property
    def closed(self) -> bool:
        return self._closed

    def waiting(self) -> int:
        """Requests queued and not yet taken by a lane."""
        with self._lock:
            return len(self._waiting)

    def close(self) -> None:
        """Run what is queued, then stop every lane (idempotent)."""
        with self._lock:
            self._closed = True
            self._arrived.notify_all()
            self._space.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()

    def _loop(self, lane: int) -> None:
        answered = 0
        while True:
            with self._gathering:
                group = self._gather(answered)
            if group is None:
                break
            self._commit(group, lane)
            answered = len(group)
        if self._on_close is not None:
            # Resources a lane owns (its connection) are released by the lane's own thread.
            self._on_close(lane)

    def _gather(self, answered: int) -> list[_Request] | None:
        """The next group (its accounts marked busy), or None once closed and drained."""
        group: list[_Request] = []
        accounts: set[int] = set()
        with self._lock:
            size = self._take(group, accounts, 0)
            while not group:
                if self._closed and not self._waiting:
                    return None
                self._arrived.wait()
                size = self._take(group, accounts, 0)
            # The callers just answered are waking up to send their next request; waiting a moment
            # for as many of them as there were keeps groups from splitting into alternating halves.
            # A lone caller (answered <= 1) never waits.
            if answered > 1:
                linger_until = time.monotonic() + _LINGER_S_MAX
                while len(group) < answered and size < self._group_max and not self._closed:
                    remaining_s = linger_until - time.monotonic()
                    if remaining_s <= 0:
                        break
                    self._wanted = answered - len(group)
                    self._arrived.wait(remaining_s)
                    size = self._take(group, accounts, size)
                self._wanted = 1
            self._busy |= accounts
            if self._space_waiting:
                self._space.notify_all()
        return group

    def _take(self, group: list[_Request], accounts: set[int], size: int) -> int:
        """Move the requests this group may take from the queue into it; returns its new size."""
        waiting = self._waiting
        kept: list[_Request] = []
        scanned = 0
        while waiting and scanned < _SCAN_MAX and size < self._group_max:
            request = waiting.popleft()
            scanned += 1
            if size + len(request.transfers) > self._group_max:
                kept.append(request)  # the next group starts with it: nothing overtakes it
                break
            if not self._busy.isdisjoint(request.accounts):
                kept.append(request)
                continue
            group.append(request)
            accounts |= request.accounts
            size += len(request.transfers)
        waiting.extendleft(reversed(kept))
        return size

    def _commit(self, group: list[_Request], lane: int) -> None:
        transfers = [t for request in group for t in request.transfers]
        segments = [len(request.transfers) for request in group]
        results: list[TransferResult] = []
        error: BaseException | None = None
        try:
            results = self._run(transfers, segments, lane)
        except BaseException as exc:
            error = exc
        with self._lock:
            for request in group:
                self._busy.difference_update(request.accounts)
            self._arrived.notify()  # requests that waited for these accounts may go now
        start = 0
        for request, length in zip(group, segments, strict=True):
            if error is not None:
                request.error = error
            else:
                request.results = results[start : start + length]
                assert len(request.results) == length
            start += length
            request.done.release()
