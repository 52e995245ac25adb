"""Approvals: money a customer agrees to pay with the PIN, in their own channel.

Two kinds: a cash-out an agent starts for a customer standing at the counter, and a merchant's request
to pay (an e-commerce checkout). The request waits ``pending`` until the customer approves it with the
PIN, declines it, or it expires. Approval runs the payment with the approval's id as the movement id,
so approving twice (a double tap, a retry) pays once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from sika.errors import SikaError
from sika.payments.agents import Agent, Agents, Merchant, Merchants
from sika.payments.callbacks import enqueue_callback
from sika.payments.fees import Operation
from sika.payments.limits import Limits
from sika.payments.movements import Movement, MovementConflict, Status, check_id
from sika.payments.outbox import enqueue
from sika.payments.schema import approvals
from sika.payments.service import Payments
from sika.prepared import Prepared
from sika.wallet import Customer, Customers, Pin

__all__ = ["Approval", "ApprovalClosed", "Approvals", "UnknownApproval", "merchant_note"]

TTL_S = 5 * 60
TTL_S_MAX = 24 * 3600
DESCRIPTION_CHARS_MAX = 140
REFERENCE_CHARS_MAX = 64
SWEEP_MAX = 200
# Customers :meth:`Approvals.pending_for_many` reads at once, and requests listed a customer, at most.
PENDING_MANY_MAX = 1_000
PENDING_LIMIT_MAX = 100


def _pending_many() -> Any:
    """The first ``limit`` pending requests of each customer, whatever a merchant left pending for
    another one; built once (the chat reads it for every batch of messages)."""
    rank = func.row_number().over(partition_by=approvals.c.customer_id,
                                  order_by=(approvals.c.created_at_ns, approvals.c.id)).label("rank")
    waiting = (select(approvals, rank)
               .where(approvals.c.customer_id.in_(bindparam("ids", expanding=True)),
                      approvals.c.status == "pending", approvals.c.expires_at_ns > bindparam("now"))
               .subquery())
    return (select(waiting).where(waiting.c.rank <= bindparam("limit"))
            .order_by(waiting.c.customer_id, waiting.c.rank))


# A read alone in autocommit (one round trip; a transaction around it was three on PostgreSQL).
_PENDING_MANY = Prepared(_pending_many())
_NS = 1_000_000_000


class UnknownApproval(SikaError):
    code = "unknown_approval"


class ApprovalClosed(SikaError):
    code = "approval_closed"


@dataclass(frozen=True, slots=True)
class Approval:
    id: str
    kind: str
    status: str
    customer_id: int
    amount: int
    fee: int
    agent_id: int | None
    merchant_id: int | None
    description: str
    merchant_reference: str | None
    movement_id: str | None
    expires_at_ns: int
    created_at_ns: int


class Approvals:
    def __init__(self, engine: Engine, customers: Customers, payments: Payments, agents: Agents,
                 merchants: Merchants, *, limits: Limits, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._customers = customers
        self._payments = payments
        self._limits = limits
        self._agents = agents
        self._merchants = merchants
        self._clock_ns = clock_ns

    # Asking --------------------------------------------------------------------------------------

    def request_cash_out(self, approval_id: str, agent: Agent, msisdn: str, amount: int) -> Approval:
        customer = self._customers.get(msisdn)
        fee = self._payments.fees.fee(Operation.CASH_OUT, amount)
        return self._ask(approval_id, "cash_out", customer, amount, fee, agent_id=agent.id,
                         description=f"Cash-out at {agent.name}", ttl_s=TTL_S, requester=agent.name)

    def request_payment(self, approval_id: str, merchant: Merchant, msisdn: str, amount: int, *,
                        description: str = "", reference: str | None = None, ttl_s: int = TTL_S) -> Approval:
        customer = self._customers.get(msisdn)
        if not 60 <= ttl_s <= TTL_S_MAX:
            raise SikaError(f"a request lives 60 to {TTL_S_MAX} seconds", code="validation_error")
        if self._payments.fees.fee(Operation.MERCHANT, amount) >= amount:
            raise SikaError("this amount is too small to pay by Sika", code="amount_below_minimum")
        text = " ".join(description.split())[:DESCRIPTION_CHARS_MAX] or _default_description(merchant.name)
        if reference is not None and not 0 < len(reference) <= REFERENCE_CHARS_MAX:
            raise SikaError("a merchant reference has 1 to 64 characters", code="validation_error")
        return self._ask(approval_id, "merchant_payment", customer, amount, 0, merchant_id=merchant.id,
                         description=text, reference=reference, ttl_s=ttl_s, requester=merchant.name)

    def _ask(self, approval_id: str, kind: str, customer: Customer, amount: int, fee: int, *,
             description: str, ttl_s: int, requester: str, agent_id: int | None = None,
             merchant_id: int | None = None, reference: str | None = None) -> Approval:
        check_id(approval_id)
        if amount <= 0:
            raise SikaError("an amount is a positive whole number of francs", code="invalid_amount")
        now = self._clock_ns()
        values = {"id": approval_id, "kind": kind, "status": "pending", "customer_id": customer.id,
                  "amount": amount, "fee": fee, "agent_id": agent_id, "merchant_id": merchant_id,
                  "description": description, "merchant_reference": reference,
                  "expires_at_ns": now + ttl_s * _NS, "created_at_ns": now}
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(approvals).values(values))
                enqueue(connection, dedupe_key=f"{approval_id}:asked", msisdn=customer.msisdn,
                        kind="approval_requested", now_ns=now,
                        params={"id": approval_id, "kind": kind, "amount": amount, "fee": fee,
                                "from": requester, "description": description})
        except IntegrityError:
            existing = self.get(approval_id)
            if (existing.kind, existing.customer_id, existing.amount) != (kind, customer.id, amount):
                raise MovementConflict("this Idempotency-Key was used for another request") from None
            return existing
        return self.get(approval_id)

    # Reading -------------------------------------------------------------------------------------

    def requester(self, approval: Approval) -> tuple[str, str]:
        """Who asks, by the name Sika registered for them, and the merchant's own note ("" when none).

        A request's description is free text the merchant writes ("Sika refund", "Your bank"): shown as
        who asks, it lets any merchant pass for anyone. Channels show the registered name first and
        the description only as the merchant's note."""
        if approval.merchant_id is not None:
            name = self._merchants.get(approval.merchant_id).name
            return name, merchant_note(approval.description, name)
        assert approval.agent_id is not None
        return self._agents.get(approval.agent_id).name, ""

    def get(self, approval_id: str) -> Approval:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(approvals).where(approvals.c.id == approval_id)).mappings().first()
        if row is None:
            raise UnknownApproval(f"no approval request {approval_id}")
        return _approval(row)

    def pending_for(self, customer_id: int, limit: int = 20) -> list[Approval]:
        now = self._clock_ns()
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(approvals).where(approvals.c.customer_id == customer_id,
                                        approvals.c.status == "pending", approvals.c.expires_at_ns > now)
                .order_by(approvals.c.created_at_ns).limit(limit)).mappings().all()
        return [_approval(row) for row in rows]

    def pending_for_many(self, customer_ids: Collection[int], limit: int = 20) -> dict[int, list[Approval]]:
        """:meth:`pending_for` of several customers in one query (customers with none are missing)."""
        assert len(customer_ids) <= PENDING_MANY_MAX and 0 < limit <= PENDING_LIMIT_MAX
        if not customer_ids:
            return {}
        found: dict[int, list[Approval]] = {}
        rows = _PENDING_MANY.all(self._engine, {"ids": sorted(customer_ids), "now": self._clock_ns(),
                                                "limit": limit})
        for row in rows:
            found.setdefault(int(row.customer_id), []).append(_approval(row._mapping))
        return found

    # Answering -----------------------------------------------------------------------------------

    def approve(self, approval_id: str, customer: Customer, pin: Pin) -> Movement:
        approval = self._own(approval_id, customer)
        if approval.status == "pending" and approval.expires_at_ns <= self._clock_ns():
            raise ApprovalClosed("this request has expired; ask for a new one", code="approval_expired")
        if approval.status in ("pending", "approved", "failed"):
            # Every answer needs the PIN, a repeated one too: it shows the payment to whoever asks.
            customer = self._customers.verify_pin(customer.msisdn, pin)
        if approval.status == "pending":
            # What can be refused without moving money is refused before the request is marked approved.
            self._limits.check_transaction(customer, approval.amount)
            with self._engine.begin() as connection:
                connection.execute(
                    update(approvals)
                    .where(approvals.c.id == approval_id, approvals.c.status == "pending")
                    .values(status="approved", movement_id=approval_id))
            approval = self.get(approval_id)
        if approval.status not in ("approved", "failed") or (
                approval.status == "failed" and approval.movement_id is None):
            raise ApprovalClosed(f"this request is {approval.status}; ask for a new one")
        # Approved: pay (again, harmlessly, if an earlier approval was interrupted before paying).
        try:
            movement = self._pay(approval, customer)
        except SikaError as exc:
            self._refused(approval, exc)
            raise
        if movement.status is Status.FAILED:
            with self._engine.begin() as connection:
                connection.execute(update(approvals).where(
                    approvals.c.id == approval_id, approvals.c.status == "approved").values(status="failed"))
                if approval.merchant_id is not None:
                    enqueue_callback(connection, merchant_id=approval.merchant_id, event="payment.failed",
                                     event_id=f"{approval.id}:failed", now_ns=self._clock_ns(),
                                     data=_event_data(approval, movement, self._payments.accounts.currency))
        return movement

    def _refused(self, approval: Approval, error: SikaError) -> None:
        """The payment was refused before anything was recorded: the request fails, the merchant is told."""
        with self._engine.begin() as connection:
            failed = connection.execute(update(approvals).where(
                approvals.c.id == approval.id, approvals.c.status == "approved").values(
                    status="failed", movement_id=None)).rowcount
            if failed and approval.merchant_id is not None:
                enqueue_callback(connection, merchant_id=approval.merchant_id, event="payment.failed",
                                 event_id=f"{approval.id}:failed", now_ns=self._clock_ns(),
                                 data={**_event_data(approval, None, self._payments.accounts.currency),
                                       "error_code": error.code})

    def decline(self, approval_id: str, customer: Customer) -> Approval:
        self._own(approval_id, customer)
        self._close(approval_id, "declined")
        return self.get(approval_id)

    def expire(self, limit: int = SWEEP_MAX) -> int:
        now = self._clock_ns()
        with self._engine.connect() as connection:
            ids = connection.execute(
                select(approvals.c.id)
                .where(approvals.c.status == "pending", approvals.c.expires_at_ns <= now)
                .limit(limit)).scalars().all()
        for approval_id in ids:
            self._close(approval_id, "expired")
        return len(ids)

    def _close(self, approval_id: str, status: str) -> None:
        now = self._clock_ns()
        with self._engine.begin() as connection:
            closed = connection.execute(
                update(approvals).where(approvals.c.id == approval_id, approvals.c.status == "pending")
                .values(status=status)).rowcount
            if not closed:
                raise ApprovalClosed("this request is not pending any more")
            row = connection.execute(
                select(approvals).where(approvals.c.id == approval_id)).mappings().one()
            approval = _approval(row)
            if approval.merchant_id is not None:
                enqueue_callback(connection, merchant_id=approval.merchant_id, event=f"payment.{status}",
                                 event_id=f"{approval_id}:{status}", now_ns=now,
                                 data=_event_data(approval, None, self._payments.accounts.currency))

    def _own(self, approval_id: str, customer: Customer) -> Approval:
        approval = self.get(approval_id)
        if approval.customer_id != customer.id:
            raise UnknownApproval(f"no approval request {approval_id}")
        return approval

    def _pay(self, approval: Approval, customer: Customer) -> Movement:
        if approval.kind == "cash_out":
            assert approval.agent_id is not None
            agent = self._agents.get(approval.agent_id)
            return self._payments.cash_out_approved(approval.id, agent, customer, approval.amount)
        assert approval.merchant_id is not None
        merchant = self._merchants.get(approval.merchant_id)
        return self._payments.merchant_payment(approval.id, merchant, customer, approval.amount,
                                               reference=approval.merchant_reference,
                                               description=approval.description)


def merchant_note(description: str, merchant_name: str) -> str:
    """The merchant's own words in a request's description ("" when Sika wrote it for them)."""
    return "" if description == _default_description(merchant_name) else description


def _default_description(merchant_name: str) -> str:
    return f"Payment to {merchant_name}"


def _event_data(approval: Approval, movement: Movement | None, currency: str) -> dict[str, Any]:
    return {"request_id": approval.id, "reference": approval.merchant_reference, "amount": approval.amount,
            "currency": currency, "payment_id": movement.id if movement is not None else None,
            "error_code": movement.error_code if movement is not None else None}


def _approval(row: Any) -> Approval:
    return Approval(id=row["id"], kind=row["kind"], status=row["status"], customer_id=row["customer_id"],
                    amount=row["amount"], fee=row["fee"], agent_id=row["agent_id"],
                    merchant_id=row["merchant_id"], description=row["description"],
                    merchant_reference=row["merchant_reference"], movement_id=row["movement_id"],
                    expires_at_ns=row["expires_at_ns"], created_at_ns=row["created_at_ns"])
