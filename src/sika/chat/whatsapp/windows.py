"""The customer-service windows this process stored lately, so that a number writing again soon is
not written again.

Each inbound message opens its sender's 24-hour window (``wa_contacts.last_inbound_at_ns``), and
storing it locks and rewrites the contact's row: for someone in a conversation, at every message,
two records in PostgreSQL's log and a lock that two webhook groups can wait on. A window's start is
kept to :data:`PRECISION_NS`: a number whose start this process stored less than that before is
left as it is. The stored start is then at most that much older than the true one, and the window
closes that much early, on the safe side (a template rather than free text).

Only a shortcut, never read as a fact: another process writes what its own memory does not cover,
and a process that forgot (restarted, or the number fell out of :data:`KEPT_MAX`) writes again.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Collection, Mapping

from sqlalchemy import Engine

from sika.chat.whatsapp.statements import LAST_INBOUND, LAST_INBOUNDS

__all__ = ["KEPT_MAX", "PRECISION_NS", "StoredWindows", "last_inbound_ns", "last_inbounds_ns",
           "stored_windows"]

PRECISION_NS = 60 * 1_000_000_000
# Numbers remembered at most (the least recently stored are forgotten first): about 10 MB.
KEPT_MAX = 100_000


class StoredWindows:
    """The window starts one process stored in one database, the latest per number."""

    def __init__(self, *, precision_ns: int = PRECISION_NS, kept_max: int = KEPT_MAX) -> None:
        assert precision_ns >= 0 and kept_max > 0
        self._precision_ns = precision_ns
        self._kept_max = kept_max
        self._starts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, latest: Mapping[str, int]) -> dict[str, int]:
        """Of ``{number: start}``, those to write: not stored by this process within the precision."""
        with self._lock:
            return {number: at_ns for number, at_ns in latest.items()
                    if number not in self._starts or at_ns - self._starts[number] >= self._precision_ns}

    def stored(self, written: Mapping[str, int]) -> None:
        """Record starts that are now committed (never before: a rolled-back write stored nothing)."""
        with self._lock:
            for number, at_ns in written.items():
                if at_ns >= self._starts.get(number, at_ns):
                    self._starts[number] = at_ns
                    self._starts.move_to_end(number)
            while len(self._starts) > self._kept_max:
                self._starts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._starts)


# One memory per database (an engine each): a test's fresh database starts with none.
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, StoredWindows] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def stored_windows(engine: Engine) -> StoredWindows:
    with _BY_ENGINE_LOCK:
        found = _BY_ENGINE.get(engine)
        if found is None:
            found = _BY_ENGINE[engine] = StoredWindows()
        return found


# The windows as stored ------------------------------------------------------------------------------

def last_inbound_ns(engine: Engine, msisdn: str) -> int | None:
    found: int | None = LAST_INBOUND.scalar(engine, {"b_msisdn": msisdn})
    return found


def last_inbounds_ns(engine: Engine, numbers: Collection[str]) -> dict[str, int]:
    """When each of these numbers last wrote to us (numbers that never did are missing)."""
    if not numbers:
        return {}
    found = LAST_INBOUNDS.all(engine, {"numbers": sorted(numbers)})
    return {msisdn: int(at_ns) for msisdn, at_ns in found}
