"""One background thread per sandbox that runs delayed actions (settling orders, calling back).

A single thread rather than a timer per order: the number of threads stays fixed however many
orders are in flight, callbacks reach the caller one at a time and in due order, and ``close()`` has
one thread to stop.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Deliveries", "DeliveriesFull"]

log = logging.getLogger(__name__)

# How long close() waits for a callback that is running at that moment before leaving it behind.
_JOIN_S_MAX = 5.0


class DeliveriesFull(Exception):
    """More actions are waiting than the limit: the sandbox answers as an overloaded provider."""


class Deliveries:
    def __init__(self, *, name: str, scheduled_max: int) -> None:
        assert scheduled_max > 0
        self._name = name
        self._scheduled_max = scheduled_max
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._running = 0
        self._closed = False
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        assert delay_s >= 0, delay_s
        with self._condition:
            if self._closed:
                return
            if len(self._heap) >= self._scheduled_max:
                raise DeliveriesFull(self._name)
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._sequence), action))
            if self._thread is None:
                # Started on first use: a sandbox that only answers synchronously never owns a thread.
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def has_room(self) -> bool:
        with self._condition:
            return not self._closed and len(self._heap) < self._scheduled_max

    def wait_idle(self, timeout_s: float) -> bool:
        """True once nothing is scheduled or running, False if ``timeout_s`` passed first."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._heap and self._running == 0, timeout_s)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._heap.clear()
            self._condition.notify_all()
            thread = self._thread
        # A callback may close its own provider: the delivery thread cannot wait for itself.
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_S_MAX)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout_s = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout_s)
                if self._closed:
                    return
                _, _, action = heapq.heappop(self._heap)
                self._running += 1
            try:
                action()
            except Exception:
                # A failing receiver must not stop deliveries to every other order.
                log.exception("%s: a scheduled delivery raised", self._name)
            finally:
                with self._condition:
                    self._running -= 1
                    self._condition.notify_all()
