"""Payouts: a merchant's (or later a driver's) balance out to their Flooz or T-Money wallet.

A payout is two-phase like a purchase: the amount is **held** on the payer's account (a pending
transfer to the payout provider's settlement account, with no ledger timeout), the payout is sent,
and the hold is **posted** when the provider says the money left, **voided** when it refused.

A payout whose answer is lost is different from a purchase: the provider may have paid, and
PayGate offers no status for payouts (:mod:`sika.providers.paygate_payouts`). So the hold is never
released by a clock: the movement stays ``pending`` with ``details["outcome_unknown"]``, ``sika
reconcile`` lists it once past its deadline, and an operator settles it with :meth:`Payouts.resolve`
(``sika payout resolve ID --sent|--failed``) after checking the provider's dashboard. Money can be
late; it is never paid out twice nor given back when it left.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sika.errors import SikaError
from sika.payments.agents import Merchant
from sika.payments.movements import Code, Kind, Leg, Movement, Role, Status
from sika.payments.settlement import Movements
from sika.providers import ProviderNotConfigured, ProviderStatus, ProviderUnavailable
from sika.providers.paygate_payouts import Payout, Payouts

__all__ = ["PayoutService"]

_NS = 1_000_000_000
DEADLINE_S = 3_600
REASON_DEFAULT = "Sika payout"


class PayoutService:
    def __init__(self, movements: Movements, provider: Payouts | None, *,
                 clock_ns: Callable[[], int] = time.time_ns, deadline_s: int = DEADLINE_S) -> None:
        self._movements = movements
        self.provider = provider
        self._clock_ns = clock_ns
        self._deadline_ns = deadline_s * _NS

    def merchant_payout(self, movement_id: str, merchant: Merchant, *, msisdn: str, network: str,
                        amount: int, reason: str = REASON_DEFAULT) -> Movement:
        """Pay ``amount`` of the merchant's balance out to ``msisdn``'s ``network`` wallet."""
        return self.to_wallet(movement_id, account_id=merchant.account_id, role=Role.MERCHANT,
                              msisdn=msisdn, network=network, amount=amount, reason=reason,
                              details={"merchant": merchant.id, "merchant_name": merchant.name})

    def to_wallet(self, movement_id: str, *, account_id: int, role: str, msisdn: str, network: str,
                  amount: int, reason: str, details: dict[str, object] | None = None) -> Movement:
        """The interface rides and merchants call: hold, send, then post or void (or wait)."""
        if self.provider is None:
            raise ProviderNotConfigured("payouts are not available: PayGate is not configured "
                                        "(set SIKA_PAYGATE_AUTH_TOKEN)")
        existing = self._movements.find(movement_id)
        if existing is not None:
            if existing.kind is not Kind.PAYOUT or existing.amount != amount:
                raise SikaError("this reference was used for another payment",
                                code="idempotency_conflict")
            return existing
        payout = Payout(movement_id, msisdn, network, amount, reason)
        self.provider.check(payout)
        settlement = self._movements.accounts.provider(self.provider.name)
        leg = Leg(f"{movement_id}.0", account_id, settlement, amount, Code.PAYOUT, role, pending=True,
                  timeout_s=0)  # never released by a clock
        movement = self._movements.run(
            movement_id, [leg], kind=Kind.PAYOUT, amount=amount, counterparty=msisdn,
            provider=self.provider.name, product=f"payout:{network}",
            deadline_ns=self._clock_ns() + self._deadline_ns,
            details={"description": reason, **(details or {})})
        if movement.status is not Status.PENDING:
            return movement  # refused by the ledger (the balance is too low): nothing was sent
        try:
            outcome = self.provider.send(payout)
        except ProviderUnavailable as exc:
            self._movements.note(movement, outcome_unknown=True, unknown_because=exc.message)
            return self._movements.get(movement_id)
        if outcome.provider_reference:
            self._movements.note_reference(movement_id, outcome.provider_reference)
        if outcome.status is ProviderStatus.SUCCEEDED:
            return self._movements.settle(movement_id, success=True, receipt=dict(outcome.receipt))
        return self._movements.settle(movement_id, success=False, error_code="provider_failed",
                                     reason=outcome.message or "the provider refused the payout")

    def resolve(self, movement_id: str, *, sent: bool) -> Movement:
        """An operator's word on a payout whose outcome was unknown, after checking the provider."""
        movement = self._movements.get(movement_id)
        if movement.kind is not Kind.PAYOUT:
            raise SikaError(f"{movement_id} is not a payout", code="not_a_payout")
        if movement.status is not Status.PENDING:
            raise SikaError(f"payout {movement_id} is {movement.status} already", code="payout_settled")
        if sent:
            return self._movements.settle(movement_id, success=True, receipt={"resolved_by": "operator"})
        return self._movements.settle(movement_id, success=False, error_code="provider_failed",
                                     reason="the provider did not pay it out (checked by an operator)")
