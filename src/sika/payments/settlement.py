"""Settling ``pending`` movements: a provider's final answer, a hold captured; and :class:`Movements`,
the runner with them: the port services post movements through (see :mod:`sika.payments.runner`).

A ``pending`` movement holds money (two-phase legs) or waits for money (a deferred top-up). Its
outcome comes once: held money is posted on success and voided on failure, deferred money moves on
success. Posting and voiding race safely: the ledger resolves a pending transfer once, and whichever
lost learns the truth from the ledger's answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sika.db import begin, shared, together
from sika.ledger import Transfer, TransferFlags, TransferResult
from sika.ledger.model import METADATA_BYTES_MAX
from sika.payments.details import merged_json, rebased_json
from sika.payments.hooks import Draft, extend, without_group
from sika.payments.movements import Leg, Movement, Status, check_transition, legs_json
from sika.payments.runner import OK, Runner
from sika.payments.schema import movements
from sika.wallet import Customer

__all__ = ["Movements"]

log = logging.getLogger(__name__)

_EXPIRED = (TransferResult.PENDING_TRANSFER_EXPIRED, TransferResult.PENDING_TRANSFER_ALREADY_VOIDED)
# A capture that lost the ledger's race waits this long for the winner to write the movement (it does
# within milliseconds of its post); past it, the winner stopped in between and the ledger says what it did.
CAPTURE_WAIT_S = 2.0
_CAPTURE_POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class _Captured:
    """What a void found: a capture had posted the hold (its post's amount)."""

    movement: Movement
    held: Leg
    amount: int


class Movements(Runner):
    """The movement runner with settling and capturing: what services that post movements are given."""

    def settle(self, movement_id: str, *, success: bool, receipt: dict[str, str] | None = None,
               error_code: str | None = None, reason: str | None = None,
               known: Collection[Customer] = (), read: Movement | None = None) -> Movement:
        """A provider's final answer for a ``pending`` movement, applied once.

        A success that arrives after the hold was given up is kept in ``details["late_outcome"]`` for
        reconciliation, since the provider delivered something we did not charge for. On SQLite it is
        one transaction (``sika.db.together``): the ledger's answer and the outcome commit together.
        ``known``: the parties' wallets as the caller read them, which the receipts name (else read).
        ``read``: the movement as the caller wrote or read it, pending, taken as it is on PostgreSQL
        rather than read again. That is safe there: a copy out of date (settled meanwhile by a
        callback or the deadline) is found out by the ledger, which resolves a hold once, and by the
        outcome, written only while the row is still pending, with only what it adds or changes
        laid over the row's details. On SQLite the row is read under the lock, whose outcome writes
        the details it read.

        A void that finds the hold captured (a ride cancelled as it ended) returns what the capture
        moved: completed, or still pending if that capture stopped with a chain too long to record.
        """
        with together(self._engine):
            settled = self._settle(movement_id, success=success, receipt=receipt, error_code=error_code,
                                   reason=reason, known=known, read=read)
        if isinstance(settled, _Captured):
            # A capture posted the hold (a ride's end) as this void came (its cancellation): the
            # movement is what that capture moved, written by it or else from the ledger, not this copy
            # of the hold. Waited for out of SQLite's lock (the capture needs it to write), unless a
            # caller's together holds it still.
            return self._captured_by_another(settled.movement, settled.held, settled.amount, [], None,
                                             wait_s=0.0 if shared(self._engine) is not None else None)
        return settled

    def _settle(self, movement_id: str, *, success: bool, receipt: dict[str, str] | None,
                error_code: str | None, reason: str | None, known: Collection[Customer],
                read: Movement | None) -> Movement | _Captured:
        taken = read is not None and read.id == movement_id and read.status is Status.PENDING \
            and shared(self._engine) is None and self._engine.dialect.name == "postgresql"
        movement = read if taken and read is not None else self.get(movement_id)
        if movement.status is not Status.PENDING:
            if movement.status is Status.FAILED and success and "late_outcome" not in movement.details:
                self.note(movement, late_outcome="succeeded", late_receipt=receipt or {})
            return self.get(movement_id)
        if not movement.holds:
            return self._settle_deferred(movement, success=success, receipt=receipt, error_code=error_code,
                                         reason=reason)
        verb = "post" if success else "void"
        flags = TransferFlags.POST_PENDING if success else TransferFlags.VOID_PENDING
        held = [leg for leg in movement.legs if leg.pending]
        transfers = [Transfer(id=f"{leg.id}.{verb}", pending_id=leg.id, code=leg.code,
                              flags=flags | (TransferFlags.LINKED if i < len(held) - 1 else 0),
                              metadata={"movement": movement.id})
                     for i, leg in enumerate(held)]
        results = self._ledger.submit(transfers)
        outcome = success
        if any(r not in OK for r in results):
            # The other resolution won (a timeout's void, an expiry, a callback's post): follow it.
            first = next(r for r in results if r not in OK and r is not TransferResult.LINKED_EVENT_FAILED)
            if first is TransferResult.PENDING_TRANSFER_ALREADY_POSTED:
                outcome = True
                post = self._ledger.get_transfer(f"{held[0].id}.post") if len(held) == 1 else None
                if post is not None and "digest" in post.metadata:  # a capture's (see settle)
                    return _Captured(movement, held[0], post.amount)
            elif first in _EXPIRED:
                outcome = False
                error_code, reason = "provider_timeout", "the provider answered too late; nothing was taken"
                if success:
                    self.note(movement, late_outcome="succeeded", late_receipt=receipt or {})
                    movement = self.get(movement_id)
            else:
                raise AssertionError(f"settling {movement.id}: unexpected ledger answer {first}")
        return self._close(movement, success=outcome, receipt=receipt, error_code=error_code, reason=reason,
                           known=known)

    def capture(self, movement_id: str, amount: int, then: list[Leg], *,
                notes: Mapping[str, Any] | None = None) -> Movement:
        """Post part (or all) of a movement's single hold and move it on with ``then``, in one chain.

        A booking holds an estimate and captures the final amount at the end; the rest of the hold
        returns to the payer. A second capture (a retry, a race) changes nothing. The movement then
        says what was charged (``amount``), not what was held; ``notes`` (what the caller wants kept,
        such as the hold) go into its details. (Not in one transaction: a campaign's meter may be opened
        while its reward is decided, in transactions of its own.)

        Two captures at once (the trip's end and a retry) may decide differently (the fare, a reward
        the budget covers for one of them only). The post carries its chain (the legs' ids and a
        digest of their fields), so the ledger takes one chain whole: another chain's post is refused
        before anything of it moves, and that capture writes nothing of its own
        (:meth:`_captured_by_another`).
        """
        movement = self.get(movement_id)
        if movement.status is not Status.PENDING:
            return movement
        (held,) = [leg for leg in movement.legs if leg.pending]
        assert 0 < amount <= held.amount, (amount, held.amount)
        legs, details = list(then), dict(movement.details)
        if self.hooks:  # a reward decided on the amount charged moves with its capture
            legs, details = extend(self.hooks, Draft(
                id=movement.id, kind=movement.kind, amount=amount, fee=0, legs=tuple(then),
                details=movement.details, payer_customer_id=movement.payer_customer_id,
                payee_customer_id=None, merchant_id=None, provider=movement.provider,
                product=movement.product, now_ns=self._clock_ns()))
        refused = self._post_hold(movement, held, amount, legs, details)
        if refused in _EXPIRED:
            return self._close(movement, success=False, receipt=None, error_code="hold_expired",
                               reason="the hold on the wallet ran out before the trip ended")
        # Posted now (or this very chain before), or another chain posted it.
        assert refused in (None, TransferResult.PENDING_TRANSFER_ALREADY_POSTED,
                           TransferResult.EXISTS_WITH_DIFFERENT_FIELDS), refused
        if refused is not None:
            return self._captured_by_another(movement, held, amount, legs, notes)
        # The chain's digest marks the row as written by this chain (a retry finds it so:
        # _captured_by_another).
        digest = _chain_of(movement.id, amount, legs)["digest"]
        wanted = {**details, **(notes or {}), "capture_digest": digest}
        known = {leg.id for leg in movement.legs}
        with begin(self._engine) as connection:
            # The legs posted with the hold join the movement's own (a statement reads a movement's
            # effect on a wallet from its legs: a ride discount paid back to the rider is one of them),
            # once: a retry of this chain may have read a row its first try wrote already.
            # The details were computed from the copy read above: what they change in it is done to the
            # row as it is now, so that a note written meanwhile stays (sika.payments.details). Not a
            # merge: a key the capture took away (the hold's ``extras``, its own groups all refused)
            # would come back.
            connection.execute(movements.update().where(
                movements.c.id == movement.id, movements.c.status == Status.PENDING).values(
                amount=amount, updated_at_ns=self._clock_ns(),
                legs=legs_json([*movement.legs, *(leg for leg in legs if leg.id not in known)]),
                details=rebased_json(connection, movement.id, movement.details, wanted)))
        return self._close(self.get(movement_id), success=True, receipt=None, error_code=None, reason=None)

    def _captured_by_another(self, movement: Movement, held: Leg, amount: int, legs: list[Leg],
                             notes: Mapping[str, Any] | None, *, wait_s: float | None = None) -> Movement:
        """The movement as the capture whose chain the ledger took writes it (its amount, legs and
        rewards). Still pending after ``CAPTURE_WAIT_S``: that capture stopped before closing it. If it
        wrote the row, the row is closed as it is; if not, the row is written from the ledger: the
        amount posted and the legs of the chain its post names (a post from before posts named their
        chain: the legs under the ids this capture knows, which a retry computes alike). What the
        ledger does not hold, that capture's rewards' records (``extras``: *My rewards*, the receipt's
        line, a refund's clawback), is missing then; ``capture_from_ledger`` says so. ``notes`` are
        kept only if the amount posted is the one they were written for (a fare). ``movement`` and
        ``legs``: the row as this capture read it, and the legs it decided. ``wait_s``: how long to wait
        for the other's row (``CAPTURE_WAIT_S`` unless said)."""
        deadline = time.monotonic() + (CAPTURE_WAIT_S if wait_s is None else wait_s)
        while True:
            current = self.get(movement.id)
            if current.status is not Status.PENDING or time.monotonic() >= deadline:
                break
            time.sleep(_CAPTURE_POLL_S)
        if current.status is not Status.PENDING:
            return current
        post = self._ledger.get_transfer(f"{held.id}.post")
        assert post is not None  # the ledger answered that the hold was posted, under this id
        have = {leg.id for leg in current.legs}
        digest = post.metadata.get("digest")
        if digest is not None:
            written = current.details.get("capture_digest") == digest
            chain = _chain_in(movement.id, post.metadata)
        else:  # posted before posts named their chain (and rows their digest): its legs are in the row
            written = any(leg.id in have for leg in legs)
            chain = [(leg.id, str(leg.role), leg.optional) for leg in legs]
        if written:  # it wrote the row and stopped before closing it
            return self._close(current, success=True, receipt=None, error_code=None, reason=None)
        if chain is None:
            log.error("movement %s: a capture posted its hold but did not record it, and its chain was too "
                      "long to name in the post: left pending for reconciliation", movement.id)
            return current
        found = self._ledger.get_transfers([leg_id for leg_id, _, _ in chain])
        posted = [Leg(r.id, r.debit_account_id, r.credit_account_id, r.amount, r.code, role,
                      optional=optional)
                  for leg_id, role, optional in chain if (r := found.get(leg_id)) is not None]
        log.warning("movement %s: a capture posted its hold but did not record it; recorded from the "
                    "ledger (%d F, %d legs)", movement.id, post.amount, len(posted))
        kept = dict(notes or {}) if post.amount == amount else {}
        wanted = {**current.details, **kept, "capture_from_ledger": True}
        if digest is not None:
            wanted["capture_digest"] = digest
        with begin(self._engine) as connection:
            connection.execute(movements.update().where(
                movements.c.id == movement.id, movements.c.status == Status.PENDING).values(
                amount=post.amount, updated_at_ns=self._clock_ns(),
                legs=legs_json([*current.legs, *(leg for leg in posted if leg.id not in have)]),
                details=rebased_json(connection, movement.id, current.details, wanted)))
        return self._close(self.get(movement.id), success=True, receipt=None, error_code=None, reason=None)

    def _post_hold(self, movement: Movement, held: Leg, amount: int, legs: list[Leg],
                   details: dict[str, Any]) -> TransferResult | None:
        """Post ``amount`` of the hold with ``legs`` linked; an optional group the ledger refuses is
        dropped and the rest tried again. The refusal that stands, None when it all went through.

        The post names its chain (:func:`_chain_of`): the ledger answers a post of another chain
        ``EXISTS_WITH_DIFFERENT_FIELDS`` at the chain's first event, so none of its legs moves."""
        while True:
            transfers = [Transfer(id=f"{held.id}.post", pending_id=held.id, amount=amount, code=held.code,
                                  flags=TransferFlags.POST_PENDING | (TransferFlags.LINKED if legs else 0),
                                  metadata=_chain_of(movement.id, amount, legs))]
            transfers += [leg.transfer(linked=i < len(legs) - 1, movement_id=movement.id)
                          for i, leg in enumerate(legs)]
            results = self._ledger.submit(transfers)
            failed = next(((i, r) for i, r in enumerate(results)
                           if r not in OK and r is not TransferResult.LINKED_EVENT_FAILED), None)
            if failed is None or failed[0] == 0 or not legs[failed[0] - 1].optional:
                return None if failed is None else failed[1]
            kept = without_group(self._ledger, movement.id, legs, details, (legs[failed[0] - 1], failed[1]),
                                 counting=self.counting())
            if kept is None:
                # The group's leg is in the ledger with its own fields: a chain with it went through,
                # not this one (its post would have been refused first): that capture writes the row.
                return TransferResult.PENDING_TRANSFER_ALREADY_POSTED
            legs[:], kept_details = kept
            details.clear()
            details.update(kept_details)

    def _settle_deferred(self, movement: Movement, *, success: bool, receipt: dict[str, str] | None,
                         error_code: str | None, reason: str | None) -> Movement:
        if not success:
            return self._close(movement, success=False, receipt=receipt, error_code=error_code, reason=reason)
        check_transition(Status.PENDING, Status.PROCESSING)
        with begin(self._engine) as connection:
            details = {**movement.details, "receipt": receipt or {}}
            won = connection.execute(
                movements.update().where(movements.c.id == movement.id, movements.c.status == Status.PENDING)
                .values(status=str(Status.PROCESSING), updated_at_ns=self._clock_ns(),
                        details=merged_json(connection, movement.id, details))).rowcount
        if not won:
            # Given up meanwhile (the deadline): nothing moves now; reconciliation sees the late success.
            current = self.get(movement.id)
            if current.status is Status.FAILED and "late_outcome" not in current.details:
                self.note(current, late_outcome="succeeded", late_receipt=receipt or {})
            return self.get(movement.id)
        moved = self.finish(self.get(movement.id))
        if moved.status is Status.FAILED:
            # Paid at the provider, refused by our limits: the provider payment must be refunded.
            self.note(moved, refund_required=True)
        return self.get(movement.id)

    def _close(self, movement: Movement, *, success: bool, receipt: dict[str, str] | None,
               error_code: str | None, reason: str | None, known: Collection[Customer] = ()) -> Movement:
        details = dict(movement.details)
        if receipt:
            details["receipt"] = receipt
        status = Status.COMPLETED if success else Status.FAILED
        if not success:
            error_code = error_code or "provider_failed"
            details["reason"] = reason or "the provider refused or failed the payment; nothing was taken"
        recorded, exact = self._outcome(movement, Status.PENDING, status,
                                        error_code=None if success else error_code, details=details,
                                        known=known)
        if recorded is not None and (exact or shared(self._engine) is not None):
            # The row as written, or SQLite's lock held since ``movement`` was read (settle's together).
            return recorded
        return self.get(movement.id)  # a capture may have changed a pending movement's amount and legs


def _chain_of(movement_id: str, amount: int, legs: list[Leg]) -> dict[str, Any]:
    """A capture's post's metadata: its movement, the chain it posts (each leg's id, after the
    movement's own where it starts with it, its role and group: to write the movement from the ledger
    if need be) and a digest of the legs' fields, so that two chains that differ in any field differ in
    their post (the ledger compares metadata on a retry). Beyond the ledger's 2 KB, the digest alone."""
    fields = [(leg.id, leg.debit, leg.credit, leg.amount, leg.code, leg.pending, leg.timeout_s)
              for leg in legs]
    digest = hashlib.sha256(json.dumps([amount, fields], separators=(",", ":")).encode()).hexdigest()[:32]
    own = movement_id + "."
    chain = [[leg.id[len(movement_id):] if leg.id.startswith(own) else leg.id, str(leg.role), leg.optional]
             for leg in legs]
    metadata = {"movement": movement_id, "chain": chain, "digest": digest}
    if len(json.dumps(metadata).encode()) > METADATA_BYTES_MAX:
        metadata = {"movement": movement_id, "digest": digest}
    return metadata


def _chain_in(movement_id: str, metadata: Mapping[str, Any]) -> list[tuple[str, str, str]] | None:
    """The chain a post names (:func:`_chain_of`), or None when it was too long to name."""
    if "chain" not in metadata:
        return None
    # A leg's id never starts with a dot: one that does is the rest of an id after the movement's.
    return [(movement_id + leg_id if leg_id.startswith(".") else leg_id, role, optional)
            for leg_id, role, optional in metadata["chain"]]
