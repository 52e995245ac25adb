"""In-process sandboxes that behave like the real providers: they take time, fail sometimes, answer
PENDING, and call back once, twice, or never.

Two things decide what happens to an order:

* **Magic references** (deterministic, whatever the ratios): a reference whose significant digits
  (check digit left out) end in ``00000N`` behaves as :class:`Magic` says. Each sandbox builds valid
  ones with ``magic_reference(Magic.X)``.

  ===  ==============================  ===========================================================
  N    Magic                           behaviour
  ===  ==============================  ===========================================================
  1    DECLINED                        FAILED ``declined`` (at once, or by callback when the
                                       provider answers PENDING: card, paygate)
  2    NEVER_ANSWERS                   PENDING forever: no callback, status() stays PENDING
  3    CALLS_BACK_TWICE                PENDING, then SUCCEEDED delivered twice to the callback
  4    UNAVAILABLE_BUT_RECEIVED        submit raises ProviderUnavailable, yet the order was
                                       received and goes on (status() shows it; async providers
                                       call back)
  5    PENDING_THEN_SUCCEEDS           PENDING, then SUCCEEDED by one callback
  6    UNAVAILABLE_ONCE_NOT_RECEIVED   the first submit of each order id raises ProviderUnavailable
                                       and is lost (status() says ``unknown_order``); a retry
                                       with the same id goes through
  ===  ==============================  ===========================================================

* **Ratios** in :class:`SandboxBehaviour`, drawn from a seeded ``random.Random`` for every other
  order: unavailable (half of those received, half lost), failed (``declined``), answered PENDING
  (providers that normally answer at once), never answered, called back twice.

Callbacks run on one background thread per sandbox, after the callback delay, outside every lock;
a callback that raises is logged and not retried (poll status()). A callback comes only for an
order the provider answered PENDING (or would have, for UNAVAILABLE_BUT_RECEIVED). ``close()``
drops every pending delivery and stops the thread; ``wait_for_callbacks()`` lets tests wait for
deliveries without sleeping.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from sika.providers._checks import REFERENCE_CHARS_MAX, digest
from sika.providers._deliveries import Deliveries, DeliveriesFull
from sika.providers.base import (
    Callback,
    CatalogueEntry,
    Order,
    Outcome,
    ProviderRejected,
    ProviderStatus,
    ProviderUnavailable,
    Quote,
)

__all__ = ["Magic", "SandboxBehaviour", "SandboxProvider", "magic_of"]

_LATENCY_S_LIMIT = 60.0
_CALLBACK_DELAY_S_LIMIT = 3_600.0
_ORDERS_LIMIT = 10_000_000


class Magic(enum.StrEnum):
    DECLINED = "declined"
    NEVER_ANSWERS = "never_answers"
    CALLS_BACK_TWICE = "calls_back_twice"
    UNAVAILABLE_BUT_RECEIVED = "unavailable_but_received"
    PENDING_THEN_SUCCEEDS = "pending_then_succeeds"
    UNAVAILABLE_ONCE_NOT_RECEIVED = "unavailable_once_not_received"

    @property
    def digit(self) -> str:
        """The last significant digit of this behaviour's references."""
        return _MAGIC_DIGITS[self]


_MAGIC_DIGITS = {
    Magic.DECLINED: "1",
    Magic.NEVER_ANSWERS: "2",
    Magic.CALLS_BACK_TWICE: "3",
    Magic.UNAVAILABLE_BUT_RECEIVED: "4",
    Magic.PENDING_THEN_SUCCEEDS: "5",
    Magic.UNAVAILABLE_ONCE_NOT_RECEIVED: "6",
}
_MAGIC_BY_DIGIT = {digit: magic for magic, digit in _MAGIC_DIGITS.items()}
_MAGIC_ZEROS = "00000"


def magic_of(significant: str) -> Magic | None:
    """The magic behaviour of a reference whose significant digits are ``significant``, if any."""
    if len(significant) < len(_MAGIC_ZEROS) + 1 or not significant.endswith(_MAGIC_ZEROS, 0, -1):
        return None
    return _MAGIC_BY_DIGIT.get(significant[-1])


@dataclass(frozen=True, slots=True)
class SandboxBehaviour:
    latency_s_min: float = 0.01
    latency_s_max: float = 0.05
    callback_delay_s_min: float = 0.05
    callback_delay_s_max: float = 0.5
    fail_ratio: float = 0.05
    pending_ratio: float = 0.1
    never_answer_ratio: float = 0.01
    duplicate_callback_ratio: float = 0.05
    unavailable_ratio: float = 0.01
    seed: int = 0
    orders_max: int = 100_000

    def __post_init__(self) -> None:
        assert 0 <= self.latency_s_min <= self.latency_s_max <= _LATENCY_S_LIMIT, self
        assert 0 <= self.callback_delay_s_min <= self.callback_delay_s_max <= _CALLBACK_DELAY_S_LIMIT, self
        for ratio in (self.fail_ratio, self.pending_ratio, self.never_answer_ratio,
                      self.duplicate_callback_ratio, self.unavailable_ratio):
            assert 0.0 <= ratio <= 1.0, self
        assert 0 < self.orders_max <= _ORDERS_LIMIT, self

    @classmethod
    def instant(cls, *, seed: int = 0) -> SandboxBehaviour:
        """No latency, no delay, no random misbehaviour: only magic references misbehave (for tests)."""
        return cls(
            latency_s_min=0.0, latency_s_max=0.0, callback_delay_s_min=0.0, callback_delay_s_max=0.0,
            fail_ratio=0.0, pending_ratio=0.0, never_answer_ratio=0.0, duplicate_callback_ratio=0.0,
            unavailable_ratio=0.0, seed=seed,
        )


@dataclass(frozen=True, slots=True)
class _Fate:
    received: bool = True
    raises: bool = False
    answers_pending: bool = False
    settles: bool = True
    succeeds: bool = True
    callbacks: int = 1


@dataclass(slots=True)
class _Record:
    order: Order
    outcome: Outcome
    fate: _Fate
    callback: Callback | None


class SandboxProvider(abc.ABC):
    """Idempotency, order memory, magic and random fates, delayed settlement and callbacks.

    Subclasses say what the provider sells (``_quote``, ``catalogue``), how its references read
    (``_significant``, ``magic_reference``) and what a success looks like (``_fulfil``).
    """

    name: str
    # Card processors and mobile-money aggregators always answer PENDING: the customer confirms
    # elsewhere (3-D Secure page, USSD prompt on the phone).
    asynchronous: ClassVar[bool] = False

    def __init__(self, behaviour: SandboxBehaviour | None = None) -> None:
        self.behaviour = behaviour if behaviour is not None else SandboxBehaviour()
        # Reproducible on purpose: a seed replays the same fates; nothing here is a secret.
        self._random = random.Random(f"{self.behaviour.seed}/{self.name}")  # noqa: S311
        self._lock = threading.Lock()
        self._orders: OrderedDict[str, _Record] = OrderedDict()
        self._lost_once: OrderedDict[str, None] = OrderedDict()
        self._deliveries = Deliveries(name=f"sandbox-{self.name}", scheduled_max=self.behaviour.orders_max)

    # The Provider interface.

    def quote(self, product: str, reference: str, amount: int | None) -> Quote:
        self._pause()
        with self._lock:
            return self._checked_quote(product, reference, amount)

    def submit(self, order: Order, callback: Callback | None = None) -> Outcome:
        assert order.provider == self.name, (order.provider, self.name)
        self._pause()
        with self._lock:
            record = self._orders.get(order.id)
            if record is not None:
                return self._again(record, order, callback)
            rejected = self._rejection(order)
            if rejected is not None:
                self._remember(_Record(order, rejected, _Fate(), None))
                return rejected
            fate = self._fate(order)
            if not fate.received or not self._deliveries.has_room():
                raise ProviderUnavailable(f"{self.name} did not answer in time")
            try:
                record = self._start(order, fate, callback)
            except DeliveriesFull as exc:
                raise ProviderUnavailable(f"{self.name} is overloaded") from exc
        if fate.raises:
            raise ProviderUnavailable(f"{self.name} did not answer in time")
        return record.outcome

    def status(self, order_id: str) -> Outcome:
        self._pause()
        with self._lock:
            record = self._orders.get(order_id)
            if record is None:
                return Outcome(ProviderStatus.FAILED, error_code="unknown_order",
                               message=f"{self.name} has no order {order_id[:REFERENCE_CHARS_MAX]!r}")
            return record.outcome

    # Sandbox controls.

    def close(self) -> None:
        """Drops every pending settlement and callback and stops the delivery thread."""
        self._deliveries.close()

    def wait_for_callbacks(self, timeout_s: float = 5.0) -> bool:
        """True once every scheduled settlement and callback has run (never-answered orders have
        none), False if ``timeout_s`` passed first."""
        return self._deliveries.wait_idle(timeout_s)

    @abc.abstractmethod
    def magic_reference(self, magic: Magic) -> str:
        """A valid reference for this provider that always behaves as ``magic`` says."""

    @abc.abstractmethod
    def catalogue(self) -> list[CatalogueEntry]: ...

    # What each provider defines.

    @abc.abstractmethod
    def _quote(self, product: str, reference: str, amount: int | None) -> Quote:
        """Validates the request (raising ProviderRejected); called under the sandbox's lock."""

    @abc.abstractmethod
    def _significant(self, reference: str) -> str:
        """The digits of a valid reference that magic looks at (check digit left out)."""

    @abc.abstractmethod
    def _fulfil(self, order: Order, provider_reference: str) -> Outcome:
        """The outcome of an order that goes through; called under the sandbox's lock."""

    def _pending(self, order: Order, provider_reference: str) -> Outcome:
        return Outcome(ProviderStatus.PENDING, provider_reference=provider_reference)

    def _declined(self, order: Order, provider_reference: str) -> Outcome:
        return Outcome(ProviderStatus.FAILED, provider_reference=provider_reference, error_code="declined",
                       message=f"{self.name} declined the order")

    def _provider_reference(self, order: Order) -> str:
        return f"{self.name.upper()}-{digest(self.name, order.id) % 10**12:012d}"

    # Machinery.

    def _again(self, record: _Record, order: Order, callback: Callback | None) -> Outcome:
        if record.order != order:
            raise ProviderRejected(f"order {order.id!r} was submitted before with other details",
                                   code="order_conflict")
        if record.callback is None and callback is not None:
            record.callback = callback
        return record.outcome

    def _rejection(self, order: Order) -> Outcome | None:
        if order.currency != "XOF":
            return Outcome(ProviderStatus.FAILED, error_code="unsupported_currency",
                           message=f"{self.name} takes XOF only")
        try:
            self._checked_quote(order.product, order.reference, order.amount)
        except ProviderRejected as exc:
            return Outcome(ProviderStatus.FAILED, error_code=exc.code, message=exc.message)
        return None

    def _checked_quote(self, product: str, reference: str, amount: int | None) -> Quote:
        if len(reference) > REFERENCE_CHARS_MAX:
            raise ProviderRejected("this reference is too long", code="invalid_reference")
        if len(product) > REFERENCE_CHARS_MAX:
            raise ProviderRejected("no product has so long a code", code="unknown_product")
        return self._quote(product, reference, amount)

    def _fate(self, order: Order) -> _Fate:
        # Every order draws the same count of numbers, so one order's fate never shifts the next's.
        draws = [self._random.random() for _ in range(6)]
        magic = magic_of(self._significant(order.reference))
        if magic is not None:
            return self._magic_fate(magic, order)
        b = self.behaviour
        if draws[0] < b.unavailable_ratio:
            return _Fate(received=draws[1] < 0.5, raises=True, answers_pending=self.asynchronous,
                         succeeds=draws[2] >= b.fail_ratio)
        never = draws[3] < b.never_answer_ratio
        return _Fate(
            answers_pending=self.asynchronous or never or draws[4] < b.pending_ratio,
            settles=not never,
            succeeds=draws[2] >= b.fail_ratio,
            callbacks=2 if draws[5] < b.duplicate_callback_ratio else 1,
        )

    def _magic_fate(self, magic: Magic, order: Order) -> _Fate:
        match magic:
            case Magic.DECLINED:
                return _Fate(answers_pending=self.asynchronous, succeeds=False)
            case Magic.NEVER_ANSWERS:
                return _Fate(answers_pending=True, settles=False)
            case Magic.CALLS_BACK_TWICE:
                return _Fate(answers_pending=True, callbacks=2)
            case Magic.UNAVAILABLE_BUT_RECEIVED:
                return _Fate(raises=True, answers_pending=self.asynchronous)
            case Magic.PENDING_THEN_SUCCEEDS:
                return _Fate(answers_pending=True)
            case Magic.UNAVAILABLE_ONCE_NOT_RECEIVED:
                if order.id in self._lost_once:
                    return _Fate(answers_pending=self.asynchronous)
                self._lost_once[order.id] = None
                if len(self._lost_once) > self.behaviour.orders_max:
                    self._lost_once.popitem(last=False)
                return _Fate(received=False, raises=True)

    def _start(self, order: Order, fate: _Fate, callback: Callback | None) -> _Record:
        provider_reference = self._provider_reference(order)
        if fate.answers_pending:
            record = _Record(order, self._pending(order, provider_reference), fate, callback)
            if fate.settles:
                self._deliveries.schedule(self._callback_delay_s(), partial(self._settle, order.id))
        else:
            record = _Record(order, self._final(order, fate, provider_reference), fate, None)
        self._remember(record)
        return record

    def _final(self, order: Order, fate: _Fate, provider_reference: str) -> Outcome:
        if not fate.succeeds:
            return self._declined(order, provider_reference)
        return self._fulfil(order, provider_reference)

    def _settle(self, order_id: str) -> None:
        with self._lock:
            record = self._orders.get(order_id)
            if record is None or record.outcome.final:
                return
            outcome = self._final(record.order, record.fate, record.outcome.provider_reference or "")
            record.outcome = outcome
            callback = record.callback
            if callback is not None and record.fate.callbacks > 1:
                # Scheduled before the first call so that a raising receiver still gets its duplicate.
                with contextlib.suppress(DeliveriesFull):
                    self._deliveries.schedule(self._callback_delay_s(), partial(callback, order_id, outcome))
        if callback is not None:
            callback(order_id, outcome)

    def _remember(self, record: _Record) -> None:
        self._orders[record.order.id] = record
        if len(self._orders) > self.behaviour.orders_max:
            # Oldest first: by then its caller has long had the outcome, by callback or by polling.
            self._orders.popitem(last=False)

    def _callback_delay_s(self) -> float:
        b = self.behaviour
        return self._random.uniform(b.callback_delay_s_min, b.callback_delay_s_max)

    def _pause(self) -> None:
        b = self.behaviour
        if b.latency_s_max <= 0:
            return
        with self._lock:
            latency_s = self._random.uniform(b.latency_s_min, b.latency_s_max)
        time.sleep(latency_s)
