"""Purchases from providers: airtime and data, bills and TV, and top-ups by card or operator wallet.

Every provider payment is two-phase. For a purchase the customer's money is **held** (pending ledger
transfers to the provider's settlement account and to fee revenue), the order goes to the provider,
and the hold is **posted** when the provider succeeds or **voided** when it fails. A top-up is the
other way round: nothing moves until the provider confirms, then the provider's account pays the
wallet (within the wallet's limits, checked by the ledger).

Before anything is held, the product's provider must be live: otherwise the request is refused with
``provider_not_configured`` (HTTP 503) and no movement is written. A postpaid bill is claimed first
(:mod:`sika.payments.bill_claims`), so that two processes cannot pay it twice.

The provider's answer comes from whichever is first: the synchronous reply, its callback (read and
authenticated by its adapter, see :meth:`Purchases.callback`), or the poll job asking ``status``.
They all go through ``Movements.settle`` (:mod:`sika.payments.settlement`), which applies one outcome
once. A provider that never answers is given up at the deadline (the hold is voided and the customer
told); the ledger's own pending timeout, a little later, is the last resort if even that job is not
running. ``sika reconcile`` lists what is past its deadline and where Sika and a provider disagree.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import Engine, select, update

from sika import phones
from sika.db import begin, is_sqlite, together
from sika.errors import SikaError
from sika.payments.bill_claims import PERIOD_CHARS_MAX, BillClaims
from sika.payments.details import merged_json
from sika.payments.fees import FeeSchedule, Operation
from sika.payments.fingerprints import fingerprint
from sika.payments.movements import Code, Kind, Leg, Movement, Role, Status
from sika.payments.quotes import PurchaseQuote, QuoteChanged
from sika.payments.schema import movements
from sika.payments.settlement import Movements
from sika.providers import (
    CallbackRequest,
    Notice,
    Order,
    Outcome,
    ProductKind,
    ProviderNotConfigured,
    ProviderRejected,
    Providers,
    ProviderStatus,
    ProviderUnavailable,
    service_of,
)
from sika.wallet import Customer, Customers, Pin

__all__ = ["PurchaseQuote", "Purchases", "UnknownGateway"]

log = logging.getLogger(__name__)

DEADLINE_S = 120
POLL_INTERVAL_S = 5
# The ledger voids a forgotten hold by itself this long after the deadline.
HOLD_MARGIN_S = 600
SWEEP_MAX = 100
REFERENCE_CHARS_MAX = 64
NOTICES_MAX = 50
EARLY_MAX = 1_000
_NS = 1_000_000_000
_PURCHASE_KINDS = {
    ProductKind.AIRTIME: Kind.AIRTIME,
    ProductKind.DATA: Kind.AIRTIME,
    ProductKind.ELECTRICITY: Kind.BILL,
    ProductKind.WATER: Kind.BILL,
    ProductKind.TV: Kind.BILL,
}
_TOP_UP_KINDS = (ProductKind.CARD, ProductKind.MOBILE_MONEY)


class UnknownGateway(SikaError):
    code = "unknown_provider"


class Purchases:
    def __init__(
        self,
        engine: Engine,
        movements: Movements,
        customers: Customers,
        providers: Providers,
        *,
        fees: FeeSchedule,
        clock_ns: Callable[[], int] = time.time_ns,
        deadline_s: int = DEADLINE_S,
        poll_interval_s: int = POLL_INTERVAL_S,
    ) -> None:
        self._engine = engine
        self._movements = movements
        self._fees = fees
        self._customers = customers
        self.providers = providers
        self._clock_ns = clock_ns
        self._deadline_ns = deadline_s * _NS
        self._hold_timeout_s = deadline_s + HOLD_MARGIN_S
        self._poll_ns = poll_interval_s * _NS
        self.claims = BillClaims(engine, self._status_of, clock_ns=clock_ns)
        # Callbacks that named a provider reference before this process learnt it (the provider's
        # answer and its callback raced): applied once the answer brings the reference.
        self._early: OrderedDict[str, Outcome] = OrderedDict()
        self._early_lock = threading.Lock()

    def catalogue(self) -> list[dict[str, Any]]:
        return self.providers.catalogue()

    def kind_of(self, provider: str, product: str) -> ProductKind:
        """What ``product`` is, whether or not its provider is live (``unknown_product`` else)."""
        return service_of(provider, product)[1].kind

    # Buying ----------------------------------------------------------------------------------------

    def quote(self, provider: str, product: str, reference: str, amount: int | None) -> PurchaseQuote:
        kind = self.kind_of(provider, product)
        if kind in _TOP_UP_KINDS:
            raise ProviderRejected(f"{product} is a top-up, not a purchase", code="unknown_product")
        self.providers.require(provider, product)
        reference = _reference(kind, reference)
        quote = self.providers.get(provider).quote(product, reference, amount)
        operation = Operation.AIRTIME if kind in (ProductKind.AIRTIME, ProductKind.DATA) else Operation.BILL
        return PurchaseQuote(
            provider=provider,
            product=product,
            reference=reference,
            amount=quote.amount,
            fee=self._fees.fee(operation, quote.amount),
            description=quote.description,
            details=dict(quote.details),
            quoted_ns=self._clock_ns(),
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
        confirmed: PurchaseQuote | None = None,
    ) -> Movement:
        """Hold the amount and fee, order from the provider, settle on its answer. ``confirmed``: the
        quote the customer saw and confirmed, paid as it is while fresh (else quoted again)."""
        request = fingerprint("purchase", payer=payer.id, provider=provider, product=product,
                              reference=reference.strip(), amount=amount)
        existing = self._movements.find(movement_id)
        if existing is not None:
            self._movements.check_same_request(existing, request, payer_customer_id=payer.id, product=product)
            return existing
        quote = self._quote_for(confirmed, provider, product, reference, amount)
        self._movements.limits.check_transaction(payer, quote.total)
        if pin is not None:
            payer = self._customers.verify_pin(payer.msisdn, pin)
        else:
            self._customers.ensure_unlocked(payer)
        period = _bill_period(quote)
        if period is not None:
            self.claims.claim(provider, quote.reference, period, movement_id, quote.amount)
        try:
            movement = self._hold(movement_id, payer, quote, request)
        except BaseException:
            self.claims.release(movement_id)
            raise
        if movement.status is not Status.PENDING:
            self.claims.release(movement_id)
            return movement  # refused by the ledger (funds, limits): nothing was ordered
        return self._order(movement, quote.reference, payer)

    def _quote_for(self, confirmed: PurchaseQuote | None, provider: str, product: str, reference: str,
                   amount: int | None) -> PurchaseQuote:
        kind = self.kind_of(provider, product)
        if confirmed is not None and kind not in _TOP_UP_KINDS:
            self.providers.require(provider, product)  # a provider turned off since is not ordered from
            normalized = _reference(kind, reference)
            if confirmed.fresh_for(provider, product, normalized, amount, now_ns=self._clock_ns()):
                return confirmed
        quote = self.quote(provider, product, reference, amount)
        if confirmed is not None and confirmed.names(quote) and confirmed.price != quote.price:
            raise QuoteChanged(f"the price (amount, fee) is {quote.price} now, {confirmed.price} confirmed")
        return quote  # (a price confirmed is the price charged, or nothing)

    def _hold(self, movement_id: str, payer: Customer, quote: PurchaseQuote, request: str) -> Movement:
        assert payer.account_id is not None
        accounts = self._movements.accounts
        legs = [Leg(f"{movement_id}.0", payer.account_id, accounts.provider(quote.provider), quote.amount,
                    Code.PROVIDER_PAYMENT, Role.PAYER, pending=True, timeout_s=self._hold_timeout_s)]
        if quote.fee:
            legs.append(Leg(f"{movement_id}.1", payer.account_id, accounts.id("fee_revenue"), quote.fee,
                            Code.FEE, Role.PAYER, pending=True, timeout_s=self._hold_timeout_s))
        return self._movements.run(
            movement_id,
            legs,
            kind=_PURCHASE_KINDS[self.kind_of(quote.provider, quote.product)],
            amount=quote.amount,
            fee=quote.fee,
            payer_customer_id=payer.id,
            counterparty=quote.reference,
            provider=quote.provider,
            product=quote.product,
            deadline_ns=self._clock_ns() + self._deadline_ns,
            details={"description": quote.description, **quote.details},
            request=request,
        )

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
        # A card number is not kept, even digested: its last four digits tell retries apart enough.
        request = fingerprint("top_up", customer=customer.id, provider=provider, product=product,
                              reference=_masked(reference.strip()), amount=amount)
        existing = self._movements.find(movement_id)
        if existing is not None:
            self._movements.check_same_request(existing, request, payee_customer_id=customer.id,
                                              product=product)
            return existing
        kind = self.kind_of(provider, product)
        if kind not in _TOP_UP_KINDS:
            raise ProviderRejected(f"{product} is not a top-up", code="unknown_product")
        self.providers.require(provider, product)  # first: a plain server answers 503, nothing else
        reference = _reference(kind, reference)
        quote = self.providers.get(provider).quote(product, reference, amount)
        self._movements.limits.check_transaction(customer, quote.amount)
        assert customer.account_id is not None
        legs = [
            Leg(f"{movement_id}.0", self._movements.accounts.provider(provider), customer.account_id,
                quote.amount, Code.TOP_UP, Role.PLATFORM),
            self._movements.limits.meter_leg(movement_id, customer, quote.amount),
        ]
        movement = self._movements.run(
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
            request=request,
        )
        return self._order(movement, reference, customer)

    def charge_card(
        self,
        movement_id: str,
        customer: Customer,
        *,
        reference: str,
        amount: int,
        legs: list[Leg],
        kind: Kind,
        details: dict[str, Any],
    ) -> Movement:
        """Charge a card for something other than a top-up (``kind``, registered by the domain that
        charges: a ride): ``legs`` move the money once the processor confirms, like a top-up's."""
        existing = self._movements.find(movement_id)
        if existing is not None:
            return existing
        self.providers.require("card", "card_payment")
        reference = _reference(ProductKind.CARD, reference)
        quote = self.providers.get("card").quote("card_payment", reference, amount)
        movement = self._movements.run(
            movement_id,
            legs,
            kind=kind,
            amount=quote.amount,
            payer_customer_id=customer.id,
            counterparty=_masked(reference),
            provider="card",
            product="card_payment",
            deferred=True,
            deadline_ns=self._clock_ns() + self._deadline_ns,
            details=details,
        )
        return self._order(movement, reference, customer)

    def _order(self, movement: Movement, reference: str, customer: Customer) -> Movement:
        assert movement.provider is not None and movement.product is not None
        # Plus what extras have the provider deliver on top (an airtime bonus a campaign pays for).
        extra = sum(int(info.get("order_extra", 0)) for info in movement.details.get("extras", {}).values())
        order = Order(id=movement.id, provider=movement.provider, product=movement.product,
                      reference=reference, amount=movement.amount + extra, customer_msisdn=customer.msisdn,
                      customer_name=customer.name)
        try:
            outcome = self.providers.get(movement.provider).submit(order)
        except ProviderUnavailable as exc:
            # The order may or may not have arrived: the poll job asks, the deadline ends it.
            log.warning("provider %s unavailable for %s: %s", movement.provider, movement.id, exc)
            return self._movements.get(movement.id)
        except (ProviderRejected, ProviderNotConfigured) as exc:
            outcome = Outcome(status=ProviderStatus.FAILED, error_code=exc.code, message=exc.message)
        return self._apply(movement.id, outcome, known=(customer,), read=movement)

    # Answers ---------------------------------------------------------------------------------------

    def callback(self, gateway_name: str, request: CallbackRequest) -> int:
        """A provider's callback, as it arrived on ``/v1/providers/{gateway_name}/callback``: its
        adapter authenticates it (raising ``forged_callback``) and names the orders; each is settled
        from the callback's outcome or, for providers that sign nothing, from a status call made now.
        A second delivery changes nothing. Returns how many orders it named."""
        gateway = self.providers.gateway(gateway_name)
        if gateway is None:
            raise UnknownGateway(f"no live provider called back as {gateway_name[:40]!r}")
        notices = gateway.read_callback(request)[:NOTICES_MAX]
        for notice in notices:
            movement = self._movement_of(gateway_name, notice)
            if movement is None:
                self._keep_early(gateway_name, notice)
                continue
            if notice.outcome is None or (notice.outcome.amount is not None
                                          and notice.outcome.amount != movement.amount):
                self._ask_now(movement)
            else:
                self._apply(movement.id, notice.outcome)
        return len(notices)

    def _movement_of(self, gateway_name: str, notice: Notice) -> Movement | None:
        found: Movement | None = None
        if notice.order_id is not None:
            found = self._movements.find(notice.order_id)
        elif notice.provider_reference is not None:
            with self._engine.connect() as connection:
                ids = connection.execute(select(movements.c.id).where(
                    movements.c.provider_reference == notice.provider_reference[:80]).limit(2)
                ).scalars().all()
            found = self._movements.get(ids[0]) if len(ids) == 1 else None
        if found is None or found.provider is None or found.product is None or found.kind is Kind.PAYOUT:
            return None
        try:
            serving = self.providers.adapter(found.provider, found.product)
        except (ProviderRejected, ProviderNotConfigured):
            return None
        # A callback from one provider never settles another provider's order.
        return found if serving.name == gateway_name else None

    def _keep_early(self, gateway_name: str, notice: Notice) -> None:
        """A callback naming only a provider reference no order has yet: kept a while in case the
        provider's answer carrying it is on its way (checked under the same lock as noting it)."""
        if notice.order_id is not None or notice.provider_reference is None or notice.outcome is None:
            log.info("%s called back about an order we do not know: %s", gateway_name, notice)
            return
        with self._early_lock:
            if self._movement_of(gateway_name, notice) is None:
                self._early[notice.provider_reference] = notice.outcome
                while len(self._early) > EARLY_MAX:
                    self._early.popitem(last=False)
                return
        self.callback_notice(gateway_name, notice)

    def callback_notice(self, gateway_name: str, notice: Notice) -> None:
        movement = self._movement_of(gateway_name, notice)
        if movement is not None and notice.outcome is not None:
            self._apply(movement.id, notice.outcome)

    def _ask_now(self, movement: Movement) -> None:
        outcome = self._status(movement)
        if outcome.final and outcome.error_code != "unknown_order":
            self._apply(movement.id, outcome)

    def _apply(self, movement_id: str, outcome: Outcome, *, known: Collection[Customer] = (),
               read: Movement | None = None) -> Movement:  # read: as ordered (Movements.settle)
        url = outcome.receipt.get("redirect_url") if outcome.status is ProviderStatus.PENDING else None
        if url:  # kept even when the callback already came: the answer tells where the customer paid
            self._note_details(movement_id, payment_url=url)
        if outcome.provider_reference and is_sqlite(self._engine):
            # The reference and the outcome are one transaction (sika.db.together), committed before
            # the lock is let go: a callback naming the reference must find it committed.
            with self._early_lock, together(self._engine):
                return self._settle(movement_id, self._noted(movement_id, outcome), known)
        if outcome.provider_reference:
            with self._early_lock:  # not while settling: the ledger's group commit shares those
                outcome = self._noted(movement_id, outcome)
        return self._settle(movement_id, outcome, known, read=read)

    def _noted(self, movement_id: str, outcome: Outcome) -> Outcome:
        """The provider's reference kept (under ``_early_lock``); the outcome to apply, which a callback
        naming the reference may have brought first."""
        assert outcome.provider_reference
        self._movements.note_reference(movement_id, outcome.provider_reference)
        early = self._early.pop(outcome.provider_reference, None)
        return early if early is not None and outcome.status is ProviderStatus.PENDING else outcome

    def _settle(self, movement_id: str, outcome: Outcome, known: Collection[Customer] = (), *,
                read: Movement | None = None) -> Movement:
        if outcome.status is ProviderStatus.PENDING:
            return self._movements.get(movement_id)
        if outcome.status is ProviderStatus.SUCCEEDED:
            return self._movements.settle(movement_id, success=True, receipt=dict(outcome.receipt),
                                          known=known, read=read)
        settled = self._movements.settle(
            movement_id,
            known=known, read=read,
            success=False,
            error_code="provider_failed",
            reason=f"the provider refused: {outcome.message or outcome.error_code or 'failed'}",
        )
        if settled.status is Status.FAILED:
            self.claims.release(movement_id)
        return settled

    def poll(self, limit: int = SWEEP_MAX) -> int:
        """Ask providers about pending orders not heard of lately; give up on those past the deadline."""
        now = self._clock_ns()
        engine = self._engine
        due = (movements.c.status == Status.PENDING) & movements.c.provider.is_not(None) \
            & (movements.c.kind != Kind.PAYOUT) & (movements.c.updated_at_ns < now - self._poll_ns)
        with engine.connect() as connection:
            ids = connection.execute(
                select(movements.c.id).where(due).order_by(movements.c.updated_at_ns).limit(limit)
            ).scalars().all()
        for movement_id in ids:
            with engine.begin() as connection:  # one poller per order at a time, across processes
                claimed = connection.execute(
                    update(movements).where(movements.c.id == movement_id, due).values(updated_at_ns=now)
                ).rowcount
            if claimed:
                self._poll_one(self._movements.get(movement_id), now)
        return len(ids)

    def _poll_one(self, movement: Movement, now: int) -> None:
        outcome = self._status(movement)
        if outcome.final and outcome.error_code != "unknown_order":
            self._apply(movement.id, outcome)
        elif movement.deadline_ns is not None and now >= movement.deadline_ns:
            gone = self._movements.settle(
                movement.id,
                success=False,
                error_code="provider_timeout",
                reason="the provider did not answer in time; nothing was taken",
            )
            if gone.status is Status.FAILED:
                self.claims.release(movement.id)

    def _status(self, movement: Movement) -> Outcome:
        assert movement.provider is not None and movement.product is not None
        try:
            return self.providers.get(movement.provider).status(
                movement.id, product=movement.product, provider_reference=movement.provider_reference)
        except (ProviderUnavailable, ProviderRejected, ProviderNotConfigured) as exc:
            log.info("status of %s at %s unknown: %s", movement.id, movement.provider, exc)
            return Outcome(status=ProviderStatus.PENDING)

    def _note_details(self, movement_id: str, **notes: str) -> None:
        movement = self._movements.get(movement_id)
        if all(movement.details.get(k) == v for k, v in notes.items()):
            return
        # Merged in the writing transaction: the callback may be settling the movement at this moment.
        with begin(self._engine) as connection:
            connection.execute(update(movements).where(movements.c.id == movement_id).values(
                details=merged_json(connection, movement_id, notes)))

    def _status_of(self, movement_id: str) -> Status | None:
        found = self._movements.find(movement_id)
        return None if found is None else found.status


def _bill_period(quote: PurchaseQuote) -> str | None:
    """The period of a postpaid bill, as the biller's quote names it (``"2026-10"``)."""
    period = quote.details.get("period")
    if period and 0 < len(period) <= PERIOD_CHARS_MAX:
        return period
    return None


def _reference(kind: ProductKind, reference: str) -> str:
    reference = reference.strip()
    if kind in (ProductKind.AIRTIME, ProductKind.DATA, ProductKind.MOBILE_MONEY):
        return phones.normalize(reference)
    compact = reference.replace(" ", "").replace("-", "")
    if not (0 < len(compact) <= REFERENCE_CHARS_MAX and compact.isascii() and compact.isprintable()):
        raise ProviderRejected("a reference has 1 to 64 letters or digits", code="invalid_reference")
    return compact


def _masked(reference: str) -> str:
    """Card numbers are never stored: keep the last four digits (labels are kept whole)."""
    if reference.isdigit() and len(reference) > 8:
        return "•" * 4 + reference[-4:]
    return reference
