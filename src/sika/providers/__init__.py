"""External providers: airtime and data, electricity, water, TV, cards and mobile-money aggregators.

One interface (:class:`Provider`: ``quote``, ``submit``, ``status``, and callbacks read by a
:class:`Gateway`; see :mod:`sika.providers.base` for an order's life), one module per provider,
each speaking that provider's published wire format over HTTP:

==================  ======================================  ===========================================
module              provider                                serves (brands, see :mod:`.brands`)
==================  ======================================  ===========================================
``paygate``         PayGate Global                          Flooz and T-Money top-ups (``paygate``)
``paygate_payouts`` PayGate Global                          payouts to Flooz and T-Money wallets
``cinetpay``        CinetPay                                card top-ups and card payments (``card``)
``africastalking``  Africa's Talking Airtime                airtime (``togocom``, ``moov``)
``biller``          a biller aggregator (Sika's protocol)   CEET, TdE, Canal+, data bundles
==================  ======================================  ===========================================

:mod:`.wiring` builds the live ones from the ``SIKA_<PROVIDER>_*`` settings; a product whose
provider is not configured is refused with ``provider_not_configured``. There are no sandboxes
here: the local fakes used by tests and ``sika serve --demo`` live in the separate ``sika-fakes``
distribution and are reached over HTTP through these same adapters.
"""

from sika.providers.base import (
    Balance,
    CallbackRequest,
    CatalogueEntry,
    ForgedCallback,
    Gateway,
    Notice,
    Order,
    Outcome,
    Product,
    ProductKind,
    Provider,
    ProviderNotConfigured,
    ProviderRejected,
    ProviderStatus,
    ProviderUnavailable,
    Quote,
)
from sika.providers.brands import BRANDS, service_of
from sika.providers.operators import operator_hint
from sika.providers.registry import BrandRoute, Providers, Route

__all__ = [
    "BRANDS",
    "Balance",
    "BrandRoute",
    "CallbackRequest",
    "CatalogueEntry",
    "ForgedCallback",
    "Gateway",
    "Notice",
    "Order",
    "Outcome",
    "Product",
    "ProductKind",
    "Provider",
    "ProviderNotConfigured",
    "ProviderRejected",
    "ProviderStatus",
    "ProviderUnavailable",
    "Providers",
    "Quote",
    "Route",
    "operator_hint",
    "service_of",
]
