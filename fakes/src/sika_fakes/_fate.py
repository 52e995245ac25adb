"""What happens to one order at a fake: from its magic reference, else drawn from the behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from sika_fakes._server import FakeServer
from sika_fakes.behaviour import Magic, magic_of

__all__ = ["Fate", "fate_for"]


@dataclass(frozen=True, slots=True)
class Fate:
    succeeds: bool = True
    settles: bool = True            # False: pending forever
    answers_pending: bool = False   # a provider that answers at once answers "pending" instead
    callbacks: int = 1              # how many callbacks announce the outcome (0: none)
    slow: bool = False              # the answer comes after the behaviour's slow_answer_s
    lost_once: bool = False         # the first request is answered 503 and forgotten
    late: bool = False              # the callback comes after the behaviour's late_callback_s


_MAGIC = {
    Magic.DECLINED: Fate(succeeds=False),
    Magic.NEVER_ANSWERS: Fate(settles=False, answers_pending=True, callbacks=0),
    Magic.CALLS_BACK_TWICE: Fate(answers_pending=True, callbacks=2),
    Magic.SLOW_ANSWER: Fate(slow=True),
    Magic.PENDING_THEN_SUCCEEDS: Fate(answers_pending=True),
    Magic.LOST_ONCE: Fate(lost_once=True),
    Magic.LATE_CALLBACK: Fate(answers_pending=True, late=True),
    Magic.NO_CALLBACK: Fate(answers_pending=True, callbacks=0),
}


def fate_for(fake: FakeServer, significant: str) -> Fate:
    """The fate of an order whose reference's significant digits are ``significant``."""
    with fake.lock:
        # Every order draws the same count of numbers, so one order's fate never shifts the next's.
        draws = [fake.random.random() for _ in range(5)]
    magic = magic_of(significant)
    if magic is not None:
        return _MAGIC[magic]
    b = fake.behaviour
    never = draws[0] < b.never_answer_ratio
    return Fate(
        succeeds=draws[1] >= b.fail_ratio,
        settles=not never,
        answers_pending=never or draws[2] < b.pending_ratio,
        callbacks=0 if never or draws[3] < b.missing_callback_ratio else (
            2 if draws[4] < b.duplicate_callback_ratio else 1),
    )
