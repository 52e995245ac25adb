"""A mobile-money aggregator shaped like PayGate Global: top up a wallet from Flooz or T-Money (Mixx).

Product ``wallet_topup:FLOOZ`` or ``wallet_topup:TMONEY``; the reference is the paying customer's
number in E.164. A payment is registered at once and answers PENDING (PayGate's ``tx_reference`` is
the provider reference); the customer then confirms with their PIN on their phone, and the result
arrives by callback or through status(), which PayGate reports with these codes:

====  ===========  ===========================================================
code  PayGate      Sika outcome
====  ===========  ===========================================================
0     success      SUCCEEDED
2     in progress  PENDING
4     expired      FAILED ``expired`` (the customer did not confirm in time)
6     cancelled    FAILED ``declined`` (the customer refused or cancelled)
other              PENDING: we cannot tell whether money moved, so keep polling
====  ===========  ===========================================================

Magic numbers (see :mod:`sika.providers.sandbox`): ``+2289000000N`` (any Togolese number ending in
``00000N``); the magic DECLINED number ends with status 6.
"""

from __future__ import annotations

import enum

from sika.providers._checks import check_amount, digest, product_code, require_togo_msisdn
from sika.providers.base import (
    CatalogueEntry,
    Order,
    Outcome,
    Product,
    ProductKind,
    ProviderRejected,
    ProviderStatus,
    Quote,
)
from sika.providers.sandbox import Magic, SandboxBehaviour, SandboxProvider, magic_of

__all__ = ["NETWORKS", "PayGateSandbox", "PayGateStatus", "outcome_from_paygate"]

# PayGate's network codes, and the names customers know them by.
NETWORKS = {"FLOOZ": "Flooz (Moov Money)", "TMONEY": "Mixx by Yas (T-Money)"}


class PayGateStatus(enum.IntEnum):
    SUCCEEDED = 0
    IN_PROGRESS = 2
    EXPIRED = 4
    CANCELLED = 6


def outcome_from_paygate(
    code: int, *, tx_reference: str, network: str, payment_reference: str | None = None
) -> Outcome:
    """Our outcome for a PayGate status code, as its status API and callbacks report it."""
    receipt = {"paygate_status": str(code), "tx_reference": tx_reference, "network": network}
    match code:
        case PayGateStatus.SUCCEEDED:
            if payment_reference is not None:
                receipt["payment_reference"] = payment_reference
            return Outcome(ProviderStatus.SUCCEEDED, provider_reference=tx_reference, receipt=receipt)
        case PayGateStatus.IN_PROGRESS:
            return Outcome(ProviderStatus.PENDING, provider_reference=tx_reference, receipt=receipt)
        case PayGateStatus.EXPIRED:
            return Outcome(ProviderStatus.FAILED, provider_reference=tx_reference, receipt=receipt,
                           error_code="expired", message="the customer did not confirm the payment in time")
        case PayGateStatus.CANCELLED:
            return Outcome(ProviderStatus.FAILED, provider_reference=tx_reference, receipt=receipt,
                           error_code="declined", message="the customer cancelled the payment")
        case _:
            # An undocumented code says nothing about whether money moved: failing the order here
            # could lose a customer's payment, so it stays pending until someone looks.
            return Outcome(ProviderStatus.PENDING, provider_reference=tx_reference, receipt=receipt,
                           message=f"PayGate answered an unknown status {code}")


class PayGateSandbox(SandboxProvider):
    name = "paygate"
    display_name = "PayGate"
    asynchronous = True

    def __init__(
        self, behaviour: SandboxBehaviour | None = None, *, amount_min: int = 100, amount_max: int = 1_000_000
    ) -> None:
        assert 0 < amount_min <= amount_max
        super().__init__(behaviour)
        self.amount_min = amount_min
        self.amount_max = amount_max

    def magic_reference(self, magic: Magic) -> str:
        return f"+2289000000{magic.digit}"

    def catalogue(self) -> list[CatalogueEntry]:
        products = tuple(
            Product(f"wallet_topup:{code}", name, None, self.amount_min, self.amount_max)
            for code, name in NETWORKS.items()
        )
        return [CatalogueEntry(self.name, ProductKind.MOBILE_MONEY, self.display_name, "msisdn", products)]

    def _quote(self, product: str, reference: str, amount: int | None) -> Quote:
        network = _network(product)
        msisdn = require_togo_msisdn(reference)
        paid = check_amount(amount, self.amount_min, self.amount_max)
        return Quote(paid, f"{NETWORKS[network]} payment from {msisdn}",
                     {"network": network, "msisdn": msisdn})

    def _significant(self, reference: str) -> str:
        return reference[1:]

    def _provider_reference(self, order: Order) -> str:
        return f"{digest('tx_reference', order.id) % 10**10:010d}"

    def _pending(self, order: Order, provider_reference: str) -> Outcome:
        return outcome_from_paygate(PayGateStatus.IN_PROGRESS, tx_reference=provider_reference,
                                    network=_network(order.product))

    def _declined(self, order: Order, provider_reference: str) -> Outcome:
        if magic_of(self._significant(order.reference)) is Magic.DECLINED or digest("fail", order.id) % 2:
            code = PayGateStatus.CANCELLED
        else:
            code = PayGateStatus.EXPIRED
        return outcome_from_paygate(code, tx_reference=provider_reference, network=_network(order.product))

    def _fulfil(self, order: Order, provider_reference: str) -> Outcome:
        network = _network(order.product)
        payment_reference = f"{network}.{digest('payment', order.id) % 10**10:010d}"
        return outcome_from_paygate(PayGateStatus.SUCCEEDED, tx_reference=provider_reference, network=network,
                                    payment_reference=payment_reference)


def _network(product: str) -> str:
    network = product_code(product, "wallet_topup")
    if network not in NETWORKS:
        raise ProviderRejected(f"PayGate takes {' and '.join(NETWORKS)} only", code="unknown_product")
    return network
