"""The one interface every external provider sits behind: quote, submit, status, and a callback.

An order's life at a provider, as Sika sees it::

    submit ──> SUCCEEDED                      answered at once (airtime, bills, TV most of the time)
       │   ──> FAILED                         answered at once (declined, invalid reference, ...)
       │   ──> PENDING ──> SUCCEEDED | FAILED  later, by callback and by status()
       │   ──> PENDING forever                 the provider never answers: poll, then escalate
       └── raises ProviderUnavailable          timeout or connection error: the order may or may
                                               not have been received; status() tells which
                                               (FAILED "unknown_order" means it never arrived)

``submit`` is idempotent on ``Order.id``: submitting the same order again returns its current outcome
and never charges twice, so retrying after :class:`ProviderUnavailable` is safe. A callback carries the
final outcome of an order the provider answered PENDING; it may come once, twice, or never, and
even before ``submit`` has returned, on another thread. Callers store it and process it at their
own pace (it is a hint to look at, not the only source of truth), and poll ``status`` for orders
that stay PENDING.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sika.errors import SikaError

__all__ = [
    "ORDER_ID_CHARS_MAX",
    "Callback",
    "CatalogueEntry",
    "Order",
    "Outcome",
    "Product",
    "ProductKind",
    "Provider",
    "ProviderRejected",
    "ProviderStatus",
    "ProviderUnavailable",
    "Quote",
]

# Providers cap their idempotency keys; 64 fits PayGate's identifier and card processors' references.
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
    ``amount_above_maximum``, ``amount_mismatch``, ``amount_required``, ``unknown_product``,
    ``nothing_due``, ``unknown_provider``, ``order_conflict``): nothing was charged."""

    code = "provider_rejected"
    status = 422


class ProviderUnavailable(SikaError):
    """Timeout or connection error: a submitted order may or may not have been received."""

    code = "provider_unavailable"
    status = 503


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    provider: str
    product: str
    reference: str
    amount: int
    currency: str = "XOF"

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

    @property
    def final(self) -> bool:
        return self.status is not ProviderStatus.PENDING


Callback = Callable[[str, Outcome], None]


class Provider(Protocol):
    name: str

    def quote(self, product: str, reference: str, amount: int | None) -> Quote: ...

    def submit(self, order: Order, callback: Callback | None = None) -> Outcome: ...

    def status(self, order_id: str) -> Outcome: ...


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
