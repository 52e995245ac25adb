"""Payments: cash-in and cash-out at agents, transfers to wallets and to vouchers, float, recovery.

Every movement runs the same way (:meth:`Payments._run`):

1. checks that need no lock (numbers, amounts, per-transaction tier limits, PIN);
2. the movement row is inserted as ``processing`` with its legs; the id comes from the caller, so a
   retry finds the row and resumes it instead of starting another movement;
3. the legs go to the ledger as one linked chain: balances, the wallet's balance cap and its monthly
   inflow (a meter leg) are checked there, under the accounts' locks, in the transaction that moves
   the money;
4. the outcome, the receipts (outbox) and any follow-up rows (a voucher) are written in one
   transaction, once: the update is conditional on the row still being ``processing``.

A crash between 2 and 4 leaves a ``processing`` row; a retry of the request, or the recovery job after
a grace period, submits the same legs again (the ledger answers ``exists`` for what was done) and
finishes it. The grace period must outlast any request in flight, so that recovery never races the
request that started the movement.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from sika import phones
from sika.db import writing
from sika.errors import SikaError
from sika.ledger import Ledger, Transfer, TransferFlags, TransferResult
from sika.payments.accounts import SystemAccounts
from sika.payments.agents import Agent, Merchant
from sika.payments.callbacks import enqueue_callback
from sika.payments.channels import FALLBACK
from sika.payments.crashpoints import reached
from sika.payments.fees import DEFAULT_FEES, FeeSchedule, Operation
from sika.payments.fingerprints import fingerprint
from sika.payments.hooks import Draft, MovementHook, drop_group, extend, receipt_params, without_group
from sika.payments.meters import InflowMeters, month_of
from sika.payments.movements import (
    Code,
    Kind,
    Leg,
    Movement,
    MovementConflict,
    PaymentRefused,
    Role,
    Status,
    UnknownMovement,
    chain,
    check_id,
    legs_json,
    movement_from_row,
    movement_id,
    refusal,
)
from sika.payments.outbox import SECRET, enqueue
from sika.payments.schema import movements, vouchers
from sika.wallet import Customer, Customers, Pin, TierLimits

__all__ = ["AMOUNT_MIN", "Payments", "TransferQuote", "VoucherRefused"]

log = logging.getLogger(__name__)

AMOUNT_MIN = 1
VOUCHER_TTL_S = 7 * 24 * 3600
VOUCHER_CODE_DIGITS = 8
VOUCHER_TRIES_MAX = 5
RECOVERY_GRACE_S = 600
SWEEP_MAX = 100
PAGE_LIMIT_MAX = 200
_NS = 1_000_000_000
_OK = (TransferResult.OK, TransferResult.EXISTS)
# The guard leg's amount when its chain happened, and its tombstone's when the chain was refused.
_GUARD_DONE = 1
_GUARD_REFUSED = 2


class VoucherRefused(SikaError):
    code = "invalid_voucher"


@dataclass(frozen=True, slots=True)
class TransferQuote:
    """What the sender sees before confirming: the fee, and who will receive."""

    operation: Operation
    to: str
    amount: int
    fee: int
    recipient_name: str | None  # None: no wallet yet, the money waits as a voucher

    @property
    def total(self) -> int:
        return self.amount + self.fee


class Payments:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        customers: Customers,
        *,
        tiers: Mapping[int, TierLimits],
        fees: FeeSchedule = DEFAULT_FEES,
        clock_ns: Callable[[], int] = time.time_ns,
        voucher_ttl_s: int = VOUCHER_TTL_S,
        recovery_grace_s: int = RECOVERY_GRACE_S,
        voucher_key: bytes | None = None,
    ) -> None:
        self._engine = engine
        self.engine = engine
        self._ledger = ledger
        self._customers = customers
        self._tiers = dict(tiers)
        self.fees = fees
        self._clock_ns = clock_ns
        self._voucher_ttl_ns = voucher_ttl_s * _NS
        self._grace_ns = recovery_grace_s * _NS
        # Voucher codes are short (8 digits): they are stored as an HMAC under a key kept apart from
        # the rows, so a copy of the table alone does not give the codes away by brute force.
        self._voucher_key = voucher_key or b"sika-voucher-codes"
        self.accounts = SystemAccounts(engine, ledger)
        self.meters = InflowMeters(engine, ledger)
        # Collaborators that add optional legs to movements and follow their outcome (promotions).
        self.hooks: list[MovementHook] = []

    # Reading -------------------------------------------------------------------------------------

    def get(self, movement_id: str) -> Movement:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(movements).where(movements.c.id == movement_id)).mappings().first()
        if row is None:
            raise UnknownMovement(f"no transfer {movement_id}")
        return movement_from_row(row)

    def find(self, movement_id: str) -> Movement | None:
        try:
            return self.get(movement_id)
        except UnknownMovement:
            return None

    # Quotes --------------------------------------------------------------------------------------

    def quote_transfer(self, payer: Customer, to: str, amount: int) -> TransferQuote:
        number = phones.normalize(to)
        _check_amount(amount)
        if number == payer.msisdn:
            raise SikaError("you cannot send money to yourself", code="same_wallet")
        recipient = self._customers.find(number)
        if recipient is None:
            operation = Operation.VOUCHER
        elif phones.region(number) != phones.region(payer.msisdn):
            operation = Operation.CROSS_BORDER
        else:
            operation = Operation.TRANSFER
        return TransferQuote(operation=operation, to=number, amount=amount,
                             fee=self.fees.fee(operation, amount),
                             recipient_name=None if recipient is None else recipient.name)

    # Money in and out at agents ------------------------------------------------------------------

    def cash_in(self, movement_id: str, agent: Agent, msisdn: str, amount: int) -> Movement:
        """The customer hands cash to the agent; the agent's float pays the wallet, plus commission."""
        _check_amount(amount)
        customer = self._customers.get(msisdn)
        request = fingerprint("cash_in", agent=agent.id, customer=customer.id, amount=amount)
        existing = self.find(movement_id)
        if existing is not None:
            return self._resume(existing, request)
        self._check_transaction(customer, amount)
        commission = self.fees.cash_in_commission(amount)
        assert customer.account_id is not None
        legs = [Leg(f"{movement_id}.0", agent.float_account_id, customer.account_id, amount,
                    Code.CASH_IN, Role.AGENT)]
        if commission:
            legs.append(Leg(f"{movement_id}.1", self.accounts.id("commission_expense"),
                            agent.float_account_id, commission, Code.COMMISSION, Role.PLATFORM))
        legs.append(self._meter_leg(movement_id, customer, amount))
        return self._run(movement_id, legs, kind=Kind.CASH_IN, amount=amount, commission=commission,
                         payee_customer_id=customer.id, agent_id=agent.id,
                         counterparty=agent.name, request=request)

    def cash_out(self, movement_id: str, agent: Agent, msisdn: str, amount: int, pin: Pin) -> Movement:
        """The customer approves with the PIN; the wallet pays the agent's float, plus the fee."""
        _check_amount(amount)
        customer = self._customers.get(msisdn)
        existing = self.find(movement_id)
        if existing is not None:  # a retry: the PIN was checked the first time
            return self._resume(existing, _cash_out_request(agent, customer, amount), kind=Kind.CASH_OUT,
                                amount=amount, agent_id=agent.id, payer_customer_id=customer.id)
        self._check_transaction(customer, amount)
        customer = self._customers.verify_pin(customer.msisdn, pin)
        return self._cash_out(movement_id, agent, customer, amount)

    def cash_out_approved(self, movement_id: str, agent: Agent, customer: Customer, amount: int) -> Movement:
        """A cash-out the customer already approved with the PIN in their own channel."""
        _check_amount(amount)
        self._check_transaction(customer, amount)
        return self._cash_out(movement_id, agent, customer, amount)

    def _cash_out(self, movement_id: str, agent: Agent, customer: Customer, amount: int) -> Movement:
        self._customers.ensure_cash_out_allowed(customer)
        fee = self.fees.fee(Operation.CASH_OUT, amount)
        commission = self.fees.cash_out_commission(fee)
        assert customer.account_id is not None
        legs = [Leg(f"{movement_id}.0", customer.account_id, agent.float_account_id, amount,
                    Code.CASH_OUT, Role.PAYER)]
        if fee:
            legs.append(Leg(f"{movement_id}.1", customer.account_id, self.accounts.id("fee_revenue"), fee,
                            Code.FEE, Role.PAYER))
        if commission:
            legs.append(Leg(f"{movement_id}.2", self.accounts.id("commission_expense"),
                            agent.float_account_id, commission, Code.COMMISSION, Role.PLATFORM))
        return self._run(movement_id, legs, kind=Kind.CASH_OUT, amount=amount, fee=fee,
                         commission=commission, payer_customer_id=customer.id, agent_id=agent.id,
                         counterparty=agent.name, request=_cash_out_request(agent, customer, amount))

    def credit_float(self, movement_id: str, agent: Agent, amount: int) -> Movement:
        """The agent bought e-money (paid the settlement bank): its float grows by ``amount``."""
        _check_amount(amount)
        legs = [Leg(f"{movement_id}.0", self.accounts.id("settlement_bank"), agent.float_account_id,
                    amount, Code.FLOAT, Role.PLATFORM)]
        return self._run(movement_id, legs, kind=Kind.FLOAT, amount=amount, agent_id=agent.id,
                         counterparty=agent.name, request=fingerprint("float", agent=agent.id, amount=amount))

    # Sending money -------------------------------------------------------------------------------

    def transfer(self, movement_id: str, payer: Customer, to: str, amount: int, *,
                 pin: Pin | None = None) -> Movement:
        """To a wallet (instant), or to a number without one (a voucher collected with a code).

        ``pin`` is checked when given; a caller without it must have authenticated the customer
        with the PIN already (a session token, or the chat's PIN step).
        """
        request = fingerprint("transfer", payer=payer.id, to=phones.normalize(to), amount=amount)
        existing = self.find(movement_id)
        if existing is not None:
            return self._resume(existing, request, payer_customer_id=payer.id, amount=amount,
                                counterparty=phones.normalize(to))
        quote = self.quote_transfer(payer, to, amount)
        self._customers.ensure_cash_out_allowed(payer)  # a PIN reset's freeze holds money in
        self._check_transaction(payer, amount + quote.fee)
        if pin is not None:
            payer = self._customers.verify_pin(payer.msisdn, pin)
        else:
            self._customers.ensure_unlocked(payer)
        assert payer.account_id is not None
        fee_legs = []
        if quote.fee:
            fee_legs.append(Leg(f"{movement_id}.1", payer.account_id, self.accounts.id("fee_revenue"),
                                quote.fee, Code.FEE, Role.PAYER))
        if quote.recipient_name is None:
            legs = [Leg(f"{movement_id}.0", payer.account_id, self.accounts.id("voucher_holding"),
                        amount, Code.VOUCHER_HOLD, Role.PAYER), *fee_legs]
            return self._run(movement_id, legs, kind=Kind.VOUCHER, amount=amount, fee=quote.fee,
                             payer_customer_id=payer.id, counterparty=quote.to,
                             details={"operation": str(quote.operation)}, request=request)
        payee = self._customers.get(quote.to)
        self._check_transaction(payee, amount)
        assert payee.account_id is not None
        legs = [Leg(f"{movement_id}.0", payer.account_id, payee.account_id, amount, Code.TRANSFER,
                    Role.PAYER), *fee_legs, self._meter_leg(movement_id, payee, amount)]
        return self._run(movement_id, legs, kind=Kind.TRANSFER, amount=amount, fee=quote.fee,
                         payer_customer_id=payer.id, payee_customer_id=payee.id, counterparty=quote.to,
                         details={"operation": str(quote.operation)}, request=request)

    # Merchants -----------------------------------------------------------------------------------

    def merchant_payment(self, movement_id: str, merchant: Merchant, customer: Customer, amount: int, *,
                         reference: str | None = None, description: str = "") -> Movement:
        """The customer (who approved with the PIN) pays the merchant; the merchant pays the fee."""
        _check_amount(amount)
        request = fingerprint("merchant_payment", merchant=merchant.id, customer=customer.id, amount=amount,
                              reference=reference)
        existing = self.find(movement_id)
        if existing is not None:
            return self._resume(existing, request, payer_customer_id=customer.id, amount=amount)
        self._check_transaction(customer, amount)
        self._customers.ensure_unlocked(customer)
        fee = self.fees.fee(Operation.MERCHANT, amount)
        if fee >= amount:
            raise SikaError("this amount is too small to pay by Sika", code="amount_below_minimum")
        assert customer.account_id is not None
        legs = [Leg(f"{movement_id}.0", customer.account_id, merchant.account_id, amount,
                    Code.MERCHANT_PAYMENT, Role.PAYER)]
        if fee:
            legs.append(Leg(f"{movement_id}.1", merchant.account_id, self.accounts.id("fee_revenue"), fee,
                            Code.FEE, Role.MERCHANT))
        return self._run(movement_id, legs, kind=Kind.MERCHANT_PAYMENT, amount=amount, fee=fee,
                         payer_customer_id=customer.id, merchant_id=merchant.id, counterparty=merchant.name,
                         details={"reference": reference, "description": description}, request=request)

    def merchant_refund(self, movement_id: str, merchant: Merchant, payment_id: str,
                        amount: int | None = None) -> Movement:
        """Give a customer back all or part of a payment, once per payment (the fee is not returned)."""
        request = fingerprint("merchant_refund", merchant=merchant.id, payment=payment_id, amount=amount)
        existing = self.find(movement_id)
        if existing is not None:
            return self._resume(existing, request, merchant_id=merchant.id)
        payment = self.get(payment_id)
        if payment.merchant_id != merchant.id or payment.kind is not Kind.MERCHANT_PAYMENT:
            raise UnknownMovement(f"no payment {payment_id} to this merchant")
        if payment.status is not Status.COMPLETED:
            raise SikaError(f"payment {payment_id} is {payment.status}: nothing to refund",
                            code="not_refundable")
        amount = payment.amount if amount is None else amount
        _check_amount(amount)
        if amount > payment.amount:
            raise SikaError("a refund is at most the payment's amount", code="invalid_amount")
        assert payment.payer_customer_id is not None
        customer = self._customers.by_id(payment.payer_customer_id)
        assert customer.account_id is not None
        # One refund leg id per payment: the ledger itself refuses a second refund.
        legs = [Leg(f"{payment_id}.refund", merchant.account_id, customer.account_id, amount,
                    Code.MERCHANT_REFUND, Role.MERCHANT)]
        return self._run(movement_id, legs, kind=Kind.MERCHANT_REFUND, amount=amount,
                         payee_customer_id=customer.id, merchant_id=merchant.id, counterparty=merchant.name,
                         details={"payment": payment_id}, request=request)

    # Vouchers ------------------------------------------------------------------------------------

    def claim_voucher(self, movement_id: str, msisdn: str, code: str, *,
                      agent: Agent | None = None) -> Movement:
        """Pay a voucher out: into the recipient's (new) wallet, or in cash by an agent."""
        number = phones.normalize(msisdn)
        request = fingerprint("voucher_claim", msisdn=number, agent=None if agent is None else agent.id,
                              code=self._code_digest("claim", code.strip().replace(" ", "")))
        existing = self.find(movement_id)
        if existing is not None:
            return self._resume(existing, request, counterparty=number)
        voucher = self._voucher_for(number, code)
        amount = int(voucher["amount"])
        settle_id = f"{voucher['movement_id']}.settle"
        holding = self.accounts.id("voucher_holding")
        details = {"voucher": voucher["movement_id"]}
        customer = None if agent is not None else self._customers.get(number)
        if customer is not None:
            self._check_transaction(customer, amount)
        if agent is not None:
            commission = self.fees.cash_in_commission(amount)
            legs = [Leg(settle_id, holding, agent.float_account_id, amount, Code.VOUCHER_CLAIM,
                        Role.HOLDING)]
            if commission:
                legs.append(Leg(f"{movement_id}.1", self.accounts.id("commission_expense"),
                                agent.float_account_id, commission, Code.COMMISSION, Role.PLATFORM))
            return self._run(movement_id, legs, kind=Kind.VOUCHER_CLAIM, amount=amount,
                             commission=commission, agent_id=agent.id, counterparty=number,
                             details=details, reserve_voucher=voucher["movement_id"], request=request)
        assert customer is not None and customer.account_id is not None
        legs = [Leg(settle_id, holding, customer.account_id, amount, Code.VOUCHER_CLAIM, Role.HOLDING),
                self._meter_leg(movement_id, customer, amount)]
        return self._run(movement_id, legs, kind=Kind.VOUCHER_CLAIM, amount=amount,
                         payee_customer_id=customer.id, counterparty=number, details=details,
                         reserve_voucher=voucher["movement_id"], request=request)

    def vouchers_for(self, msisdn: str) -> list[dict[str, Any]]:
        """Vouchers waiting for a number (for the welcome of a new wallet and for agents)."""
        number = phones.normalize(msisdn)
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(vouchers.c.movement_id, vouchers.c.amount, vouchers.c.expires_at_ns)
                .where(vouchers.c.recipient_msisdn == number, vouchers.c.status == "held")
                .order_by(vouchers.c.expires_at_ns).limit(50)
            ).mappings().all()
        return [dict(row) for row in rows]

    def reissue_voucher_code(self, voucher_id: str) -> bool:
        """The code never reached the recipient (its SMS failed on the way): a new code replaces it and
        goes to the sender, to pass on. False when the voucher is no longer waiting."""
        code = "".join(secrets.choice("0123456789") for _ in range(VOUCHER_CODE_DIGITS))
        now = self._clock_ns()
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(vouchers)
                .where(vouchers.c.movement_id == voucher_id, vouchers.c.status == "held",
                       vouchers.c.settled_by.is_(None))
                .values(code_digest=self._code_digest(voucher_id, code), failed_tries=0)).rowcount
            if not changed:
                return False
            row = connection.execute(
                select(vouchers).where(vouchers.c.movement_id == voucher_id)).mappings().one()
            sender = self._customers.by_id(int(row["sender_customer_id"]))
            days = max(1, (int(row["expires_at_ns"]) - now) // (86_400 * _NS))
            enqueue(connection, dedupe_key=f"{voucher_id}:reissued:{now}", msisdn=sender.msisdn,
                    kind="voucher_code_to_pass_on", now_ns=now,
                    params={"amount": int(row["amount"]), SECRET: code, "expires_days": days,
                            "id": voucher_id, "to": str(row["recipient_msisdn"])})
        return True

    def refund_expired_vouchers(self, limit: int = SWEEP_MAX) -> int:
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
            legs = [Leg(f"{row['movement_id']}.settle", self.accounts.id("voucher_holding"),
                        sender.account_id, int(row["amount"]), Code.VOUCHER_REFUND, Role.HOLDING)]
            try:
                done = self._run(refund_id, legs, kind=Kind.VOUCHER_REFUND, amount=int(row["amount"]),
                                 payee_customer_id=sender.id, counterparty=str(row["recipient_msisdn"]),
                                 details={"voucher": row["movement_id"]},
                                 reserve_voucher=str(row["movement_id"]))
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
            if hmac.compare_digest(row["code_digest"], self._code_digest(row["movement_id"], code)):
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

    def _code_digest(self, voucher_id: str, code: str) -> str:
        return hmac.new(self._voucher_key, f"{voucher_id}:{code}".encode(), hashlib.sha256).hexdigest()

    # Provider payments ---------------------------------------------------------------------------

    def settle(self, movement_id: str, *, success: bool, receipt: dict[str, str] | None = None,
               error_code: str | None = None, reason: str | None = None) -> Movement:
        """A provider's final answer for a ``pending`` movement, applied once.

        Held money (two-phase legs) is posted on success and voided on failure; deferred money
        (a top-up) is moved on success. Posting and voiding race safely: the ledger resolves a
        pending transfer once, and whichever lost learns the truth from the ledger's answer. A
        success that arrives after the hold was given up is kept in ``details["late_outcome"]`` for
        reconciliation, since the provider delivered something we did not charge for.
        """
        movement = self.get(movement_id)
        if movement.status is not Status.PENDING:
            if movement.status is Status.FAILED and success and "late_outcome" not in movement.details:
                self._note(movement, late_outcome="succeeded", late_receipt=receipt or {})
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
        if any(r not in _OK for r in results):
            # The other resolution won (a timeout's void, an expiry, a callback's post): follow it.
            first = next(r for r in results if r not in _OK and r is not TransferResult.LINKED_EVENT_FAILED)
            if first is TransferResult.PENDING_TRANSFER_ALREADY_POSTED:
                outcome = True
            elif first in (TransferResult.PENDING_TRANSFER_ALREADY_VOIDED,
                           TransferResult.PENDING_TRANSFER_EXPIRED):
                outcome = False
                error_code, reason = "provider_timeout", "the provider answered too late; nothing was taken"
                if success:
                    self._note(movement, late_outcome="succeeded", late_receipt=receipt or {})
                    movement = self.get(movement_id)
            else:
                raise AssertionError(f"settling {movement.id}: unexpected ledger answer {first}")
        return self._close(movement, success=outcome, receipt=receipt, error_code=error_code, reason=reason)

    def capture(self, movement_id: str, amount: int, then: list[Leg]) -> Movement:
        """Post part (or all) of a movement's single hold and move it on with ``then``, in one chain.

        Rides hold an estimate at booking and capture the final fare at the end; the rest of the hold
        returns to the rider. A second capture (a retry, a race) changes nothing.
        """
        movement = self.get(movement_id)
        if movement.status is not Status.PENDING:
            return movement
        (held,) = [leg for leg in movement.legs if leg.pending]
        assert 0 < amount <= held.amount, (amount, held.amount)
        legs, details = list(then), dict(movement.details)
        if self.hooks:  # a ride's reward is decided on the fare, and moves with its capture
            legs, details = self._extend(Draft(
                id=movement.id, kind=movement.kind, amount=amount, fee=0, legs=tuple(then),
                details=movement.details, payer_customer_id=movement.payer_customer_id,
                payee_customer_id=None, merchant_id=None, provider=movement.provider,
                product=movement.product, now_ns=self._clock_ns()))
        while True:
            transfers = [Transfer(id=f"{held.id}.post", pending_id=held.id, amount=amount, code=held.code,
                                  flags=TransferFlags.POST_PENDING | (TransferFlags.LINKED if legs else 0),
                                  metadata={"movement": movement.id})]
            transfers += [leg.transfer(linked=i < len(legs) - 1, movement_id=movement.id)
                          for i, leg in enumerate(legs)]
            results = self._ledger.submit(transfers)
            failed = next(((i, r) for i, r in enumerate(results)
                           if r not in _OK and r is not TransferResult.LINKED_EVENT_FAILED), None)
            refused = None if failed is None else failed[1]
            if failed is None or failed[0] == 0 or not legs[failed[0] - 1].optional:
                break
            kept = without_group(self._ledger, movement.id, legs, details, (legs[failed[0] - 1], failed[1]),
                                 counting=self._counting())
            if kept is not None:
                legs, details = kept
        if refused in (TransferResult.PENDING_TRANSFER_EXPIRED,
                       TransferResult.PENDING_TRANSFER_ALREADY_VOIDED):
            return self._close(movement, success=False, receipt=None, error_code="hold_expired",
                               reason="the hold on the wallet ran out before the trip ended")
        # Posted now, or by a concurrent capture (already posted, or the same post with other fields).
        assert refused in (None, TransferResult.PENDING_TRANSFER_ALREADY_POSTED,
                           TransferResult.EXISTS_WITH_DIFFERENT_FIELDS), refused
        # The movement is what was charged (the fare), not what was held: the transfer, the history
        # and the receipts say the fare; the hold stays in the details (with the reward's, if any).
        with writing(self._engine).begin() as connection:
            connection.execute(update(movements).where(
                movements.c.id == movement.id, movements.c.status == Status.PENDING).values(
                amount=amount, updated_at_ns=self._clock_ns(), details=json.dumps(
                    {**details, "fare": amount, "hold": held.amount}, separators=(",", ":"))))
        return self._close(self.get(movement_id), success=True, receipt=None, error_code=None, reason=None)

    def _settle_deferred(self, movement: Movement, *, success: bool, receipt: dict[str, str] | None,
                         error_code: str | None, reason: str | None) -> Movement:
        if not success:
            return self._close(movement, success=False, receipt=receipt, error_code=error_code, reason=reason)
        with writing(self._engine).begin() as connection:
            details = {**movement.details, "receipt": receipt or {}}
            won = connection.execute(
                update(movements).where(movements.c.id == movement.id, movements.c.status == Status.PENDING)
                .values(status=str(Status.PROCESSING), updated_at_ns=self._clock_ns(),
                        details=json.dumps(details, separators=(",", ":")))).rowcount
        if not won:
            # Given up meanwhile (the deadline): nothing moves now; reconciliation sees the late success.
            current = self.get(movement.id)
            if current.status is Status.FAILED and "late_outcome" not in current.details:
                self._note(current, late_outcome="succeeded", late_receipt=receipt or {})
            return self.get(movement.id)
        moved = self._finish(self.get(movement.id))
        if moved.status is Status.FAILED:
            # Paid at the provider, refused by our limits: the provider payment must be refunded.
            self._note(moved, refund_required=True)
        return self.get(movement.id)

    def _close(self, movement: Movement, *, success: bool, receipt: dict[str, str] | None,
               error_code: str | None, reason: str | None) -> Movement:
        now = self._clock_ns()
        details = dict(movement.details)
        if receipt:
            details["receipt"] = receipt
        status = Status.COMPLETED if success else Status.FAILED
        if not success:
            error_code = error_code or "provider_failed"
            details["reason"] = reason or "the provider refused or failed the payment; nothing was taken"
        with writing(self._engine).begin() as connection:
            done = connection.execute(
                update(movements)
                .where(movements.c.id == movement.id, movements.c.status == Status.PENDING)
                .values(status=str(status), error_code=None if success else error_code, updated_at_ns=now,
                        details=json.dumps(details, separators=(",", ":")))
            ).rowcount
            if done and success:
                self._completed(connection, self._with(movement, status, details), now)
        return self.get(movement.id)

    def _note(self, movement: Movement, **notes: Any) -> None:
        details = {**movement.details, **notes}
        with writing(self._engine).begin() as connection:
            connection.execute(update(movements).where(movements.c.id == movement.id).values(
                details=json.dumps(details, separators=(",", ":")), updated_at_ns=self._clock_ns()))

    def stuck(self, *, limit: int = PAGE_LIMIT_MAX) -> list[Movement]:
        """What reconciliation looks at: pending past its deadline, processing past the grace,
        provider successes after a void, provider payments our limits refused."""
        now = self._clock_ns()
        with self._engine.connect() as connection:
            rows = list(connection.execute(
                select(movements).where(
                    ((movements.c.status == Status.PENDING) & (movements.c.deadline_ns < now))
                    | ((movements.c.status == Status.PROCESSING)
                       & (movements.c.updated_at_ns < now - self._grace_ns))
                ).order_by(movements.c.created_at_ns).limit(limit)).mappings())
            rows += list(connection.execute(
                select(movements).where(movements.c.status == Status.FAILED,
                                        movements.c.provider.is_not(None))
                .order_by(movements.c.created_at_ns.desc()).limit(limit * 5)).mappings())
        found = [movement_from_row(row) for row in rows]
        return [m for m in found if m.status is not Status.FAILED
                or "late_outcome" in m.details or m.details.get("refund_required")
                or (m.kind is Kind.RIDE and m.provider == "card")][:limit]

    # Recovery ------------------------------------------------------------------------------------

    def recover(self, limit: int = SWEEP_MAX) -> int:
        """Finish movements left ``processing`` by a crash, once they are older than the grace."""
        cutoff = self._clock_ns() - self._grace_ns
        with self._engine.connect() as connection:
            ids = connection.execute(
                select(movements.c.id).where(movements.c.status == Status.PROCESSING,
                                             movements.c.updated_at_ns < cutoff)
                .order_by(movements.c.updated_at_ns).limit(limit)
            ).scalars().all()
        for found in ids:
            self._finish(self.get(found))
        return len(ids)

    # The common path -----------------------------------------------------------------------------

    def _run(self, movement_id: str, legs: list[Leg], *, kind: Kind, amount: int, fee: int = 0,
             commission: int = 0, details: dict[str, Any] | None = None, deferred: bool = False,
             reserve_voucher: str | None = None, request: str | None = None, **parties: Any) -> Movement:
        """Record the movement and submit its legs; ``deferred`` records it ``pending`` and submits
        nothing until :meth:`settle` (money that arrives only once a provider confirms).

        ``reserve_voucher`` marks the voucher as this movement's in the transaction that records the
        movement, so that a mark never outlives a movement that was never recorded. ``request`` is the
        fingerprint of what was asked (by default: the kind, amount and parties).
        """
        check_id(movement_id)
        if request is None:
            request = _default_request(kind, amount, parties)
        now = self._clock_ns()
        if self.hooks:
            legs, details = self._extend(Draft(
                id=movement_id, kind=kind, amount=amount, fee=fee, legs=tuple(legs), details=details or {},
                payer_customer_id=parties.get("payer_customer_id"),
                payee_customer_id=parties.get("payee_customer_id"), merchant_id=parties.get("merchant_id"),
                provider=parties.get("provider"), product=parties.get("product"), now_ns=now))
        legs = [*legs, Leg(f"{movement_id}.g", self.accounts.id("meter_source"),
                           self.accounts.id("movement_guard"), _GUARD_DONE, Code.GUARD, Role.PLATFORM)]
        first = Status.PENDING if deferred else Status.PROCESSING
        values = {"id": movement_id, "kind": str(kind), "status": str(first), "amount": amount,
                  "fee": fee, "commission": commission, "currency": "XOF", "legs": legs_json(legs),
                  "details": json.dumps(details or {}, separators=(",", ":")), "created_at_ns": now,
                  "updated_at_ns": now, "request_digest": request, **parties}
        try:
            with writing(self._engine).begin() as connection:
                connection.execute(insert(movements).values(values))
                if reserve_voucher is not None:
                    self._reserve_voucher(connection, reserve_voucher, movement_id)
        except IntegrityError:
            same = {k: v for k, v in parties.items() if k != "deadline_ns"}
            return self._resume(self.get(movement_id), request, kind=kind, amount=amount, **same)
        reached("recorded")
        return self.get(movement_id) if deferred else self._finish(self.get(movement_id))

    def _resume(self, existing: Movement, request: str, **legacy: Any) -> Movement:
        """A second request for a movement id: the same movement again, or a conflict.

        The stored fingerprint decides; ``legacy`` fields are compared only on rows older than it.
        """
        self.check_same_request(existing, request, **legacy)
        if existing.status is Status.PROCESSING:
            return self._finish(existing)
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

    def _finish(self, movement: Movement) -> Movement:
        """Submit the legs and record the outcome the ledger decided.

        Several tries of one movement may run at once (a retry, the recovery job, a double
        approval), and the ledger keeps no trace of a refused chain: a later try of the same legs
        could succeed. So a refusal is made final in the ledger before it is recorded: a *tombstone*
        takes the id of the chain's guard leg with other fields. From then on the chain cannot
        happen, and every try, reading the guard, agrees on the outcome.
        """
        results = self._ledger.submit(chain(movement.legs, movement.id))
        reached("ledger_committed")
        failed = next(((leg, result) for leg, result in zip(movement.legs, results, strict=True)
                       if result not in _OK and result is not TransferResult.LINKED_EVENT_FAILED), None)
        if failed is not None and failed[0].optional:
            # An optional group (a reward) was refused: the movement goes on without it, or with it
            # when another try carried it through (each drop removes a group: this recurses briefly).
            dropped = drop_group(self._ledger, self._engine, movement, failed, now_ns=self._clock_ns(),
                                 counting=self._counting())
            return self._finish(movement if dropped is None else dropped)
        status = Status.PENDING if movement.holds else Status.COMPLETED
        error, details = None, dict(movement.details)
        if failed is not None:
            error, reason = refusal(failed[1], failed[0])
            if failed[1] is TransferResult.EXISTS_WITH_DIFFERENT_FIELDS:
                # A leg another movement owns: the voucher or the refund was paid out by it.
                error = "already_refunded" if movement.kind is Kind.MERCHANT_REFUND else "voucher_settled"
                reason = "this was paid out already"
            decided = self._make_final(movement, error, reason)
            if decided is not None:
                status = Status.FAILED
                error, details["reason"] = decided
            else:
                error = None  # another try moved the money: the chain happened
        now = self._clock_ns()
        with writing(self._engine).begin() as connection:
            done = connection.execute(
                update(movements)
                .where(movements.c.id == movement.id, movements.c.status == Status.PROCESSING)
                .values(status=str(status), error_code=error, updated_at_ns=now,
                        details=json.dumps(details, separators=(",", ":")))
            ).rowcount
            if done and status is Status.COMPLETED:
                self._completed(connection, self._with(movement, status, details), now)
            elif done and movement.kind in (Kind.VOUCHER_CLAIM, Kind.VOUCHER_REFUND):
                connection.execute(  # let the voucher be claimed or refunded again
                    update(vouchers)
                    .where(vouchers.c.movement_id == movement.details["voucher"],
                           vouchers.c.settled_by == movement.id, vouchers.c.status == "held")
                    .values(settled_by=None))
        reached("finished")
        return self.get(movement.id)

    def _make_final(self, movement: Movement, error: str, reason: str) -> tuple[str, str] | None:
        """Refuse the movement for good (a tombstone on its guard leg), or learn that it happened:
        returns the (error, reason) that stands, or None when the chain went through."""
        guard = movement.legs[-1]
        assert guard.code == Code.GUARD, "every movement ends with its guard leg"
        tombstone = Transfer(id=guard.id, debit_account_id=guard.debit, credit_account_id=guard.credit,
                             amount=_GUARD_REFUSED, code=Code.GUARD,
                             metadata={"movement": movement.id, "refused": error, "reason": reason[:200]})
        (result,) = self._ledger.submit([tombstone])
        if result in _OK:
            return error, reason
        assert result is TransferResult.EXISTS_WITH_DIFFERENT_FIELDS, result
        stored = self._ledger.get_transfer(guard.id)
        assert stored is not None
        if stored.amount == _GUARD_DONE:
            return None
        return str(stored.metadata["refused"]), str(stored.metadata["reason"])

    def _completed(self, connection: Connection, movement: Movement, now: int) -> None:
        """Follow-ups written with the outcome: vouchers, voucher states, receipts."""
        if movement.kind is Kind.VOUCHER:
            assert movement.counterparty is not None and movement.payer_customer_id is not None
            code = "".join(secrets.choice("0123456789") for _ in range(VOUCHER_CODE_DIGITS))
            connection.execute(insert(vouchers).values(
                movement_id=movement.id, recipient_msisdn=movement.counterparty,
                sender_customer_id=movement.payer_customer_id, amount=movement.amount,
                code_digest=self._code_digest(movement.id, code), status="held",
                expires_at_ns=now + self._voucher_ttl_ns))
            payer = self._customers.by_id(movement.payer_customer_id)
            enqueue(connection, dedupe_key=f"{movement.id}:voucher", msisdn=movement.counterparty,
                    kind="voucher_received", now_ns=now,
                    params={"amount": movement.amount, "sender": payer.name, SECRET: code,
                            "expires_days": self._voucher_ttl_ns // (86_400 * _NS), "id": movement.id,
                            # nobody can reach the recipient: the sender gets the code to pass on
                            FALLBACK: {"msisdn": payer.msisdn, "kind": "voucher_code_to_pass_on"}})
        elif movement.kind in (Kind.VOUCHER_CLAIM, Kind.VOUCHER_REFUND):
            connection.execute(
                update(vouchers)
                .where(vouchers.c.movement_id == movement.details["voucher"],
                       vouchers.c.settled_by == movement.id)
                .values(status="claimed" if movement.kind is Kind.VOUCHER_CLAIM else "refunded"))
        if movement.merchant_id is not None:
            if movement.kind is Kind.MERCHANT_PAYMENT:
                event, data = "payment.completed", {"payment_id": movement.id, **movement.details}
            else:
                paid = self.get(str(movement.details["payment"]))
                event, data = "refund.completed", {"refund_id": movement.id, "payment_id": paid.id,
                                                   "reference": paid.details.get("reference")}
            enqueue_callback(connection, merchant_id=movement.merchant_id, event=event,
                             event_id=f"{movement.id}:{event}", now_ns=now,
                             data={**data, "amount": movement.amount, "fee": movement.fee,
                                   "currency": movement.currency})
        for msisdn, kind, params in self._receipts(movement):
            enqueue(connection, dedupe_key=f"{movement.id}:{kind}", msisdn=msisdn, kind=kind,
                    params=params, now_ns=now)
        for hook in self.hooks:
            hook.completed(connection, movement, now)

    def _receipts(self, movement: Movement) -> list[tuple[str, str, dict[str, Any]]]:
        amount = int(movement.details.get("fare", movement.amount))
        base: dict[str, Any] = {"id": movement.id, "amount": amount, "fee": movement.fee}
        for name in ("description", "receipt"):
            if movement.details.get(name):
                base[name] = movement.details[name]
        payer = (self._customers.by_id(movement.payer_customer_id)
                 if movement.payer_customer_id is not None else None)
        payee = (self._customers.by_id(movement.payee_customer_id)
                 if movement.payee_customer_id is not None else None)
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

    @staticmethod
    def _reserve_voucher(connection: Connection, voucher_id: str, movement_id: str) -> None:
        """One movement at a time pays a voucher out: it marks the voucher as its own first.

        The settle leg's ledger id is the voucher's, the same for a claim and a refund, so even
        without this mark the money could leave the holding account once only.
        """
        connection.execute(
            update(vouchers)
            .where(vouchers.c.movement_id == voucher_id, vouchers.c.status == "held",
                   vouchers.c.settled_by.is_(None))
            .values(settled_by=movement_id))
        owner = connection.execute(select(vouchers.c.settled_by).where(
            vouchers.c.movement_id == voucher_id)).scalar_one_or_none()
        if owner != movement_id:
            raise VoucherRefused("this voucher is being paid out, or was already", code="voucher_settled")

    def _extend(self, draft: Draft) -> tuple[list[Leg], dict[str, Any]]:
        return extend(self.hooks, draft)

    def _counting(self) -> tuple[int, int]:
        """The accounts a tombstone moves its count between (as a movement's guard leg does)."""
        return self.accounts.id("meter_source"), self.accounts.id("movement_guard")

    # For other payment services (purchases): the same path and checks --------------------------------

    def run(self, movement_id: str, legs: list[Leg], **fields: Any) -> Movement:
        return self._run(movement_id, legs, **fields)

    def check_transaction(self, customer: Customer, amount: int) -> None:
        self._check_transaction(customer, amount)

    def meter_leg(self, movement_id: str, customer: Customer, amount: int) -> Leg:
        return self._meter_leg(movement_id, customer, amount)

    def note_reference(self, movement_id: str, reference: str) -> None:
        with writing(self._engine).begin() as connection:
            connection.execute(update(movements).where(
                movements.c.id == movement_id, movements.c.provider_reference.is_(None)
            ).values(provider_reference=reference[:80]))

    # Limits --------------------------------------------------------------------------------------

    def _check_transaction(self, customer: Customer, amount: int) -> None:
        limit = self._tiers[customer.tier].transaction_max
        if amount > limit:
            raise PaymentRefused.from_code(
                "limit_exceeded", f"a tier-{customer.tier} wallet moves at most {limit} XOF at a time")

    def _meter_leg(self, movement_id: str, customer: Customer, amount: int) -> Leg:
        limit = self._tiers[customer.tier].inflow_month_max
        meter = self.meters.account(customer.id, month_of(self._clock_ns()), limit)
        return Leg(f"{movement_id}.m", self.accounts.id("meter_source"), meter, amount, Code.INFLOW_METER,
                   Role.METER)

    @staticmethod
    def _with(movement: Movement, status: Status, details: dict[str, Any]) -> Movement:
        return replace(movement, status=status, details=details)


def _cash_out_request(agent: Agent, customer: Customer, amount: int) -> str:
    return fingerprint("cash_out", agent=agent.id, customer=customer.id, amount=amount)


def _default_request(kind: Kind, amount: int, parties: dict[str, Any]) -> str:
    """What a movement made by another service (rides, purchases) was asked: kind, amount, parties."""
    asked = {name: parties.get(name) for name in (
        "payer_customer_id", "payee_customer_id", "agent_id", "merchant_id", "counterparty", "provider",
        "product")}
    return fingerprint(str(kind), amount=amount, **asked)


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < AMOUNT_MIN:
        raise SikaError("an amount is a positive whole number of francs", code="invalid_amount")
    if amount > 10**12:
        raise SikaError("that amount is too large", code="invalid_amount")
