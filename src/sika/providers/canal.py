"""Canal+ (Afrique): TV subscription renewals by the 14-digit number of the decoder's smart card.

Products ``tv:<package code>``; the amount is the package's monthly price times 1 to 12 months (the
quote without an amount is for one month); any other amount is refused with ``amount_mismatch``.

Magic card numbers (see :mod:`sika.providers.sandbox`): ``1000000000000N``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sika.providers._checks import customer_name, product_code, require_digits
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
from sika.providers.sandbox import Magic, SandboxProvider

__all__ = ["CANAL_PACKAGES", "CARD_NUMBER_DIGITS", "MONTHS_MAX", "CanalSandbox", "Package"]

CARD_NUMBER_DIGITS = 14
MONTHS_MAX = 12


@dataclass(frozen=True, slots=True)
class Package:
    code: str
    name: str
    monthly_price: int


# Monthly prices in XOF, as Canal+ sells them in Togo.
CANAL_PACKAGES: tuple[Package, ...] = (
    Package("ACCESS", "Canal+ Access", 5_000),
    Package("EVASION", "Canal+ Evasion", 10_000),
    Package("ACCESS_PLUS", "Canal+ Access+", 15_000),
    Package("EVASION_PLUS", "Canal+ Evasion+", 20_000),
    Package("TOUT_CANAL", "Tout Canal+", 40_000),
)
_PACKAGES = {package.code: package for package in CANAL_PACKAGES}


class CanalSandbox(SandboxProvider):
    name = "canal"
    display_name = "Canal+"

    def magic_reference(self, magic: Magic) -> str:
        return f"1000000000000{magic.digit}"

    def catalogue(self) -> list[CatalogueEntry]:
        products = tuple(
            Product(f"tv:{p.code}", p.name, p.monthly_price, p.monthly_price, p.monthly_price * MONTHS_MAX,
                    validity_days=30)
            for p in CANAL_PACKAGES
        )
        return [CatalogueEntry(self.name, ProductKind.TV, self.display_name, "card_number", products)]

    def _quote(self, product: str, reference: str, amount: int | None) -> Quote:
        package = _package(product)
        require_digits(reference, CARD_NUMBER_DIGITS, "Canal+ card number")
        months = _months(package, amount)
        unit = "month" if months == 1 else "months"
        return Quote(package.monthly_price * months, f"{package.name}, {months} {unit}", {
            "card_number": reference,
            "customer_name": customer_name(reference),
            "package": package.code,
            "months": str(months),
        })

    def _significant(self, reference: str) -> str:
        return reference

    def _fulfil(self, order: Order, provider_reference: str) -> Outcome:
        package = _package(order.product)
        receipt = {
            "card_number": order.reference,
            "package": package.code,
            "months": str(_months(package, order.amount)),
        }
        return Outcome(ProviderStatus.SUCCEEDED, provider_reference=provider_reference, receipt=receipt)


def _package(product: str) -> Package:
    package = _PACKAGES.get(product_code(product, "tv"))
    if package is None:
        raise ProviderRejected(f"Canal+ has no package {product!r}", code="unknown_product")
    return package


def _months(package: Package, amount: int | None) -> int:
    if amount is None:
        return 1
    months, rest = divmod(amount, package.monthly_price)
    if rest or not 1 <= months <= MONTHS_MAX:
        raise ProviderRejected(
            f"{package.name} is {package.monthly_price} XOF a month, for 1 to {MONTHS_MAX} months",
            code="amount_mismatch",
        )
    return months
