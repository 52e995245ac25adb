"""How the fakes misbehave: at random (:class:`Behaviour`'s ratios, from a seed) and on purpose (magic
references).

A reference whose significant digits (check digit left out) end in ``00000N`` behaves as
:class:`Magic` says, whatever the ratios: ``+2289000000N`` for numbers (any XOF-zone number ending
in ``00000N``), ``tok_test_00000N`` for card labels, ``100000000N`` plus its Luhn digit for CEET
meters, ``1000000N`` for TdE subscribers, ``1000000000000N`` for Canal+ cards.

=  ===========================  =========================================================================
N  Magic                        behaviour
=  ===========================  =========================================================================
1  DECLINED                     refused: at once where the provider answers at once, else in its
                                final status (and callback, where it sends one for failures)
2  NEVER_ANSWERS                pending forever: no callback, the status stays pending
3  CALLS_BACK_TWICE             pending, then succeeded; the callback comes twice
4  SLOW_ANSWER                  received, but the answer comes after ``slow_answer_s`` (longer than
                                Sika's timeout): Sika times out, retries with the same reference and
                                learns the order from the retry or the status
5  PENDING_THEN_SUCCEEDS        pending, then succeeded by one callback
6  LOST_ONCE                    the first request for an order is answered 503 and forgotten; a retry
                                with the same reference goes through
7  LATE_CALLBACK                succeeded, but the callback comes after ``late_callback_s`` (after
                                Sika's deadline in a demo)
8  NO_CALLBACK                  succeeded, and no callback ever: only the status says it
=  ===========================  =========================================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

__all__ = ["Behaviour", "Magic", "magic_of", "significant_digits"]

_LATENCY_S_LIMIT = 60.0
_DELAY_S_LIMIT = 3_600.0
_ORDERS_LIMIT = 10_000_000
_ZEROS = "00000"


class Magic(enum.StrEnum):
    DECLINED = "declined"
    NEVER_ANSWERS = "never_answers"
    CALLS_BACK_TWICE = "calls_back_twice"
    SLOW_ANSWER = "slow_answer"
    PENDING_THEN_SUCCEEDS = "pending_then_succeeds"
    LOST_ONCE = "lost_once"
    LATE_CALLBACK = "late_callback"
    NO_CALLBACK = "no_callback"

    @property
    def digit(self) -> str:
        return str(list(Magic).index(self) + 1)


def magic_of(significant: str) -> Magic | None:
    """The magic behaviour of a reference whose significant digits are ``significant``, if any."""
    if len(significant) < len(_ZEROS) + 1 or not significant[:-1].endswith(_ZEROS):
        return None
    digit = significant[-1]
    if not digit.isdigit() or not 1 <= int(digit) <= len(Magic):
        return None
    return list(Magic)[int(digit) - 1]


def significant_digits(reference: str, *, check_digit: bool = False) -> str:
    """The digits of a reference that magic looks at: all of them, or all but a final check digit."""
    digits = "".join(char for char in reference if char.isdigit())
    return digits[:-1] if check_digit else digits


@dataclass(frozen=True, slots=True)
class Behaviour:
    latency_s_min: float = 0.01
    latency_s_max: float = 0.05
    callback_delay_s_min: float = 0.2
    callback_delay_s_max: float = 2.0
    slow_answer_s: float = 20.0
    late_callback_s: float = 180.0
    fail_ratio: float = 0.05
    pending_ratio: float = 0.1
    never_answer_ratio: float = 0.01
    duplicate_callback_ratio: float = 0.05
    missing_callback_ratio: float = 0.05
    seed: int = 0
    orders_max: int = 100_000

    def __post_init__(self) -> None:
        assert 0 <= self.latency_s_min <= self.latency_s_max <= _LATENCY_S_LIMIT, self
        assert 0 <= self.callback_delay_s_min <= self.callback_delay_s_max <= _DELAY_S_LIMIT, self
        assert 0 <= self.slow_answer_s <= _DELAY_S_LIMIT and 0 <= self.late_callback_s <= _DELAY_S_LIMIT
        for ratio in (self.fail_ratio, self.pending_ratio, self.never_answer_ratio,
                      self.duplicate_callback_ratio, self.missing_callback_ratio):
            assert 0.0 <= ratio <= 1.0, self
        assert 0 < self.orders_max <= _ORDERS_LIMIT, self

    @property
    def instant(self) -> bool:
        return self.callback_delay_s_max == 0

    @classmethod
    def at_once(cls, *, seed: int = 0, slow_answer_s: float = 1.0) -> Behaviour:
        """No latency, no delay, no random misbehaviour: only magic references misbehave (tests).
        Callbacks are sent as soon as the order settles, before the fake answers when it can."""
        return cls(latency_s_min=0.0, latency_s_max=0.0, callback_delay_s_min=0.0,
                   callback_delay_s_max=0.0, slow_answer_s=slow_answer_s, late_callback_s=0.5, fail_ratio=0.0,
                   pending_ratio=0.0, never_answer_ratio=0.0, duplicate_callback_ratio=0.0,
                   missing_callback_ratio=0.0, seed=seed)

    def with_(self, **changes: float | int) -> Behaviour:
        return replace(self, **changes)  # type: ignore[arg-type]
