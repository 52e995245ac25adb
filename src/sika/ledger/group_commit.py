"""Group commit: concurrent requests share one database transaction and one fsync.

A single writer thread takes every request waiting in the queue (up to ``group_max`` transfers) and
runs them as one batch, each request a segment of its own so that results and linked chains stay
per request. While one commit is in flight the next group gathers by itself; after a commit that
answered several callers the writer waits at most half a millisecond for them to come back, so a
lone request pays no added latency and a crowd shares the cost of a commit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from sika.ledger.model import Transfer, TransferResult

__all__ = ["GroupCommitter"]

RunBatch = Callable[[list[Transfer], list[int]], list[TransferResult]]
_Request = tuple[Sequence[Transfer], "Future[list[TransferResult]]"]
_QUEUE_MAX = 100_000
# Longest a group waits for callers it just answered: a fraction of one commit's fsync.
_LINGER_S_MAX = 0.0005


class GroupCommitter:
    def __init__(
        self, run: RunBatch, *, group_max: int, on_close: Callable[[], None] | None = None
    ) -> None:
        assert group_max > 0
        self._run = run
        self._on_close = on_close
        self._group_max = group_max
        self._queue: queue.Queue[_Request | None] = queue.Queue(maxsize=_QUEUE_MAX)
        self._carry: _Request | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="ledger-group-commit", daemon=True)
        self._thread.start()

    def submit(self, transfers: Sequence[Transfer]) -> list[TransferResult]:
        if not transfers:
            return []
        if len(transfers) > self._group_max:
            raise ValueError(f"a request holds at most {self._group_max} transfers")
        future: Future[list[TransferResult]] = Future()
        # Checked and enqueued under one lock, so that no request lands behind the stop marker.
        with self._lock:
            if self._closed:
                raise RuntimeError("the ledger's group committer is closed")
            self._queue.put((transfers, future))
        return future.result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        answered = 0
        while True:
            first = self._carry or self._queue.get()
            self._carry = None
            if first is None:
                break
            group = [first]
            size = len(first[0])
            stop = False
            # The callers just answered are waking up to send their next request; waiting a moment
            # for as many of them as there were keeps groups from splitting into alternating halves.
            # A lone caller (answered <= 1) never waits.
            linger_until = time.monotonic() + _LINGER_S_MAX if answered > 1 else 0.0
            while size < self._group_max:
                try:
                    remaining_s = linger_until - time.monotonic() if len(group) < answered else 0.0
                    if remaining_s > 0:
                        item = self._queue.get(timeout=remaining_s)
                    else:
                        item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                if size + len(item[0]) > self._group_max:
                    self._carry = item
                    break
                group.append(item)
                size += len(item[0])
            self._commit(group)
            answered = len(group)
            if stop:
                break
        if self._on_close is not None:
            # Resources the writer owns (its connection) are released by the writer's own thread.
            self._on_close()

    def _commit(self, group: list[_Request]) -> None:
        transfers = [t for request, _ in group for t in request]
        segments = [len(request) for request, _ in group]
        try:
            results = self._run(transfers, segments)
        except BaseException as exc:
            for _, future in group:
                future.set_exception(exc)
            return
        start = 0
        for (request, future), length in zip(group, segments, strict=True):
            future.set_result(results[start : start + length])
            start += length
            assert len(request) == length
