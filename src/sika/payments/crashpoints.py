"""Crash points: named steps of the money path where a test can make the process "die" or fail.

The path of a paid request is: the Idempotency-Key is claimed (``claimed``), the movement is recorded
(``recorded``), its legs commit in the ledger (``ledger_committed``), its outcome is written
(``finished``), the answer is stored for retries (``answered``). On SQLite, ``recorded`` to ``finished``
are one transaction (``sika.db.together``): a crash there leaves nothing. Between any two of these the
real process can be killed or the database can fail. :func:`reached` is called at each; it does nothing
unless a test installed a hook (``tests/integration/test_crash_points.py``: a seeded simulation in the
spirit of TigerBeetle's VOPR), which may raise :class:`ProcessCrash` (the process dies there: nothing
after it runs, not even cleanup) or a database error (a transient failure the code must survive).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["STEPS", "ProcessCrash", "installed", "reached"]

STEPS = ("claimed", "recorded", "ledger_committed", "finished", "answered")

_hook: Callable[[str], None] | None = None


class ProcessCrash(BaseException):
    """The process dies at a crash point. A BaseException: no ``except Exception`` cleans up after it,
    as none would after a kill -9."""


def reached(step: str) -> None:
    assert step in STEPS, step
    if _hook is not None:
        _hook(step)


@contextmanager
def installed(hook: Callable[[str], None]) -> Iterator[None]:
    """Run with ``hook`` called at every crash point (tests only)."""
    global _hook  # noqa: PLW0603 - one process-wide switch, off outside tests
    assert _hook is None, "crash points are already hooked"
    _hook = hook
    try:
        yield
    finally:
        _hook = None
