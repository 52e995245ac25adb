"""Vouchers: money sent to a number without a wallet, waiting in the voucher holding account until the
recipient claims it with a code (into a new wallet, or in cash at an agent), or it expires and goes
back to the sender.

Three kinds of movement, with their hooks registered on the runner: ``voucher`` (the sender's money
held; completing it creates the voucher and sends the code), ``voucher_claim`` and ``voucher_refund``
(the holding pays out; completing marks the voucher claimed or refunded, failing lets it be tried
again). A claim and a refund of one voucher share the settle leg's ledger id, so the money leaves the
holding account once, whoever races.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from sika import phones
from sika.db import writing
from sika.errors import SikaError
from sika.payments.agents import Agent
from sika.payments.channels import FALLBACK
from sika.payments.fees import FeeSchedule
from sika.payments.fingerprints import fingerprint
from sika.payments.hooks import KindHooks
from sika.payments.movements import Code, Kind, Leg, Movement, Role, Status, movement_id
from sika.payments.outbox import SECRET, enqueue
from sika.payments.schema import vouchers
from sika.payments.settlement import Movements
from sika.wallet import Customers

__all__ = ["SWEEP_MAX", "VOUCHER_TTL_S", "VoucherRefused", "Vouchers"]

log = logging.getLogger(__name__)

VOUCHER_TTL_S = 7 * 24 * 3600
VOUCHER_CODE_DIGITS = 8
VOUCHER_TRIES_MAX = 5
SWEEP_MAX = 100
_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS


class VoucherRefused(SikaError):
    code = "invalid_voucher"


class Vouchers:
    def __init__(self, engine: Engine, movements: Movements, customers: Customers, fees: FeeSchedule, *,
                 clock_ns: Callable[[], int] = time.time_ns, ttl_s: int = VOUCHER_TTL_S,
                 key: bytes | None = None) -> None:
        self._engine = engine
        self._movements = movements
        self._customers = customers
        self._fees = fees
        self._clock_ns = clock_ns
        self.ttl_ns = ttl_s * _NS
        # Voucher codes are short (8 digits): they are stored as an HMAC under a key kept apart from
        # the rows, so a copy of the table alone does not give the codes away by brute force.
        self._key = key or b"sika-voucher-codes"
        movements.kinds.register(Kind.VOUCHER, _Sent(self._created))
        for kind in (Kind.VOUCHER_CLAIM, Kind.VOUCHER_REFUND):
            movements.kinds.register(kind, _PaidOut())

    def claim(self, movement_id: str, msisdn: str, code: str, *, agent: Agent | None = None) -> Movement:
        """Pay a voucher out: into the recipient's (new) wallet, or in cash by an agent."""
        number = phones.normalize(msisdn)
        request = fingerprint("voucher_claim", msisdn=number, agent=None if agent is None else agent.id,
                              code=self._digest("claim", code.strip().replace(" ", "")))
        existing = self._movements.find(movement_id)
        if existing is not None:
            return self._movements.resume(existing, request, counterparty=number)
        voucher = self._voucher_for(number, code)
        amount = int(voucher["amount"])
        settle_id = f"{voucher['movement_id']}.settle"
        holding = self._movements.accounts.id("voucher_holding")
        details = {"voucher": voucher["movement_id"]}
        reserve = _reserver(str(voucher["movement_id"]), movement_id)
        customer = None if agent is not None else self._customers.get(number)
        if customer is not None:
            self._movements.limits.check_transaction(customer, amount)
        if agent is not None:
            commission = self._fees.cash_in_commission(amount)
            legs = [Leg(settle_id, holding, agent.float_account_id, amount, Code.VOUCHER_CLAIM,
                        Role.HOLDING)]
            if commission:
                legs.append(Leg(f"{movement_id}.1", self._movements.accounts.id("commission_expense"),
                                agent.float_account_id, commission, Code.COMMISSION, Role.PLATFORM))
            return self._movements.run(movement_id, legs, kind=Kind.VOUCHER_CLAIM, amount=amount,
                                       commission=commission, agent_id=agent.id, counterparty=number,
                                       details=details, reserve=reserve, request=request)
        assert customer is not None and customer.account_id is not None
        legs = [Leg(settle_id, holding, customer.account_id, amount, Code.VOUCHER_CLAIM, Role.HOLDING),
                self._movements.limits.meter_leg(movement_id, customer, amount)]
        return self._movements.run(movement_id, legs, kind=Kind.VOUCHER_CLAIM, amount=amount,
                                   payee_customer_id=customer.id, counterparty=number, details=details,
                                   reserve=reserve, request=request)

    def waiting_for(self, msisdn: str) -> list[dict[str, Any]]:
        """Vouchers waiting for a number (for the welcome of a new wallet and for agents)."""
        number = phones.normalize(msisdn)
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(vouchers.c.movement_id, vouchers.c.amount, vouchers.c.expires_at_ns)
                .where(vouchers.c.recipient_msisdn == number, vouchers.c.status == "held")
                .order_by(vouchers.c.expires_at_ns).limit(50)
            ).mappings().all()
        return [dict(row) for row in rows]

    def reissue_code(self, voucher_id: str) -> bool:
        """The code never reached the recipient (its SMS failed on the way): a new code replaces it and
        goes to the sender, to pass on. False when the voucher is no longer waiting."""
        code = _new_code()
        now = self._clock_ns()
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(vouchers)
                .where(vouchers.c.movement_id == voucher_id, vouchers.c.status == "held",
                       vouchers.c.settled_by.is_(None))
                .values(code_digest=self._digest(voucher_id, code), failed_tries=0)).rowcount
            if not changed:
                return False
            row = connection.execute(
                select(vouchers).where(vouchers.c.movement_id == voucher_id)).mappings().one()
            sender = self._customers.by_id(int(row["sender_customer_id"]))
            days = max(1, (int(row["expires_at_ns"]) - now) // _DAY_NS)
            enqueue(connection, dedupe_key=f"{voucher_id}:reissued:{now}", msisdn=sender.msisdn,
                    kind="voucher_code_to_pass_on", now_ns=now,
                    params={"amount": int(row["amount"]), SECRET: code, "expires_days": days,
                            "id": voucher_id, "to": str(row["recipient_msisdn"])})
        return True

    def refund_expired(self, limit: int = SWEEP_MAX) -> int:
        """Give the sender back what nobody claimed in time (one attempt a day if the refund fails)."""
        now = self._clock_ns()
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(vouchers).where(vouchers.c.status == "held", vouchers.c.expires_at_ns <= now)
                .order_by(vouchers.c.expires_at_ns).limit(limit)
            ).mappings().all()
        attempted = 0
        for row in rows:
            sender = self._customers.by_id(int(row["sender_customer_id"]))
            assert sender.account_id is not None
            day = time.strftime("%Y-%m-%d", time.gmtime(now // _NS))
            refund_id = movement_id("voucher-refund", f"{row['movement_id']}:{day}")
            legs = [Leg(f"{row['movement_id']}.settle", self._movements.accounts.id("voucher_holding"),
                        sender.account_id, int(row["amount"]), Code.VOUCHER_REFUND, Role.HOLDING)]
            try:
                done = self._movements.run(
                    refund_id, legs, kind=Kind.VOUCHER_REFUND, amount=int(row["amount"]),
                    payee_customer_id=sender.id, counterparty=str(row["recipient_msisdn"]),
                    details={"voucher": row["movement_id"]},
                    reserve=_reserver(str(row["movement_id"]), refund_id))
            except VoucherRefused:
                continue  # a claim is paying it out right now
            attempted += 1
            if done.status is Status.FAILED:
                log.warning("refund of voucher %s failed: %s", row["movement_id"], done.error_code)
        return attempted

    def _voucher_for(self, number: str, code: str) -> Any:
        code = code.strip().replace(" ", "")
        if not code.isdigit() or len(code) != VOUCHER_CODE_DIGITS:
            raise VoucherRefused(f"a voucher code has {VOUCHER_CODE_DIGITS} digits",
                                 code="invalid_voucher_code")
        now = self._clock_ns()
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(vouchers).where(vouchers.c.recipient_msisdn == number, vouchers.c.status == "held")
                .limit(50)
            ).mappings().all()
        for row in rows:
            if hmac.compare_digest(row["code_digest"], self._digest(row["movement_id"], code)):
                if row["failed_tries"] >= VOUCHER_TRIES_MAX:
                    raise VoucherRefused("this voucher is blocked after too many wrong codes; the sender "
                                         "gets it back when it expires", code="voucher_blocked")
                if row["expires_at_ns"] <= now:
                    raise VoucherRefused("this voucher has expired; it goes back to the sender",
                                         code="voucher_expired")
                return row
        if rows:
            with writing(self._engine).begin() as connection:
                connection.execute(update(vouchers).where(
                    vouchers.c.recipient_msisdn == number, vouchers.c.status == "held"
                ).values(failed_tries=vouchers.c.failed_tries + 1))
        raise VoucherRefused("no voucher waits for this number with this code")

    def _digest(self, voucher_id: str, code: str) -> str:
        return hmac.new(self._key, f"{voucher_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def _created(self, connection: Connection, movement: Movement, now: int) -> None:
        """A ``voucher`` movement completed: the voucher exists, and its code goes to the recipient."""
        assert movement.counterparty is not None and movement.payer_customer_id is not None
        code = _new_code()
        connection.execute(insert(vouchers).values(
            movement_id=movement.id, recipient_msisdn=movement.counterparty,
            sender_customer_id=movement.payer_customer_id, amount=movement.amount,
            code_digest=self._digest(movement.id, code), status="held", expires_at_ns=now + self.ttl_ns))
        payer = self._customers.by_id(movement.payer_customer_id)
        enqueue(connection, dedupe_key=f"{movement.id}:voucher", msisdn=movement.counterparty,
                kind="voucher_received", now_ns=now,
                params={"amount": movement.amount, "sender": payer.name, SECRET: code,
                        "expires_days": self.ttl_ns // _DAY_NS, "id": movement.id,
                        # nobody can reach the recipient: the sender gets the code to pass on
                        FALLBACK: {"msisdn": payer.msisdn, "kind": "voucher_code_to_pass_on"}})


class _Sent(KindHooks):
    """A ``voucher`` movement completed: the voucher is created (see :meth:`Vouchers._created`)."""

    def __init__(self, created: Callable[[Connection, Movement, int], None]) -> None:
        self._created = created

    def completed(self, connection: Connection, movement: Movement, now_ns: int) -> None:
        self._created(connection, movement, now_ns)


class _PaidOut(KindHooks):
    """A claim or a refund: the voucher is settled by it, or free again when it failed."""

    def completed(self, connection: Connection, movement: Movement, now_ns: int) -> None:
        connection.execute(
            update(vouchers)
            .where(vouchers.c.movement_id == movement.details["voucher"],
                   vouchers.c.settled_by == movement.id)
            .values(status="claimed" if movement.kind is Kind.VOUCHER_CLAIM else "refunded"))

    def failed(self, connection: Connection, movement: Movement) -> None:
        connection.execute(  # let the voucher be claimed or refunded again
            update(vouchers)
            .where(vouchers.c.movement_id == movement.details["voucher"],
                   vouchers.c.settled_by == movement.id, vouchers.c.status == "held")
            .values(settled_by=None))


def _reserver(voucher_id: str, movement_id: str) -> Callable[[Connection], None]:
    """One movement at a time pays a voucher out: it marks the voucher as its own first, in the
    transaction that records the movement.

    The settle leg's ledger id is the voucher's, the same for a claim and a refund, so even
    without this mark the money could leave the holding account once only.
    """
    def reserve(connection: Connection) -> None:
        connection.execute(
            update(vouchers)
            .where(vouchers.c.movement_id == voucher_id, vouchers.c.status == "held",
                   vouchers.c.settled_by.is_(None))
            .values(settled_by=movement_id))
        owner = connection.execute(select(vouchers.c.settled_by).where(
            vouchers.c.movement_id == voucher_id)).scalar_one_or_none()
        if owner != movement_id:
            raise VoucherRefused("this voucher is being paid out, or was already", code="voucher_settled")

    return reserve


def _new_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(VOUCHER_CODE_DIGITS))
