"""The garbage collector of a long-running process (``sika serve``, ``sika worker``), set once started.

What a process builds while it starts (modules, the container, compiled statements, message
catalogues) lives until it stops, yet every full collection would walk it again: some 200,000 objects,
tens of milliseconds each time, in the middle of serving. :func:`settle` collects once and freezes
what is left, so that later collections only walk what was made since. The young generation is
also collected less often: a message's work allocates thousands of short-lived objects (rows,
dicts, texts), and at the default threshold (700) a collection ran every few messages; the cycles
such work leaves are few and small, so waiting for ten times as many costs a little memory only.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle"]

YOUNG_THRESHOLD = 7_000


def settle() -> None:
    """Collect, freeze what survives (never walked again), and collect the young less often."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
