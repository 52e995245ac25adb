"""External providers: airtime and data, electricity, water, TV, cards and mobile-money aggregators.

One interface (:class:`Provider`: ``quote``, ``submit``, ``status``, and a callback; see
:mod:`sika.providers.base` for an order's life), one module per provider, each with a sandbox that
behaves like the real one: latency, failures, PENDING answers, callbacks once, twice or never.
:func:`sandbox_providers` builds them all into a :class:`Providers` registry.

=========  ===============================  ================================================
provider   products                         reference
=========  ===============================  ================================================
togocom    ``airtime``, ``data:<code>``     msisdn in E.164 (any Togolese number)
moov       ``airtime``, ``data:<code>``     msisdn in E.164 (any Togolese number)
ceet       ``electricity``                  meter number, 11 digits (10 + Luhn check digit)
tde        ``water``                        subscriber reference, 8 digits
canal      ``tv:<package code>``            Canal+ card number, 14 digits
card       ``card_topup``                   card number (Luhn) or token ``tok_...``
paygate    ``wallet_topup:FLOOZ|TMONEY``    msisdn in E.164
=========  ===============================  ================================================

Magic references behave the same whatever :class:`SandboxBehaviour`'s ratios; N is the last
significant digit (``provider.magic_reference(Magic.X)`` returns them):

=  =============================  ======================================================================
N  Magic                          behaviour
=  =============================  ======================================================================
1  DECLINED                       FAILED ``declined`` (card and paygate: PENDING first, then callback)
2  NEVER_ANSWERS                  PENDING forever, no callback
3  CALLS_BACK_TWICE               PENDING, then SUCCEEDED delivered twice to the callback
4  UNAVAILABLE_BUT_RECEIVED       submit raises ProviderUnavailable, but the order goes on: status()
                                  shows it (SUCCEEDED; card and paygate: PENDING, then callback)
5  PENDING_THEN_SUCCEEDS          PENDING, then SUCCEEDED by one callback
6  UNAVAILABLE_ONCE_NOT_RECEIVED  the first submit of an order id raises ProviderUnavailable and is
                                  lost (status(): FAILED ``unknown_order``); a retry goes through
=  =============================  ======================================================================

=  ============  ============  ===========  ========  ==============  ================
N  togocom       moov          ceet         tde       canal           card
=  ============  ============  ===========  ========  ==============  ================
1  +22890000001  +22899000001  10000000017  10000001  10000000000001  4000000000000010
2  +22890000002  +22899000002  10000000025  10000002  10000000000002  4000000000000028
3  +22890000003  +22899000003  10000000033  10000003  10000000000003  4000000000000036
4  +22890000004  +22899000004  10000000041  10000004  10000000000004  4000000000000044
5  +22890000005  +22899000005  10000000058  10000005  10000000000005  4000000000000051
6  +22890000006  +22899000006  10000000066  10000006  10000000000006  4000000000000069
=  ============  ============  ===========  ========  ==============  ================

paygate uses the togocom column (any Togolese number ending in ``00000N`` is magic at togocom, moov and
paygate); card tokens ending in ``00000N`` are magic too. What each behaviour does is described in
:mod:`sika.providers.sandbox`. Other sandbox conventions: TdE references starting with ``0`` do not
exist and those ending in ``00`` owe nothing.
"""

from sika.providers.base import (
    Callback,
    CatalogueEntry,
    Order,
    Outcome,
    Product,
    ProductKind,
    Provider,
    ProviderRejected,
    ProviderStatus,
    ProviderUnavailable,
    Quote,
)
from sika.providers.canal import CANAL_PACKAGES, CanalSandbox, Package
from sika.providers.card import CardSandbox
from sika.providers.ceet import CeetSandbox
from sika.providers.operators import (
    MOOV_BUNDLES,
    TOGOCOM_BUNDLES,
    Bundle,
    MoovSandbox,
    OperatorSandbox,
    TogocomSandbox,
    operator_hint,
)
from sika.providers.paygate import PayGateSandbox, PayGateStatus, outcome_from_paygate
from sika.providers.registry import Providers, sandbox_providers
from sika.providers.sandbox import Magic, SandboxBehaviour, SandboxProvider
from sika.providers.tde import TdeSandbox

__all__ = [
    "CANAL_PACKAGES",
    "MOOV_BUNDLES",
    "TOGOCOM_BUNDLES",
    "Bundle",
    "Callback",
    "CanalSandbox",
    "CardSandbox",
    "CatalogueEntry",
    "CeetSandbox",
    "Magic",
    "MoovSandbox",
    "OperatorSandbox",
    "Order",
    "Outcome",
    "Package",
    "PayGateSandbox",
    "PayGateStatus",
    "Product",
    "ProductKind",
    "Provider",
    "ProviderRejected",
    "ProviderStatus",
    "ProviderUnavailable",
    "Providers",
    "Quote",
    "SandboxBehaviour",
    "SandboxProvider",
    "TdeSandbox",
    "TogocomSandbox",
    "operator_hint",
    "outcome_from_paygate",
    "sandbox_providers",
]
