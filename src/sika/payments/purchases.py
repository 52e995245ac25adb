"""Purchases from providers: airtime and data, bills and TV, and top-ups by card or operator wallet.

Every provider payment is two-phase. For a purchase the customer's money is **held** (pending ledger
transfers to the provider's settlement account and to fee revenue), the order goes to the provider,
and the hold is **posted** when the provider succeeds or **voided** when it fails. A top-up is the
other way round: nothing moves until the provider confirms, then the provider's account pays the
wallet (within the wallet's limits, checked by the ledger).

The provider's answer comes from whichever is first: the synchronous reply, its callback (once, twice
or never), or the poll job asking ``status``. They all go through :meth:`Payments.settle`, which
applies one outcome once. A provider that never answers is given up at the deadline (the hold is
voided and the customer told); the ledger's own pending timeout, a little later, is the last resort
if even that job is not running. ``sika reconcile`` lists what is past its deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from sika import phones
from sika.errors import SikaError
from sika.payments.fees import Operation
from sika.payments.movements import Code, Kind, Leg, Movement, Role, Status
from sika.payments.schema import movements
from sika.payments.service import Payments
from sika.providers import (
    Order,
    Outcome,
    ProductKind,
    ProviderRejected,
    Providers,
    ProviderStatus,
    ProviderUnavailable,
)
from sika.wallet import Customer, Customers, Pin

__all__ = ["PurchaseQuote", "Purchases"]

log = logging.getLogger(__name__)

DEADLINE_S = 120
POLL_INTERVAL_S = 5
# The ledger voids a forgotten hold by itself this long after the deadline.
HOLD_MARGIN_S = 600
SWEEP_MAX = 100
REFERENCE_CHARS_MAX = 64
_NS = 1_000_000_000
_PURCHASE_KINDS = {
    ProductKind.AIRTIME: Kind.AIRTIME,
    ProductKind.DATA: Kind.AIRTIME,
    ProductKind.ELECTRICITY: Kind.BILL,
    ProductKind.WATER: Kind.BILL,
    ProductKind.TV: Kind.BILL,
}
_TOP_UP_KINDS = (ProductKind.CARD, ProductKind.MOBILE_MONEY)


@dataclass(frozen=True, slots=True)
class PurchaseQuote:
    provider: str
    product: str
    reference: str
    amount: int
    fee: int
    description: str
    details: dict[str, str]

    @property
    def total(self) -> int:
        return self.amount + self.fee


class Purchases:
    def __init__(
        self,
        payments: Payments,
        customers: Customers,
        providers: Providers,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        deadline_s: int = DEADLINE_S,
        poll_interval_s: int = POLL_INTERVAL_S,
    ) -> None:
        self._payments = payments
        self._customers = customers
        self.providers = providers
        self._clock_ns = clock_ns
        self._deadline_ns = deadline_s * _NS
        self._hold_timeout_s = deadline_s + HOLD_MARGIN_S
        self._poll_ns = poll_interval_s * _NS
        self._kinds = {entry["provider"]: ProductKind(entry["kind"]) for entry in providers.catalogue()}

    def catalogue(self) -> list[dict[str, Any]]:
        return self.providers.catalogue()

    def kind_of(self, provider: str, product: str) -> ProductKind:
        for entry in self.providers.catalogue():
            if entry["provider"] == provider and any(p["product"] == product for p in entry["products"]):
                return ProductKind(entry["kind"])
        if provider in self._kinds and product == "airtime":
            return ProductKind.AIRTIME
        raise ProviderRejected(f"{provider} sells no {product!r}", code="unknown_product")

    # Buying ----------------------------------------------------------------------------------------

    def quote(self, provider: str, product: str, reference: str, amount: int | None) -> PurchaseQuote:
        kind = self.kind_of(provider, product)
        if kind in _TOP_UP_KINDS:
            raise ProviderRejected(f"{product} is a top-up, not a purchase", code="unknown_product")
        reference = _reference(kind, reference)
        quote = self.providers.get(provider).quote(product, reference, amount)
        operation = Operation.AIRTIME if kind in (ProductKind.AIRTIME, ProductKind.DATA) else Operation.BILL
        return PurchaseQuote(
            provider=provider,
            product=product,
            reference=reference,
            amount=quote.amount,
            fee=self._payments.fees.fee(operation, quote.amount),
            description=quote.description,
            details=dict(quote.details),
        )

    def buy(
        self,
        movement_id: str,
        payer: Customer,
        *,
        provider: str,
        product: str,
        reference: str,
        amount: int | None = None,
        pin: Pin | None = None,
    ) -> Movement:
        """Hold the amount and fee, order from the provider, settle on its answer."""
        existing = self._payments.find(movement_id)
        if existing is not None:
            if existing.payer_customer_id != payer.id or existing.product != product:
                raise SikaError(
                    "this Idempotency-Key was used for another payment", code="idempotency_conflict"
                )
            return existing
        quote = self.quote(provider, product, reference, amount)
        self._payments.check_transaction(payer, quote.total)
        if pin is not None:
            payer = self._customers.verify_pin(payer.msisdn, pin)
        else:
            self._customers.ensure_unlocked(payer)
        assert payer.account_id is not None
        accounts = self._payments.accounts
        hold = self._hold_timeout_s
        legs = [
            Leg(
                f"{movement_id}.0",
                payer.account_id,
                accounts.provider(provider),
                quote.amount,
                Code.PROVIDER_PAYMENT,
                Role.PAYER,
                pending=True,
                timeout_s=hold,
            )
        ]
        if quote.fee:
            legs.append(
                Leg(
                    f"{movement_id}.1",
                    payer.account_id,
                    accounts.id("fee_revenue"),
                    quote.fee,
                    Code.FEE,
                    Role.PAYER,
                    pending=True,
                    timeout_s=hold,
                )
            )
        kind = _PURCHASE_KINDS[self.kind_of(provider, product)]
        movement = self._payments.run(
            movement_id,
            legs,
            kind=kind,
            amount=quote.amount,
            fee=quote.fee,
            payer_customer_id=payer.id,
            counterparty=quote.reference,
            provider=provider,
            product=product,
            deadline_ns=self._clock_ns() + self._deadline_ns,
            details={"description": quote.description, **quote.details},
        )
        if movement.status is not Status.PENDING:
            return movement  # refused by the ledger (funds, limits): nothing was ordered
        return self._order(movement, quote.reference)

    def top_up(
        self,
        movement_id: str,
        customer: Customer,
        *,
        provider: str,
        product: str,
        reference: str,
        amount: int,
    ) -> Movement:
        """Money in from a card or an operator wallet: the wallet is credited once the provider confirms."""
        existing = self._payments.find(movement_id)
        if existing is not None:
            if existing.payee_customer_id != customer.id or existing.product != product:
                raise SikaError(
                    "this Idempotency-Key was used for another payment", code="idempotency_conflict"
                )
            return existing
        kind = self.kind_of(provider, product)
        if kind not in _TOP_UP_KINDS:
            raise ProviderRejected(f"{product} is not a top-up", code="unknown_product")
        reference = _reference(kind, reference)
        quote = self.providers.get(provider).quote(product, reference, amount)
        self._payments.check_transaction(customer, quote.amount)
        assert customer.account_id is not None
        legs = [
            Leg(
                f"{movement_id}.0",
                self._payments.accounts.provider(provider),
                customer.account_id,
                quote.amount,
                Code.TOP_UP,
                Role.PLATFORM,
            ),
            self._payments.meter_leg(movement_id, customer, quote.amount),
        ]
        movement = self._payments.run(
            movement_id,
            legs,
            kind=Kind.TOP_UP,
            amount=quote.amount,
            payee_customer_id=customer.id,
            counterparty=_masked(reference),
            provider=provider,
            product=product,
            deferred=True,
            deadline_ns=self._clock_ns() + self._deadline_ns,
            details={"description": quote.description},
        )
        return self._order(movement, reference)

    def charge_card(
        self,
        movement_id: str,
        customer: Customer,
        *,
        reference: str,
        amount: int,
        legs: list[Leg],
        details: dict[str, Any],
    ) -> Movement:
        """Charge a card for something other than a top-up (a ride): ``legs`` move the money once the
        processor confirms, like a top-up's."""
        existing = self._payments.find(movement_id)
        if existing is not None:
            return existing
        reference = _reference(ProductKind.CARD, reference)
        quote = self.providers.get("card").quote("card_payment", reference, amount)
        movement = self._payments.run(
            movement_id,
            legs,
            kind=Kind.RIDE,
            amount=quote.amount,
            payer_customer_id=customer.id,
            counterparty=_masked(reference),
            provider="card",
            product="card_payment",
            deferred=True,
            deadline_ns=self._clock_ns() + self._deadline_ns,
            details=details,
        )
        return self._order(movement, reference)

    def _order(self, movement: Movement, reference: str) -> Movement:
        assert movement.provider is not None and movement.product is not None
        order = Order(
            id=movement.id,
            provider=movement.provider,
            product=movement.product,
            reference=reference,
            # Plus what extras have the provider deliver on top (an airtime bonus a campaign pays for).
            amount=movement.amount + sum(int(info.get("order_extra", 0))
                                         for info in movement.details.get("extras", {}).values()),
        )
        try:
            outcome = self.providers.get(movement.provider).submit(order, callback=self.on_callback)
        except ProviderUnavailable as exc:
            # The order may or may not have arrived: the poll job asks, the deadline ends it.
            log.warning("provider %s unavailable for %s: %s", movement.provider, movement.id, exc)
            return self._payments.get(movement.id)
        except ProviderRejected as exc:
            outcome = Outcome(status=ProviderStatus.FAILED, error_code=exc.code, message=exc.message)
        return self._apply(movement.id, outcome)

    # Answers ---------------------------------------------------------------------------------------

    def on_callback(self, order_id: str, outcome: Outcome) -> None:
        """A provider's callback (on its thread): apply it; a second delivery changes nothing."""
        try:
            self._apply(order_id, outcome)
        except Exception:
            log.exception("callback for %s could not be applied; the poll job will", order_id)

    def _apply(self, movement_id: str, outcome: Outcome) -> Movement:
        if outcome.status is ProviderStatus.PENDING:
            if outcome.provider_reference:
                self._payments.note_reference(movement_id, outcome.provider_reference)
            return self._payments.get(movement_id)
        if outcome.status is ProviderStatus.SUCCEEDED:
            if outcome.provider_reference:
                self._payments.note_reference(movement_id, outcome.provider_reference)
            return self._payments.settle(movement_id, success=True, receipt=dict(outcome.receipt))
        return self._payments.settle(
            movement_id,
            success=False,
            error_code="provider_failed",
            reason=f"the provider refused: {outcome.message or outcome.error_code or 'failed'}",
        )

    def poll(self, limit: int = SWEEP_MAX) -> int:
        """Ask providers about pending orders not heard of lately; give up on those past the deadline."""
        now = self._clock_ns()
        engine = self._payments.engine
        with engine.connect() as connection:
            ids = (
                connection.execute(
                    select(movements.c.id)
                    .where(
                        movements.c.status == Status.PENDING,
                        movements.c.provider.is_not(None),
                        movements.c.updated_at_ns < now - self._poll_ns,
                    )
                    .order_by(movements.c.updated_at_ns)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
        for movement_id in ids:
            with engine.begin() as connection:  # one poller per order at a time, across processes
                claimed = connection.execute(
                    update(movements)
                    .where(
                        movements.c.id == movement_id,
                        movements.c.status == Status.PENDING,
                        movements.c.updated_at_ns < now - self._poll_ns,
                    )
                    .values(updated_at_ns=now)
                ).rowcount
            if claimed:
                self._poll_one(self._payments.get(movement_id), now)
        return len(ids)

    def _poll_one(self, movement: Movement, now: int) -> None:
        assert movement.provider is not None
        try:
            outcome = self.providers.get(movement.provider).status(movement.id)
        except (ProviderUnavailable, ProviderRejected) as exc:
            log.info("status of %s at %s unknown: %s", movement.id, movement.provider, exc)
            outcome = Outcome(status=ProviderStatus.PENDING)
        if outcome.final and outcome.error_code != "unknown_order":
            self._apply(movement.id, outcome)
        elif movement.deadline_ns is not None and now >= movement.deadline_ns:
            self._payments.settle(
                movement.id,
                success=False,
                error_code="provider_timeout",
                reason="the provider did not answer in time; nothing was taken",
            )


def _reference(kind: ProductKind, reference: str) -> str:
    reference = reference.strip()
    if kind in (ProductKind.AIRTIME, ProductKind.DATA, ProductKind.MOBILE_MONEY):
        return phones.normalize(reference)
    compact = reference.replace(" ", "").replace("-", "")
    if not (0 < len(compact) <= REFERENCE_CHARS_MAX and compact.isascii() and compact.isprintable()):
        raise ProviderRejected("a reference has 1 to 64 letters or digits", code="invalid_reference")
    return compact


def _masked(reference: str) -> str:
    """Card numbers are never stored: keep the last four digits (tokens are kept whole)."""
    if reference.isdigit() and len(reference) > 8:
        return "•" * 4 + reference[-4:]
    return reference
