"""Payments' products: cash-in and cash-out at agents, float, transfers to wallets and to numbers
without one (a voucher), merchant payments and refunds; and :class:`Payments`, the facade the API, the
chat and the console call for them, for vouchers and for recovery.

Each product checks what needs no lock (numbers, amounts, tier limits, PIN), builds its legs and runs
them through the movement runner (:mod:`sika.payments.runner`), which it is given at construction, as
every service that posts movements is. Merchant payments' follow-up (the merchant's callback) is
registered on the runner as their kinds' hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from sika import phones
from sika.errors import SikaError
from sika.payments.agents import Agent, Merchant
from sika.payments.callbacks import enqueue_callback
from sika.payments.devices import for_parties
from sika.payments.fees import DEFAULT_FEES, FeeSchedule, Operation
from sika.payments.fingerprints import fingerprint
from sika.payments.hooks import KindHooks, seen_by
from sika.payments.limits import check_amount
from sika.payments.movements import Code, Kind, Leg, Movement, Role, Status, UnknownMovement
from sika.payments.recovery import PAGE_LIMIT_MAX, Recovery
from sika.payments.recovery import SWEEP_MAX as RECOVERY_MAX
from sika.payments.settlement import Movements
from sika.payments.vouchers import SWEEP_MAX, Vouchers
from sika.wallet import Customer, Customers, Pin

__all__ = ["Payments", "TransferQuote"]


@dataclass(frozen=True, slots=True)
class TransferQuote:
    """What the sender sees before confirming: the fee, and who will receive."""

    operation: Operation
    to: str
    amount: int
    fee: int
    recipient_name: str | None  # None: no wallet yet, the money waits as a voucher
    # The recipient's wallet as read for the quote (the transfer that follows at once pays it).
    recipient: Customer | None = field(default=None, compare=False, repr=False)

    @property
    def total(self) -> int:
        return self.amount + self.fee


class Payments:
    def __init__(self, movements: Movements, customers: Customers, vouchers: Vouchers, recovery: Recovery, *,
                 fees: FeeSchedule = DEFAULT_FEES) -> None:
        self._movements = movements
        self._limits = movements.limits
        self._accounts = movements.accounts
        self._customers = customers
        self._vouchers = vouchers
        self._recovery = recovery
        self.fees = fees
        # What the console and the CLI read about a wallet: the system accounts, the inflow meters.
        self.accounts = movements.accounts
        self.meters = movements.limits.meters
        hooks = _MerchantKinds(movements.get)
        movements.kinds.register(Kind.MERCHANT_PAYMENT, hooks)
        movements.kinds.register(Kind.MERCHANT_REFUND, hooks)

    # Reading, and a provider's answer --------------------------------------------------------------

    def get(self, movement_id: str) -> Movement:
        return self._movements.get(movement_id)

    def find(self, movement_id: str) -> Movement | None:
        return self._movements.find(movement_id)

    def settle(self, movement_id: str, *, success: bool, receipt: dict[str, str] | None = None,
               error_code: str | None = None, reason: str | None = None) -> Movement:
        """A provider's final answer for a ``pending`` movement (see :mod:`sika.payments.settlement`)."""
        return self._movements.settle(movement_id, success=success, receipt=receipt, error_code=error_code,
                                      reason=reason)

    # Quotes --------------------------------------------------------------------------------------

    def quote_transfer(self, payer: Customer, to: str, amount: int, *,
                       read: Mapping[str, tuple[Customer, str | None]] | None = None) -> TransferQuote:
        """``read``: the wallets a payment read a moment ago (:meth:`Customers.with_hashes`), the
        recipient's among them if it has one."""
        number = phones.normalize(to)
        check_amount(amount)
        if number == payer.msisdn:
            raise SikaError("you cannot send money to yourself", code="same_wallet")
        if read is None:
            recipient = self._customers.find(number)
        else:
            recipient = read[number][0] if number in read else None
        if recipient is None:
            operation = Operation.VOUCHER
        elif phones.region(number) != phones.region(payer.msisdn):
            operation = Operation.CROSS_BORDER
        else:
            operation = Operation.TRANSFER
        return TransferQuote(operation=operation, to=number, amount=amount,
                             fee=self.fees.fee(operation, amount),
                             recipient_name=None if recipient is None else recipient.name,
                             recipient=recipient)

    # Money in and out at agents ------------------------------------------------------------------

    def cash_in(self, movement_id: str, agent: Agent, msisdn: str, amount: int) -> Movement:
        """The customer hands cash to the agent; the agent's float pays the wallet, plus commission."""
        check_amount(amount)
        customer = self._customers.get(msisdn)
        request = fingerprint("cash_in", agent=agent.id, customer=customer.id, amount=amount)
        existing = self.find(movement_id)
        if existing is not None:
            return self._movements.resume(existing, request)
        self._limits.check_transaction(customer, amount)
        commission = self.fees.cash_in_commission(amount)
        assert customer.account_id is not None
        legs = [Leg(f"{movement_id}.0", agent.float_account_id, customer.account_id, amount,
                    Code.CASH_IN, Role.AGENT)]
        if commission:
            legs.append(Leg(f"{movement_id}.1", self._accounts.id("commission_expense"),
                            agent.float_account_id, commission, Code.COMMISSION, Role.PLATFORM))
        legs.append(self._limits.meter_leg(movement_id, customer, amount))
        return self._movements.run(movement_id, legs, kind=Kind.CASH_IN, amount=amount, commission=commission,
                         payee_customer_id=customer.id, agent_id=agent.id,
                         counterparty=agent.name, request=request)

    def cash_out(self, movement_id: str, agent: Agent, msisdn: str, amount: int, pin: Pin) -> Movement:
        """The customer approves with the PIN; the wallet pays the agent's float, plus the fee."""
        check_amount(amount)
        customer = self._customers.get(msisdn)
        existing = self.find(movement_id)
        if existing is not None:  # a retry: the PIN was checked the first time
            return self._movements.resume(existing, _cash_out_request(agent, customer, amount),
                                          kind=Kind.CASH_OUT, amount=amount, agent_id=agent.id,
                                          payer_customer_id=customer.id)
        self._limits.check_transaction(customer, amount)
        customer = self._customers.verify_pin(customer.msisdn, pin)
        return self._cash_out(movement_id, agent, customer, amount)

    def cash_out_approved(self, movement_id: str, agent: Agent, customer: Customer, amount: int) -> Movement:
        """A cash-out the customer already approved with the PIN in their own channel."""
        check_amount(amount)
        self._limits.check_transaction(customer, amount)
        return self._cash_out(movement_id, agent, customer, amount)

    def _cash_out(self, movement_id: str, agent: Agent, customer: Customer, amount: int) -> Movement:
        self._customers.ensure_cash_out_allowed(customer)
        fee = self.fees.fee(Operation.CASH_OUT, amount)
        commission = self.fees.cash_out_commission(fee)
        assert customer.account_id is not None
        legs = [Leg(f"{movement_id}.0", customer.account_id, agent.float_account_id, amount,
                    Code.CASH_OUT, Role.PAYER)]
        if fee:
            legs.append(Leg(f"{movement_id}.1", customer.account_id, self._accounts.id("fee_revenue"), fee,
                            Code.FEE, Role.PAYER))
        if commission:
            legs.append(Leg(f"{movement_id}.2", self._accounts.id("commission_expense"),
                            agent.float_account_id, commission, Code.COMMISSION, Role.PLATFORM))
        return self._movements.run(movement_id, legs, kind=Kind.CASH_OUT, amount=amount, fee=fee,
                         commission=commission, payer_customer_id=customer.id, agent_id=agent.id,
                         counterparty=agent.name, request=_cash_out_request(agent, customer, amount))

    def credit_float(self, movement_id: str, agent: Agent, amount: int) -> Movement:
        """The agent bought e-money (paid the settlement bank): its float grows by ``amount``."""
        check_amount(amount)
        legs = [Leg(f"{movement_id}.0", self._accounts.id("settlement_bank"), agent.float_account_id,
                    amount, Code.FLOAT, Role.PLATFORM)]
        return self._movements.run(movement_id, legs, kind=Kind.FLOAT, amount=amount, agent_id=agent.id,
                         counterparty=agent.name, request=fingerprint("float", agent=agent.id, amount=amount))

    # Sending money -------------------------------------------------------------------------------

    def transfer(self, movement_id: str, payer: Customer, to: str, amount: int, *,
                 pin: Pin | None = None) -> Movement:
        """To a wallet (instant), or to a number without one (a voucher collected with a code).

        ``pin`` is checked when given; a caller without it must have authenticated the customer
        with the PIN already (a session token, or the chat's PIN step).
        """
        request = fingerprint("transfer", payer=payer.id, to=phones.normalize(to), amount=amount)
        # A retried request is found when its movement is recorded (below) or when a check refuses it:
        # a refusal is the first answer only if nothing was recorded under its id, whatever changed
        # since (a retry of a transfer that went through answers as it did). Not read first: almost
        # every request is new, and that read was a round trip each.
        try:
            # With a PIN: the payer's PIN state and the recipient's wallet in one read.
            read = (self._customers.with_hashes({payer.msisdn, phones.normalize(to)})
                    if pin is not None else None)
            quote = self.quote_transfer(payer, to, amount, read=read)
            self._customers.ensure_cash_out_allowed(payer)  # a PIN reset's freeze holds money in
            self._limits.check_transaction(payer, amount + quote.fee)
            if pin is not None:
                payer = self._customers.verify_pin(payer.msisdn, pin, read=read)
            else:
                self._customers.ensure_unlocked(payer)
            if quote.recipient is not None:
                self._limits.check_transaction(quote.recipient, amount)
        except SikaError:
            existing = self.find(movement_id)
            if existing is None:
                raise
            return self._movements.resume(existing, request, payer_customer_id=payer.id, amount=amount,
                                          counterparty=phones.normalize(to))
        assert payer.account_id is not None
        fee_legs = []
        if quote.fee:
            fee_legs.append(Leg(f"{movement_id}.1", payer.account_id, self._accounts.id("fee_revenue"),
                                quote.fee, Code.FEE, Role.PAYER))
        if quote.recipient_name is None:
            legs = [Leg(f"{movement_id}.0", payer.account_id, self._accounts.id("voucher_holding"),
                        amount, Code.VOUCHER_HOLD, Role.PAYER), *fee_legs]
            return self._movements.run(movement_id, legs, kind=Kind.VOUCHER, amount=amount, fee=quote.fee,
                             payer_customer_id=payer.id, counterparty=quote.to,
                             details={"operation": str(quote.operation)}, request=request, known=(payer,))
        payee = quote.recipient  # read a moment ago, by the quote (its limit checked above)
        assert payee is not None and payee.account_id is not None
        legs = [Leg(f"{movement_id}.0", payer.account_id, payee.account_id, amount, Code.TRANSFER,
                    Role.PAYER), *fee_legs, self._limits.meter_leg(movement_id, payee, amount)]
        return self._movements.run(movement_id, legs, kind=Kind.TRANSFER, amount=amount, fee=quote.fee,
                         payer_customer_id=payer.id, payee_customer_id=payee.id, counterparty=quote.to,
                         details={"operation": str(quote.operation)}, request=request,
                         known=(payer, payee))

    # Merchants -----------------------------------------------------------------------------------

    def merchant_payment(self, movement_id: str, merchant: Merchant, customer: Customer, amount: int, *,
                         reference: str | None = None, description: str = "") -> Movement:
        """The customer (who approved with the PIN) pays the merchant; the merchant pays the fee."""
        check_amount(amount)
        request = fingerprint("merchant_payment", merchant=merchant.id, customer=customer.id, amount=amount,
                              reference=reference)
        existing = self.find(movement_id)
        if existing is not None:
            return self._movements.resume(existing, request, payer_customer_id=customer.id, amount=amount)
        self._limits.check_transaction(customer, amount)
        self._customers.ensure_unlocked(customer)
        fee = self.fees.fee(Operation.MERCHANT, amount)
        if fee >= amount:
            raise SikaError("this amount is too small to pay by Sika", code="amount_below_minimum")
        assert customer.account_id is not None
        legs = [Leg(f"{movement_id}.0", customer.account_id, merchant.account_id, amount,
                    Code.MERCHANT_PAYMENT, Role.PAYER)]
        if fee:
            legs.append(Leg(f"{movement_id}.1", merchant.account_id, self._accounts.id("fee_revenue"), fee,
                            Code.FEE, Role.MERCHANT))
        return self._movements.run(movement_id, legs, kind=Kind.MERCHANT_PAYMENT, amount=amount, fee=fee,
                         payer_customer_id=customer.id, merchant_id=merchant.id, counterparty=merchant.name,
                         details={"reference": reference, "description": description}, request=request)

    def merchant_refund(self, movement_id: str, merchant: Merchant, payment_id: str,
                        amount: int | None = None) -> Movement:
        """Give a customer back all or part of a payment, once per payment (the fee is not returned)."""
        request = fingerprint("merchant_refund", merchant=merchant.id, payment=payment_id, amount=amount)
        existing = self.find(movement_id)
        if existing is not None:
            return self._movements.resume(existing, request, merchant_id=merchant.id)
        payment = self._movements.get(payment_id)
        if payment.merchant_id != merchant.id or payment.kind is not Kind.MERCHANT_PAYMENT:
            raise UnknownMovement(f"no payment {payment_id} to this merchant")
        if payment.status is not Status.COMPLETED:
            raise SikaError(f"payment {payment_id} is {payment.status}: nothing to refund",
                            code="not_refundable")
        amount = payment.amount if amount is None else amount
        check_amount(amount)
        if amount > payment.amount:
            raise SikaError("a refund is at most the payment's amount", code="invalid_amount")
        assert payment.payer_customer_id is not None
        customer = self._customers.by_id(payment.payer_customer_id)
        assert customer.account_id is not None
        # One refund leg id per payment: the ledger itself refuses a second refund.
        legs = [Leg(f"{payment_id}.refund", merchant.account_id, customer.account_id, amount,
                    Code.MERCHANT_REFUND, Role.MERCHANT)]
        return self._movements.run(movement_id, legs, kind=Kind.MERCHANT_REFUND, amount=amount,
                         payee_customer_id=customer.id, merchant_id=merchant.id, counterparty=merchant.name,
                         details={"payment": payment_id}, request=request)

    # Vouchers (sika.payments.vouchers) and recovery (sika.payments.recovery) ---------------------

    def claim_voucher(self, movement_id: str, msisdn: str, code: str, *,
                      agent: Agent | None = None) -> Movement:
        return self._vouchers.claim(movement_id, msisdn, code, agent=agent)

    def vouchers_for(self, msisdn: str) -> list[dict[str, Any]]:
        return self._vouchers.waiting_for(msisdn)

    def reissue_voucher_code(self, voucher_id: str) -> bool:
        return self._vouchers.reissue_code(voucher_id)

    def refund_expired_vouchers(self, limit: int = SWEEP_MAX) -> int:
        return self._vouchers.refund_expired(limit)

    def stuck(self, *, limit: int = PAGE_LIMIT_MAX) -> list[Movement]:
        return self._recovery.stuck(limit=limit)

    def recover(self, limit: int = RECOVERY_MAX) -> int:
        return self._recovery.recover(limit)


class _MerchantKinds(KindHooks):
    """A merchant payment or refund completed: the merchant's callback is queued with it."""

    taken = ("already_refunded", "this was paid out already")  # one refund leg id per payment

    def __init__(self, get: Callable[[str], Movement]) -> None:
        self._get = get

    def completed(self, connection: Connection, movement: Movement, now_ns: int) -> None:
        assert movement.merchant_id is not None
        if movement.kind is Kind.MERCHANT_PAYMENT:
            # The customer's rewards and the campaigns' verdicts are theirs, not the merchant's.
            event, data = "payment.completed", {"payment_id": movement.id,
                                                **for_parties(seen_by(movement, None).details)}
        else:
            paid = self._get(str(movement.details["payment"]))
            event, data = "refund.completed", {"refund_id": movement.id, "payment_id": paid.id,
                                               "reference": paid.details.get("reference")}
        enqueue_callback(connection, merchant_id=movement.merchant_id, event=event,
                         event_id=f"{movement.id}:{event}", now_ns=now_ns,
                         data={**data, "amount": movement.amount, "fee": movement.fee,
                               "currency": movement.currency})


def _cash_out_request(agent: Agent, customer: Customer, amount: int) -> str:
    return fingerprint("cash_out", agent=agent.id, customer=customer.id, amount=amount)
