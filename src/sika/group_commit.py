"""Group commit: concurrent callers share one database transaction (and one fsync).

Callers queue requests; a *lane* (a writer thread, with whatever connection its user keeps for it)
takes the requests waiting, up to ``group_max`` in size, and hands them to the user's ``run`` as one
group, which it commits as one transaction and answers request by request. While a group is written
the next one gathers by itself; a caller is woken only once its group is committed.

The one mechanism behind the ledger's ``submit`` (:mod:`sika.ledger.group_commit`) and the WhatsApp
webhook's inbox writes (:mod:`sika.chat.whatsapp.group_commit`); each of them keeps only what a group
does. What it gives both:

- **Bounded.** At most ``queued_max`` (in the users' unit of size) waits; beyond, a request is refused
  at once with the user's ``busy`` error (a :class:`~sika.errors.SikaError` with its own code). A caller
  waits ``wait_s`` at most, then gets the same error; its request may still be committed later, which
  both users make harmless (transfer ids, message ids are kept once).
- **Ordered.** Requests are taken first come, first served. A request that would overfill a group
  starts the next one, nothing overtakes it.
- **Conflict keys** (optional): with several lanes, a lane only takes requests whose keys no group in
  flight holds, so that groups running side by side never wait on each other's row locks; a request
  skipped for that reason keeps its place. Lanes gather one at a time, so with one lane the order is
  strictly first come, first served.
- **One error path.** An exception out of ``run`` fails every request of the group (``run`` may also
  fail single requests with :meth:`Request.fail`); the next group proceeds. A lane that dies outside
  ``run`` fails what it holds and what waits, and the next request starts a new lane.
- **Threads and coroutines.** :meth:`GroupCommit.submit` blocks a thread; :meth:`GroupCommit.submit_async`
  lets an event loop go on serving (one timer a loop for all its waiting coroutines).
- **Linger** (optional): after a group that answered several callers, a lane waits up to ``linger_s``
  for them to come back, so that groups do not split into alternating halves; a lone caller never waits.
- **Idle lanes** (optional): a lane ends after ``idle_s`` without work; the next request starts one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from types import TracebackType
from typing import Generic, TypeVar, cast

from sika.errors import SikaError

__all__ = ["LANES_MAX", "GroupCommit", "Request"]

log = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")
LANES_MAX = 16
# Requests a lane looks through for ones it may take: a bound on the work of one gathering.
SCAN_MAX = 1_024


class Request(Generic[P, R]):
    """One caller's payload, its size and conflict keys, and once run its result or error.

    ``waiter`` wakes the caller: a lock held until the lane releases it (the cheapest one-shot signal
    in CPython) for a thread, a future of its event loop for a coroutine.
    """

    __slots__ = ("error", "keys", "origin", "payload", "result", "size", "waiter")

    def __init__(self, payload: P, waiter: threading.Lock | asyncio.Future[None], *, size: int = 1,
                 keys: Collection[object] | None = None) -> None:
        self.payload = payload
        self.waiter = waiter
        self.size = size
        self.keys = keys or None
        self.result: R | None = None
        self.error: BaseException | None = None
        # The error's traceback where it happened: the callers of a group share the error, and each
        # raise would otherwise add its caller's frames to the last one's (hundreds of lines logged).
        self.origin: TracebackType | None = None

    def fail(self, error: BaseException) -> None:
        self.error, self.origin = error, error.__traceback__

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error.with_traceback(self.origin)
        return cast(R, self.result)


# run(group, lane): sets each request's ``result`` (or fails it); raising fails the whole group.
Run = Callable[[Sequence[Request[P, R]], int], None]


class GroupCommit(Generic[P, R]):
    """Concurrent requests share one commit. See the module's docstring."""

    def __init__(self, run: Run[P, R], *, name: str, busy: Callable[[str], SikaError], group_max: int,
                 queued_max: int, wait_s: float, lanes: int = 1, linger_s: float = 0.0,
                 idle_s: float | None = None, daemon: bool = True,
                 on_exit: Callable[[int], None] | None = None) -> None:
        assert 0 < group_max <= queued_max and wait_s > 0 and linger_s >= 0
        assert 1 <= lanes <= LANES_MAX and (idle_s is None or idle_s > 0)
        self._run, self._name, self._busy_error = run, name, busy
        self._group_max, self._queued_max, self._wait_s = group_max, queued_max, wait_s
        self._linger_s, self._idle_s, self._daemon = linger_s, idle_s, daemon
        self._on_exit = on_exit
        self._lanes = lanes
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # a request came, or keys were freed
        self._waiting: deque[Request[P, R]] = deque()
        self._queued = 0  # the size of the requests in _waiting
        self._busy: set[object] = set()  # keys of the groups in flight
        # Queue length at which a submitter wakes the gathering lane: 1 while it waits for a first
        # request; while it lingers, as many as it still hopes for (each wake-up costs a thread switch,
        # and a group of 20 would otherwise cost 20).
        self._wanted = 1
        self._parked = 0  # lanes waiting on _arrived: with none, a submitter need not notify
        self._alive = 0  # lanes running (or about to)
        self._free_lanes = list(range(lanes - 1, -1, -1))  # lane numbers no thread holds, 0 last
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._gathering = threading.Lock()  # one lane gathers at a time
        # The waiting coroutines of the event loop that submitted last (a loop served before keeps its
        # own until its waiters are answered or expired).
        self._deadlines: _Deadlines | None = None

    # Callers ----------------------------------------------------------------------------------------

    def submit(self, payload: P, *, size: int = 1, keys: Collection[object] | None = None) -> R:
        """Queue ``payload`` and block until its group is committed; its result."""
        waiter = threading.Lock()
        waiter.acquire()
        request: Request[P, R] = Request(payload, waiter, size=size, keys=keys)
        self.enqueue(request)
        if not waiter.acquire(timeout=self._wait_s):
            raise self._timed_out()
        return request.outcome()

    async def submit_async(self, payload: P, *, size: int = 1, keys: Collection[object] | None = None) -> R:
        """:meth:`submit` for a coroutine: its event loop goes on serving while the group is written."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        request: Request[P, R] = Request(payload, waiter, size=size, keys=keys)
        self.enqueue(request)
        deadlines = self._deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines = _Deadlines(loop, self._wait_s, self._timed_out)
        deadlines.add(waiter)
        await waiter
        return request.outcome()

    def enqueue(self, request: Request[P, R]) -> None:
        """Queue a request whose caller waits on its ``waiter`` by itself (``submit`` does both)."""
        # Checked and queued under one lock, so that no request lands after the lanes have left.
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self._name} group commit is closed")
            if self._waiting and self._queued + request.size > self._queued_max:
                # Refused before anything is queued (a request bigger than the queue goes when alone).
                raise self._busy_error(f"{self._name}: {self._queued} waiting already, at most "
                                       f"{self._queued_max}")
            self._waiting.append(request)
            self._queued += request.size
            if self._alive == self._lanes or not self._free_lanes:  # every lane runs (or soon will)
                if self._parked and len(self._waiting) >= self._wanted:
                    self._arrived.notify()
                return
            starting = min(self._lanes - self._alive, len(self._free_lanes))
            self._alive += starting
            lanes = [self._free_lanes.pop() for _ in range(starting)]
        self._start(lanes)

    # State ------------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def waiting(self) -> int:
        """Requests queued and not yet taken by a lane."""
        with self._lock:
            return len(self._waiting)

    def threads(self) -> list[threading.Thread]:
        """The lanes' threads started last (each may have ended since)."""
        with self._lock:
            return list(self._threads)

    def close(self) -> None:
        """Run what is queued, then stop every lane (idempotent); later requests are refused."""
        with self._lock:
            self._closed = True
            self._arrived.notify_all()
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()

    # Lanes ------------------------------------------------------------------------------------------

    def _start(self, lanes: list[int]) -> None:
        for position, lane in enumerate(lanes):
            thread = threading.Thread(target=self._loop, args=(lane,), name=self._name, daemon=self._daemon)
            try:
                thread.start()
            except RuntimeError as exc:  # no thread to write with: refuse rather than never answer
                with self._lock:
                    self._alive -= len(lanes) - position
                    self._free_lanes += lanes[position:]
                self._fail_waiting(exc)
                raise
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _loop(self, lane: int) -> None:
        while True:
            self._lane(lane)
            if self._on_exit is not None:
                # Resources a lane owns (its connection) are released by the lane's own thread. A failure
                # there must not skip the bookkeeping below: the lane would be lost, and with one lane
                # every later request would wait for a writer that never comes.
                try:
                    self._on_exit(lane)
                except Exception:
                    log.exception("group commit: releasing lane %d's resources failed", lane)
            with self._lock:
                # Work that came while this lane was leaving, with no lane to take it: carry on.
                if self._closed or not self._waiting or self._alive >= self._lanes:
                    self._free_lanes.append(lane)
                    return
                self._alive += 1

    def _lane(self, lane: int) -> None:
        """Gather and commit groups until closed, idle or dead (``_alive`` counts it out)."""
        answered = 0
        group: list[Request[P, R]] = []
        try:
            while True:
                with self._gathering:
                    gathered = self._gather(answered)
                if gathered is None:
                    return
                group = gathered
                self._commit(group, lane)
                answered, group = len(gathered), []
        except BaseException as exc:  # never leave callers waiting on a lane that is gone
            log.exception("the %s writer stopped; the requests waiting are refused", self._name)
            with self._lock:
                self._alive -= 1
                self._release_keys(group)
            for request in group:
                request.fail(exc)
            _wake(group, guarded=True)
            self._fail_waiting(exc)

    def _gather(self, answered: int) -> list[Request[P, R]] | None:
        """The next group (its keys marked busy), or None once closed or idle and nothing waits."""
        group: list[Request[P, R]] = []
        keys: set[object] = set()
        with self._lock:
            size = self._take(group, keys, 0)
            idle_until = None if self._idle_s is None else time.monotonic() + self._idle_s
            while not group:
                timeout = None if idle_until is None else idle_until - time.monotonic()
                if not self._waiting and (self._closed or (timeout is not None and timeout <= 0)):
                    self._alive -= 1
                    return None
                self._park(None if self._waiting or timeout is None else timeout)
                size = self._take(group, keys, 0)
            # The callers just answered are waking up to send their next request; waiting a moment
            # for as many of them as there were keeps groups from splitting into alternating halves.
            if answered > 1 and self._linger_s:
                linger_until = time.monotonic() + self._linger_s
                while len(group) < answered and size < self._group_max and not self._closed:
                    remaining_s = linger_until - time.monotonic()
                    if remaining_s <= 0:
                        break
                    self._wanted = answered - len(group)
                    self._park(remaining_s)
                    size = self._take(group, keys, size)
                self._wanted = 1
            self._busy |= keys
        return group

    def _park(self, timeout: float | None) -> None:
        """Wait (holding ``_lock``) for a request, or for keys to be freed."""
        self._parked += 1
        try:
            self._arrived.wait(timeout)
        finally:
            self._parked -= 1

    def _take(self, group: list[Request[P, R]], keys: set[object], size: int) -> int:
        """Move the requests this group may take from the queue into it; returns its new size."""
        waiting, busy = self._waiting, self._busy
        kept: list[Request[P, R]] = []
        scanned = 0
        taken = size
        while waiting and scanned < SCAN_MAX and size < self._group_max:
            request = waiting.popleft()
            scanned += 1
            if group and size + request.size > self._group_max:
                kept.append(request)  # the next group starts with it: nothing overtakes it
                break
            if request.keys is not None and busy and not busy.isdisjoint(request.keys):
                kept.append(request)
                continue
            group.append(request)
            if request.keys is not None:
                keys.update(request.keys)
            size += request.size
        if kept:
            waiting.extendleft(reversed(kept))
        self._queued -= size - taken
        assert self._queued >= 0, self._queued
        return size

    def _commit(self, group: list[Request[P, R]], lane: int) -> None:
        try:
            self._run(group, lane)
        except BaseException as exc:  # every caller of the group hears of it
            for request in group:
                request.fail(exc)
        if self._busy:
            with self._lock:
                self._release_keys(group)
                if self._parked:
                    self._arrived.notify()  # requests that waited for these keys may go now
        _wake(group)

    def _release_keys(self, group: Sequence[Request[P, R]]) -> None:
        for request in group:
            if request.keys is not None:
                self._busy.difference_update(request.keys)

    def _fail_waiting(self, error: BaseException) -> None:
        with self._lock:
            group = list(self._waiting)
            self._waiting.clear()
            self._queued = 0
        for request in group:
            request.fail(error)
        _wake(group)

    def _timed_out(self) -> SikaError:
        return self._busy_error(f"{self._name}: not committed within {self._wait_s:g} s")


def _wake(group: Sequence[Request[P, R]], *, guarded: bool = False) -> None:
    """Wake a group's callers: threads at once, each event loop's coroutines with one call.
    ``guarded``: some may have been woken already (a lane that died while waking them)."""
    futures: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for request in group:
        waiter = request.waiter
        if isinstance(waiter, asyncio.Future):
            futures.setdefault(waiter.get_loop(), []).append(waiter)
        elif not guarded or waiter.locked():
            waiter.release()
    for loop, waiting in futures.items():
        try:
            loop.call_soon_threadsafe(_settle, waiting)
        except RuntimeError:  # the loop is closed: nobody awaits these any more
            continue


def _settle(futures: Sequence[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a caller cancelled meanwhile (its client went away)
            future.set_result(None)


class _Deadlines:
    """The coroutines of one event loop waiting for their groups, oldest first, and one timer that
    fails those still waiting after ``wait_s``: one timer for them all rather than one each (a timer
    a request costs as much as the rest of the group commit's work for it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wait_s: float,
                 timed_out: Callable[[], SikaError]) -> None:
        self.loop = loop
        self._wait_s = wait_s
        self._timed_out = timed_out
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
            if not waiter.done():  # still waiting: its request is refused (the caller retries)
                waiter.set_exception(self._timed_out())
        if self._waiting:
            self._timer = self.loop.call_at(self._waiting[0][0], self._expire)
