"""The movement runner: the one path every movement takes, and the port other services post through.

Every movement runs the same way (:meth:`Runner.run`):

1. checks that need no lock (numbers, amounts, per-transaction tier limits, PIN) are the caller's,
   before it calls ``run`` (:class:`sika.payments.limits.Limits`);
2. the movement row is inserted as ``processing`` with its legs; the id comes from the caller, so a
   retry finds the row and resumes it instead of starting another movement;
3. the legs go to the ledger as one linked chain: balances, the wallet's balance cap and its monthly
   inflow (a meter leg) are checked there, under the accounts' locks, in the transaction that moves
   the money;
4. the outcome, the receipts (outbox) and the follow-ups of its kind (a voucher, a merchant's
   callback) and of the movement hooks (a reward) are written in one transaction, once: the update is
   conditional on the row still being in the status it was read in.

On SQLite, 2 to 4 are one transaction (:func:`sika.db.together`; the ledger's batch a savepoint of it):
one turn of its single write lock and one fsync instead of three, and a crash leaves nothing. On
PostgreSQL they stay apart, so that the ledger's group commit shares hot accounts' row locks between
concurrent payments. There a crash between 2 and 4 leaves a ``processing`` row; a retry of the request,
or the recovery job after a grace period (:mod:`sika.payments.recovery`), submits the same legs again
(the ledger answers ``exists`` for what was done) and finishes it. The grace period must outlast any
request in flight, so that recovery never races the request that started the movement.

**The status state machine** (:data:`sika.payments.movements.TRANSITIONS`, asserted on every change):

- recorded as ``processing`` (legs submitted now) or ``pending`` (``deferred``: money that moves only
  once a provider confirms, a top-up);
- ``processing`` -> ``completed`` or ``failed``: the ledger decided the chain;
- ``processing`` -> ``pending``: a chain of holds (two-phase legs) went through, waiting for a
  provider's answer or a capture (:mod:`sika.payments.settlement`);
- ``pending`` -> ``completed`` or ``failed``: the holds were posted or voided, or the provider answered;
- ``pending`` -> ``processing``: a deferred movement's provider confirmed: its legs are submitted;
- ``completed`` and ``failed`` are final.

**The port.** :class:`sika.payments.settlement.Movements` (this runner, with settling and capturing)
is what a service that legitimately posts movements is given at
construction (wiring in :mod:`sika.bootstrap`): payments' products, vouchers, purchases, payouts,
promotions' prizes and referral rewards, rides' fares and payouts, the console's adjustments. Its
public API is the whole of it: ``get``, ``find``, ``run``, ``resume``, ``check_same_request``,
``settle``, ``capture``, ``note``, ``note_reference``, and the shared ``accounts``, ``limits``,
``kinds`` (per-kind hooks) and ``hooks`` (movement hooks). ``finish`` and ``recorded_outcome`` are for
the payments package itself (settlement, recovery). Nothing else reaches its engine or its ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError

from sika import jsoncodec
from sika.db import begin, shared, together
from sika.ledger import Ledger, Transfer, TransferResult
from sika.payments.accounts import SystemAccounts
from sika.payments.completion import complete_alone, jsonb_fit
from sika.payments.crashpoints import reached
from sika.payments.details import merged_json, merged_text
from sika.payments.devices import acting_device
from sika.payments.fingerprints import fingerprint
from sika.payments.hooks import Draft, KindHooks, Kinds, MovementHook, drop_group, extend, receipt_params
from sika.payments.limits import Limits
from sika.payments.movements import (
    Code,
    Kind,
    Leg,
    Movement,
    MovementConflict,
    Role,
    Status,
    UnknownMovement,
    chain,
    check_id,
    check_transition,
    legs_json,
    movement_from_row,
    refusal,
)
from sika.payments.outbox import enqueue_many
from sika.payments.schema import movements
from sika.prepared import Prepared
from sika.wallet import Customer, Customers

__all__ = ["OK", "RECOVERY_GRACE_S", "Reserve", "Runner"]

RECOVERY_GRACE_S = 600
_NS = 1_000_000_000
OK = (TransferResult.OK, TransferResult.EXISTS)
# The guard leg's amount when its chain happened, and its tombstone's when the chain was refused.
_GUARD_DONE = 1
_GUARD_REFUSED = 2

# The hot statements, built once: building one costs as much as running it on SQLite.
_BY_ID = Prepared(select(movements).where(movements.c.id == bindparam("b_id")))
_COLUMNS = frozenset(movements.c.keys())
# A new row's columns the insert leaves NULL unless given.
_ABSENT = dict.fromkeys(_COLUMNS)
# Every column a value: those the caller leaves out (a movement's absent parties) are NULL.
_INSERT = Prepared(insert(movements).values(
    {key: bindparam(key, value=None, required=False) for key in _COLUMNS}))
_REFERENCE = Prepared(update(movements).where(movements.c.id == bindparam("b_id"),
                                              movements.c.provider_reference.is_(None)).values(
    provider_reference=bindparam("b_reference")))
_OUTCOME = Prepared(update(movements).where(movements.c.id == bindparam("b_id"),
                                            movements.c.status == bindparam("b_current")).values(
    status=bindparam("b_status"), error_code=bindparam("b_error"), updated_at_ns=bindparam("b_now"),
    details=bindparam("b_details")))
_OUTCOME_KEEPING_DETAILS = Prepared(update(movements).where(
    movements.c.id == bindparam("b_id"), movements.c.status == bindparam("b_current")).values(
    status=bindparam("b_status"), error_code=bindparam("b_error"), updated_at_ns=bindparam("b_now"),
).returning(movements.c.details))

# Written in the transaction that records a movement, before anything moves (a voucher marked as the
# movement's own): raising there records nothing.
Reserve = Callable[[Connection], None]


class Runner:
    """Records movements and runs their legs; :class:`sika.payments.settlement.Movements` adds settling
    and capturing (the port services are given)."""

    def __init__(self, engine: Engine, ledger: Ledger, customers: Customers, accounts: SystemAccounts,
                 limits: Limits, *, clock_ns: Callable[[], int] = time.time_ns,
                 recovery_grace_s: int = RECOVERY_GRACE_S) -> None:
        self._engine = engine
        self._ledger = ledger
        self._customers = customers
        self._clock_ns = clock_ns
        self.grace_ns = recovery_grace_s * _NS
        self.accounts = accounts
        self.limits = limits
        # What each kind does beyond its money (registered by vouchers, merchants, rides).
        self.kinds = Kinds()
        # Collaborators that add optional legs to movements and follow their outcome (promotions).
        self.hooks: list[MovementHook] = []

    def now_ns(self) -> int:
        return self._clock_ns()

    # Reading -------------------------------------------------------------------------------------

    def get(self, movement_id: str) -> Movement:
        row = _BY_ID.first(self._engine, {"b_id": movement_id})
        if row is None:
            raise UnknownMovement(f"no transfer {movement_id}")
        return movement_from_row(row._mapping)

    def find(self, movement_id: str) -> Movement | None:
        try:
            return self.get(movement_id)
        except UnknownMovement:
            return None

    # Running -------------------------------------------------------------------------------------

    def run(self, movement_id: str, legs: list[Leg], *, kind: Kind, amount: int, fee: int = 0,
            commission: int = 0, details: dict[str, Any] | None = None, deferred: bool = False,
            reserve: Reserve | None = None, request: str | None = None, known: Collection[Customer] = (),
            **parties: Any) -> Movement:
        """Record the movement and submit its legs; ``deferred`` records it ``pending`` and submits
        nothing until :meth:`settle` (money that arrives only once a provider confirms).

        ``parties``: ``payer_customer_id``, ``payee_customer_id``, ``agent_id``, ``merchant_id``,
        ``counterparty``, ``provider``, ``product``, ``deadline_ns``. ``reserve`` runs in the
        transaction that records the movement, so that what it marks never outlives a movement that
        was never recorded. ``request`` is the fingerprint of what was asked (by default: the kind,
        amount and parties); a second call with the id and another request is a conflict. ``known``:
        the parties' wallets as the caller just read them, which its receipts name (else read).
        """
        check_id(movement_id)
        if unknown := parties.keys() - _COLUMNS:  # the insert below would leave them out unsaid
            raise TypeError(f"unknown parties of a movement: {sorted(unknown)}")
        if request is None:
            request = _default_request(kind, amount, parties)
        device = acting_device(parties.get("payer_customer_id"))
        if device is not None and "device" not in (details or {}):
            details = {**(details or {}), "device": device}  # what per_device_max counts
        now = self._clock_ns()
        if self.hooks:
            legs, details = extend(self.hooks, Draft(
                id=movement_id, kind=kind, amount=amount, fee=fee, legs=tuple(legs), details=details or {},
                payer_customer_id=parties.get("payer_customer_id"),
                payee_customer_id=parties.get("payee_customer_id"), merchant_id=parties.get("merchant_id"),
                provider=parties.get("provider"), product=parties.get("product"), now_ns=now))
        legs = [*legs, Leg(f"{movement_id}.g", self.accounts.id("meter_source"),
                           self.accounts.id("movement_guard"), _GUARD_DONE, Code.GUARD, Role.PLATFORM)]
        first = Status.PENDING if deferred else Status.PROCESSING
        values = {"id": movement_id, "kind": str(kind), "status": str(first), "amount": amount,
                  "fee": fee, "commission": commission, "currency": self.accounts.currency,
                  "legs": legs_json(legs), "details": jsoncodec.dumps(details or {}),
                  "created_at_ns": now, "updated_at_ns": now, "request_digest": request, **parties}
        # On SQLite the movement, its legs and its outcome are one transaction (sika.db.together).
        with together(self._engine):
            try:
                if reserve is None:  # the row alone: on PostgreSQL one round trip, no BEGIN nor COMMIT
                    _INSERT.execute_alone(self._engine, values)
                else:
                    with begin(self._engine) as connection:
                        _INSERT.execute(connection, values)
                        reserve(connection)
            except IntegrityError:
                pass  # recorded already: resumed below, once this transaction (empty) is over
            else:
                reached("recorded")
                # As the row reads now (what it was written from): no need to read it back.
                recorded = movement_from_row(_ABSENT | values)
                return recorded if deferred else self.finish(recorded, known=known)
        same = {k: v for k, v in parties.items() if k != "deadline_ns"}
        return self.resume(self.get(movement_id), request, kind=kind, amount=amount, **same)

    def resume(self, existing: Movement, request: str, **legacy: Any) -> Movement:
        """A second request for a movement id: the same movement again (finished if a crash left it
        ``processing``), or :class:`MovementConflict`.

        The stored fingerprint decides; ``legacy`` fields are compared only on rows older than it.
        """
        self.check_same_request(existing, request, **legacy)
        if existing.status is Status.PROCESSING:
            return self.finish(existing)
        return existing

    @staticmethod
    def check_same_request(existing: Movement, request: str, **legacy: Any) -> None:
        """:class:`MovementConflict` unless ``request`` is the request that made ``existing``."""
        if existing.request_digest is not None:
            same = existing.request_digest == request
        else:
            same = all(getattr(existing, name) == value for name, value in legacy.items())
        if not same:
            raise MovementConflict("this Idempotency-Key was used for another payment")

    def finish(self, movement: Movement, *, known: Collection[Customer] = ()) -> Movement:
        """Submit the legs of a ``processing`` movement and record the outcome the ledger decided.

        Several tries of one movement may run at once (a retry, the recovery job, a double
        approval), and the ledger keeps no trace of a refused chain: a later try of the same legs
        could succeed. So a refusal is made final in the ledger before it is recorded: a *tombstone*
        takes the id of the chain's guard leg with other fields. From then on the chain cannot
        happen, and every try, reading the guard, agrees on the outcome.
        """
        results = self._ledger.submit(chain(movement.legs, movement.id))
        reached("ledger_committed")
        failed = next(((leg, result) for leg, result in zip(movement.legs, results, strict=True)
                       if result not in OK and result is not TransferResult.LINKED_EVENT_FAILED), None)
        if failed is not None and failed[0].optional:
            # An optional group (a reward) was refused: the movement goes on without it, or with it
            # when another try carried it through (each drop removes a group: this recurses briefly).
            dropped = drop_group(self._ledger, self._engine, movement, failed, now_ns=self._clock_ns(),
                                 counting=self.counting())
            return self.finish(movement if dropped is None else dropped, known=known)
        status = Status.PENDING if movement.holds else Status.COMPLETED
        error, details = None, dict(movement.details)
        if failed is not None:
            error, reason = _refusal(self.kinds.of(movement.kind).taken, failed)
            decided = self._make_final(movement, error, reason)
            if decided is not None:
                status = Status.FAILED
                error, details["reason"] = decided
            else:
                error = None  # another try moved the money: the chain happened
        # Its other fields cannot have changed meanwhile: nothing but an outcome (once, below) and a
        # dropped group (which hands the movement on, above) writes a processing movement.
        recorded = self.recorded_outcome(movement, Status.PROCESSING, status, error_code=error,
                                         details=details, known=known)
        reached("finished")
        return recorded if recorded is not None else self.get(movement.id)

    def recorded_outcome(self, movement: Movement, current: Status, status: Status, *,
                         error_code: str | None, details: dict[str, Any],
                         known: Collection[Customer] = ()) -> Movement | None:
        """Move the row from ``current`` to ``status`` (if it still is ``current``) and write what that
        brings, in one transaction. Answers ``movement`` with what was written (its status, error,
        details merged with the row's, time), or None when another try recorded an outcome first.
        Its other fields are as the caller read them: a caller that let another writer in since
        (outside :func:`sika.db.together` on SQLite, or on PostgreSQL, a capture of a hold) reads the
        row again if it needs them (not after the one statement below, whose answer is the row).

        Inside :func:`sika.db.together` (SQLite) the caller has held the lock since it read or wrote
        ``movement``: its details are the row's and are merged without reading them again. Elsewhere
        they are read ``FOR UPDATE``: an order's answer may have noted its payment page meanwhile;
        with nothing to add (a payment completed), the row keeps its details and the update reads
        them back; and with no follow-up but its receipts, the update and the receipts are one
        statement (:mod:`sika.payments.completion`)."""
        return self._outcome(movement, current, status, error_code=error_code, details=details,
                             known=known)[0]

    def _outcome(self, movement: Movement, current: Status, status: Status, *, error_code: str | None,
                 details: dict[str, Any], known: Collection[Customer] = ()) -> tuple[Movement | None, bool]:
        """:meth:`recorded_outcome`, and whether the movement answered is the row as written (the one
        statement's) rather than ``movement`` with the outcome's fields."""
        check_transition(current, status)
        now = self._clock_ns()
        if self._alone(movement, status):
            alone = self._recorded_alone(movement, current, status, error_code=error_code, details=details,
                                         known=known, now=now)
            if alone is not None:
                return alone
        values = {"b_id": movement.id, "b_current": str(current), "b_status": str(status),
                  "b_error": error_code, "b_now": now}
        with begin(self._engine) as connection:
            if shared(self._engine) is not None:
                written = merged_text(movement.details, details)
                done = _OUTCOME.execute(connection, {**values, "b_details": written})
            elif details == movement.details:
                # Nothing to add: the row's details stay as they are now (read back by the update
                # itself, rather than read FOR UPDATE first and written again unchanged).
                kept = _OUTCOME_KEEPING_DETAILS.first(connection, values)
                done, written = (0, "{}") if kept is None else (1, kept.details or "{}")
            else:  # what the outcome adds or changes, over the row as it is now
                written = merged_json(connection, movement.id, _changed(movement.details, details))
                done = _OUTCOME.execute(connection, {**values, "b_details": written})
            if done and status is Status.COMPLETED:
                self._completed(connection, replace(movement, status=status, details=details), now, known)
            elif done and status is Status.FAILED:
                self.kinds.of(movement.kind).failed(connection, movement)
        if not done:
            return None, False
        return replace(movement, status=status, error_code=error_code, updated_at_ns=now,
                       details=jsoncodec.loads(written)), False

    def _make_final(self, movement: Movement, error: str, reason: str) -> tuple[str, str] | None:
        """Refuse the movement for good (a tombstone on its guard leg), or learn that it happened:
        returns the (error, reason) that stands, or None when the chain went through."""
        guard = movement.legs[-1]
        assert guard.code == Code.GUARD, "every movement ends with its guard leg"
        tombstone = Transfer(id=guard.id, debit_account_id=guard.debit, credit_account_id=guard.credit,
                             amount=_GUARD_REFUSED, code=Code.GUARD,
                             metadata={"movement": movement.id, "refused": error, "reason": reason[:200]})
        (result,) = self._ledger.submit([tombstone])
        if result in OK:
            return error, reason
        assert result is TransferResult.EXISTS_WITH_DIFFERENT_FIELDS, result
        stored = self._ledger.get_transfer(guard.id)
        assert stored is not None
        if stored.amount == _GUARD_DONE:
            return None
        return str(stored.metadata["refused"]), str(stored.metadata["reason"])

    def _recorded_alone(self, movement: Movement, current: Status, status: Status, *, error_code: str | None,
                        details: dict[str, Any], known: Collection[Customer],
                        now: int) -> tuple[Movement | None, bool] | None:
        """:meth:`_outcome` as one statement, a transaction of its own; None when the transaction must
        record it instead (details jsonb refuses, in ``details`` or in the row: nothing was written)."""
        changed = _changed(movement.details, details)
        added = jsoncodec.dumps(changed) if changed else None
        if added is not None and not jsonb_fit(added):
            return None
        outcome = replace(movement, status=status, details=details)
        receipts = self._receipt_rows(outcome, known) if status is Status.COMPLETED else []
        try:
            row = complete_alone(self._engine, movement.id, current=str(current), status=str(status),
                                 error_code=error_code, now_ns=now, details_json=added, receipts=receipts)
        except DataError:  # the row's own details (a note written meanwhile): the statement wrote nothing
            return None
        return (None, False) if row is None else (movement_from_row(row), True)

    def _alone(self, movement: Movement, status: Status) -> bool:
        """Whether this outcome writes nothing but the movement's row and its receipts, and goes as
        one statement (:mod:`sika.payments.completion`): on PostgreSQL, with no follow-up of its kind
        (a method it does not override) nor of a movement hook."""
        if self._engine.dialect.name != "postgresql" or shared(self._engine) is not None:
            return False
        kind = type(self.kinds.of(movement.kind))
        if status is Status.COMPLETED:
            return kind.completed is KindHooks.completed and not any(_follows_up(hook, movement)
                                                                     for hook in self.hooks)
        if status is Status.FAILED:
            return kind.failed is KindHooks.failed
        return True  # on to pending: the row alone

    def _completed(self, connection: Connection, movement: Movement, now: int,
                   known: Collection[Customer]) -> None:
        """Follow-ups written with the outcome: the kind's, the receipts, the movement hooks'."""
        self.kinds.of(movement.kind).completed(connection, movement, now)
        enqueue_many(connection, self._receipt_rows(movement, known), now_ns=now)
        for hook in self.hooks:
            hook.completed(connection, movement, now)

    def _receipt_rows(self, movement: Movement,
                      known: Collection[Customer]) -> list[tuple[str, str, str, dict[str, Any]]]:
        """The receipts of a completed movement, as the outbox queues them (dedupe key first)."""
        amount = self.kinds.of(movement.kind).receipt_amount(movement)
        return [(f"{movement.id}:{name}", msisdn, name, params)
                for msisdn, name, params in self._receipts(movement, amount, known)]

    def _receipts(self, movement: Movement, amount: int,
                  known: Collection[Customer]) -> list[tuple[str, str, dict[str, Any]]]:
        base: dict[str, Any] = {"id": movement.id, "amount": amount, "fee": movement.fee}
        for name in ("description", "receipt"):
            if movement.details.get(name):
                base[name] = movement.details[name]
        wanted = {i for i in (movement.payer_customer_id, movement.payee_customer_id) if i is not None}
        people = {c.id: c for c in known if c.id in wanted}  # read by the caller a moment ago
        if len(people) < len(wanted):
            people |= self._customers.by_ids(wanted - people.keys())
        payer = people[movement.payer_customer_id] if movement.payer_customer_id is not None else None
        payee = people[movement.payee_customer_id] if movement.payee_customer_id is not None else None
        out: list[tuple[str, str, dict[str, Any]]] = []
        other = movement.counterparty or ""
        if payer is not None:
            to = payee.name if payee is not None else other
            out.append((payer.msisdn, f"receipt_{movement.kind}_sent",
                        {**base, "to": to, **receipt_params(movement)}))
        if payee is not None:
            origin = payer.name if payer is not None else other
            out.append((payee.msisdn, f"receipt_{movement.kind}_received", {**base, "from": origin}))
        return out

    def counting(self) -> tuple[int, int]:
        """The accounts a tombstone moves its count between (as a movement's guard leg does)."""
        return self.accounts.id("meter_source"), self.accounts.id("movement_guard")

    # Notes ---------------------------------------------------------------------------------------

    def note(self, movement: Movement, **notes: Any) -> None:
        """Add ``notes`` to the movement's details (what reconciliation reads), whatever its status."""
        with begin(self._engine) as connection:
            connection.execute(update(movements).where(movements.c.id == movement.id).values(
                details=merged_json(connection, movement.id, notes), updated_at_ns=self._clock_ns()))

    def note_reference(self, movement_id: str, reference: str) -> None:
        """The provider's reference for the movement, kept once (the first one given)."""
        _REFERENCE.execute_alone(self._engine, {"b_id": movement_id, "b_reference": reference[:80]})


def _changed(read: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    """What ``details`` adds to or changes in the details as ``read``: what an outcome lays over the row
    as it is when written. The rest is left as it is then: a key another writer changed since the
    read (settling takes the order's copy: sika.payments.settlement) is not put back."""
    return {key: value for key, value in details.items() if key not in read or read[key] != value}


def _follows_up(hook: MovementHook, movement: Movement) -> bool:
    """Whether the hook writes on this movement's completion; a hook that cannot say may."""
    says = getattr(hook, "follows_up", None)
    return True if says is None else bool(says(movement))


def _refusal(taken: tuple[str, str], failed: tuple[Leg, TransferResult]) -> tuple[str, str]:
    if failed[1] is TransferResult.EXISTS_WITH_DIFFERENT_FIELDS:
        return taken  # a leg another movement owns: the voucher or the refund was paid out by it
    return refusal(failed[1], failed[0])


def _default_request(kind: Kind, amount: int, parties: dict[str, Any]) -> str:
    """What a movement made by another service (rides, purchases) was asked: kind, amount, parties."""
    asked = {name: parties.get(name) for name in (
        "payer_customer_id", "payee_customer_id", "agent_id", "merchant_id", "counterparty", "provider",
        "product")}
    return fingerprint(str(kind), amount=amount, **asked)
