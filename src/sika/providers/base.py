"""The one interface every external provider sits behind: quote, submit, status, and its callbacks.

An order's life at a provider, as Sika sees it::

    submit ──> SUCCEEDED                      answered at once (bills and bundles most of the time)
       │   ──> FAILED                         answered at once (declined, invalid reference, ...)
       │   ──> PENDING ──> SUCCEEDED | FAILED  later, by callback and by status()
       │   ──> PENDING forever                 the provider never answers: poll, then escalate
       └── raises ProviderUnavailable          timeout or connection error: the order may or may
                                               not have been received; status() tells which
                                               (FAILED "unknown_order" means it never arrived)

``submit`` is idempotent on ``Order.id``: every adapter sends it as the provider's own idempotency
reference (PayGate's ``identifier``, CinetPay's ``transaction_id``, Africa's Talking's
``Idempotency-Key``, the biller aggregator's ``order_id``), so a retry after
:class:`ProviderUnavailable` never charges twice. A callback is a hint: it may come once, twice,
never, or forged. Each adapter authenticates it as its provider specifies (:meth:`Gateway.read_callback`
raises :class:`ForgedCallback`), and a callback its provider does not sign is only a reason to ask
``status`` at once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sika.errors import SikaError

__all__ = [
    "ORDER_ID_CHARS_MAX",
    "Balance",
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
    "Quote",
    "WithBalance",
]

# Providers cap their idempotency references; 64 fits PayGate's identifier and the others (Sika's
# movement ids have 35 characters).
ORDER_ID_CHARS_MAX = 64


class ProviderStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"


class ProductKind(enum.StrEnum):
    AIRTIME = "airtime"
    DATA = "data"
    ELECTRICITY = "electricity"
    WATER = "water"
    TV = "tv"
    CARD = "card"
    MOBILE_MONEY = "mobile_money"


class ProviderRejected(SikaError):
    """The provider refused the request as asked (``invalid_reference``, ``amount_below_minimum``,
    ``amount_above_maximum``, ``amount_mismatch``, ``amount_required``, ``invalid_amount``,
    ``unknown_product``, ``nothing_due``, ``unknown_provider``, ``order_conflict``): nothing was
    charged."""

    code = "provider_rejected"


class ProviderUnavailable(SikaError):
    """Timeout, connection error or unreadable answer: a submitted order may or may not have been
    received."""

    code = "provider_unavailable"


class ProviderNotConfigured(SikaError):
    """No live provider serves this product: its ``SIKA_<PROVIDER>_…`` settings are missing or
    incomplete. Nothing was held, ordered or credited."""

    code = "provider_not_configured"


class ForgedCallback(SikaError):
    """A callback that fails its provider's authentication (signature, token or source address)."""

    code = "forged_callback"


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    provider: str
    product: str
    reference: str
    amount: int
    currency: str = "XOF"
    # Who pays, for providers whose payment page asks (CinetPay's card form): never required.
    customer_msisdn: str | None = None
    customer_name: str | None = None

    def __post_init__(self) -> None:
        # Programmer errors, caught where the order is built rather than at a provider's door.
        if not 0 < len(self.id) <= ORDER_ID_CHARS_MAX or not (self.id.isascii() and self.id.isprintable()):
            raise ValueError(f"an order id is 1 to {ORDER_ID_CHARS_MAX} printable ASCII characters")
        if " " in self.id:
            raise ValueError("an order id holds no spaces")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError("an order's amount is a positive integer count of the currency's minor unit")


@dataclass(frozen=True, slots=True)
class Quote:
    amount: int
    description: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: ProviderStatus
    provider_reference: str | None = None
    receipt: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    message: str | None = None
    # The amount the provider reports for the order, when it says (reconciliation compares it).
    amount: int | None = None

    @property
    def final(self) -> bool:
        return self.status is not ProviderStatus.PENDING


@dataclass(frozen=True, slots=True)
class Product:
    """One line of a provider's catalogue; ``price`` is None when the customer chooses the amount."""

    product: str
    name: str
    price: int | None
    amount_min: int
    amount_max: int
    volume_mb: int | None = None
    validity_days: int | None = None


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """What one provider sells of one kind; ``reference`` names what the customer types."""

    provider: str
    kind: ProductKind
    name: str
    reference: str
    products: tuple[Product, ...]


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """A provider's callback as it arrived: header names in lower case, the raw body, who sent it."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    client_host: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """What an authenticated callback says: which order (by our id, or the provider's reference) and
    its outcome, or None when the callback is only a reason to ask ``status`` (unsigned callbacks)."""

    order_id: str | None
    provider_reference: str | None = None
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    """Money a provider holds for us (prepaid float, collected funds), as its API reports it."""

    account: str
    amount: int
    currency: str = "XOF"


class Provider(Protocol):
    """One provider's adapter for the products it serves. ``brand`` is the name the customer picks
    (``togocom``, ``ceet``, ``card``): one adapter may serve several brands."""

    name: str

    def catalogue(self, brand: str) -> list[CatalogueEntry]: ...

    def quote(self, product: str, reference: str, amount: int | None) -> Quote: ...

    def submit(self, order: Order) -> Outcome: ...

    def status(self, order_id: str, *, product: str, provider_reference: str | None = None) -> Outcome: ...


class Gateway(Protocol):
    """Where a provider's callbacks arrive: ``/v1/providers/{name}/callback``."""

    name: str

    def read_callback(self, request: CallbackRequest) -> list[Notice]: ...


@runtime_checkable
class WithBalance(Protocol):
    name: str

    def balances(self) -> list[Balance]: ...
