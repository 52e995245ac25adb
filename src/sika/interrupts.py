"""Ctrl-C (or a supervisor's SIGINT) that lands while ``sika`` is still starting is never lost.

Python raises ``KeyboardInterrupt`` wherever the main thread is when the signal comes. Within an
import it can land in one of importlib's weak-reference callbacks, where an exception is printed as
"Exception ignored" and dropped: the process then carried on starting and ran as if never asked to
stop (a worker seen running a minute after its SIGINT, in the test suite). The handler installed here
still raises, as Python's own does, and also remembers; :func:`requested` lets a command that installs
its own handler later (``sika worker``) stop at once if one came before.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["install", "requested"]

_requested = False


def _on_sigint(_signum: int, _frame: FrameType | None) -> None:
    global _requested  # noqa: PLW0603 (one flag for the process, set from a signal handler)
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Replace Python's own SIGINT handler (not a SIGINT ignored, as in a background job)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def requested() -> bool:
    """Whether a SIGINT came since :func:`install`."""
    return _requested
