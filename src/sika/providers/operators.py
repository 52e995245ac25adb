"""Togo's mobile operators, Togocom and Moov Africa: airtime top-ups and data bundles.

The reference is the customer's number in E.164 (``+22890112233``). Numbers move between operators
(portability), so :func:`operator_hint` only suggests one; the customer picks the operator, and each
operator tops up any Togolese mobile number it is given.

Products: ``airtime`` (the customer chooses the amount, ``airtime_amount_min`` to
``airtime_amount_max`` XOF, 100 to 100,000 by default) and ``data:<bundle code>`` (the catalogue
price; an amount that differs is refused with ``amount_mismatch``).

Magic numbers (see :mod:`sika.providers.sandbox`): ``+2289000000N`` at Togocom and ``+2289900000N``
at Moov, N from 1 to 6; any Togolese number ending in ``00000N`` behaves the same at both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sika.providers._checks import check_amount, product_code, require_togo_msisdn
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
from sika.providers.sandbox import Magic, SandboxBehaviour, SandboxProvider

__all__ = [
    "AIRTIME_AMOUNT_MAX",
    "AIRTIME_AMOUNT_MIN",
    "MOOV_BUNDLES",
    "MOOV_PREFIXES",
    "TOGOCOM_BUNDLES",
    "TOGOCOM_PREFIXES",
    "Bundle",
    "MoovSandbox",
    "OperatorSandbox",
    "TogocomSandbox",
    "operator_hint",
]

AIRTIME_AMOUNT_MIN = 100
AIRTIME_AMOUNT_MAX = 100_000
# The two-digit prefixes each operator was allotted; a ported number keeps its old one.
TOGOCOM_PREFIXES = frozenset({"70", "71", "72", "73", "90", "91", "92", "93"})
MOOV_PREFIXES = frozenset({"78", "79", "96", "97", "98", "99"})
_TOGO_MSISDN_CHARS = len("+22890112233")


def operator_hint(msisdn: str) -> str | None:
    """``"togocom"`` or ``"moov"`` from a Togolese number's prefix, or None: a hint to preselect."""
    text = msisdn.strip()
    if len(text) != _TOGO_MSISDN_CHARS or not text.startswith("+228") or not text[1:].isdigit():
        return None
    prefix = text[4:6]
    if prefix in TOGOCOM_PREFIXES:
        return "togocom"
    if prefix in MOOV_PREFIXES:
        return "moov"
    return None


@dataclass(frozen=True, slots=True)
class Bundle:
    code: str
    name: str
    volume_mb: int
    validity_days: int
    price: int


_GB_MB = 1_024

TOGOCOM_BUNDLES: tuple[Bundle, ...] = (
    Bundle("J100MO", "Pass Jour 100 Mo", 100, 1, 100),
    Bundle("J1GO", "Pass Jour 1 Go", 1 * _GB_MB, 1, 500),
    Bundle("S2GO", "Pass Semaine 2 Go", 2 * _GB_MB, 7, 1_000),
    Bundle("S5GO", "Pass Semaine 5 Go", 5 * _GB_MB, 7, 2_000),
    Bundle("M10GO", "Pass Mois 10 Go", 10 * _GB_MB, 30, 5_000),
    Bundle("M25GO", "Pass Mois 25 Go", 25 * _GB_MB, 30, 10_000),
    Bundle("M60GO", "Pass Mois 60 Go", 60 * _GB_MB, 30, 20_000),
)

MOOV_BUNDLES: tuple[Bundle, ...] = (
    Bundle("DAY250", "Internet Jour 250 Mo", 250, 1, 200),
    Bundle("DAY1500", "Internet Jour 1,5 Go", 1_536, 1, 500),
    Bundle("WEEK3G", "Internet Semaine 3 Go", 3 * _GB_MB, 7, 1_000),
    Bundle("WEEK6G", "Internet Semaine 6 Go", 6 * _GB_MB, 7, 2_000),
    Bundle("MONTH12G", "Internet Mois 12 Go", 12 * _GB_MB, 30, 5_000),
    Bundle("MONTH30G", "Internet Mois 30 Go", 30 * _GB_MB, 30, 10_000),
    Bundle("MONTH75G", "Internet Mois 75 Go", 75 * _GB_MB, 30, 20_000),
)


class OperatorSandbox(SandboxProvider):
    display_name: ClassVar[str]
    bundles: ClassVar[tuple[Bundle, ...]]
    _magic_prefix: ClassVar[str]

    def __init__(
        self,
        behaviour: SandboxBehaviour | None = None,
        *,
        airtime_amount_min: int = AIRTIME_AMOUNT_MIN,
        airtime_amount_max: int = AIRTIME_AMOUNT_MAX,
    ) -> None:
        assert 0 < airtime_amount_min <= airtime_amount_max, (airtime_amount_min, airtime_amount_max)
        super().__init__(behaviour)
        self.airtime_amount_min = airtime_amount_min
        self.airtime_amount_max = airtime_amount_max
        self._bundles = {bundle.code: bundle for bundle in self.bundles}

    def magic_reference(self, magic: Magic) -> str:
        return f"+228{self._magic_prefix}00000{magic.digit}"

    def catalogue(self) -> list[CatalogueEntry]:
        airtime = Product("airtime", "Airtime", None, self.airtime_amount_min, self.airtime_amount_max)
        data = tuple(
            Product(f"data:{b.code}", b.name, b.price, b.price, b.price, b.volume_mb, b.validity_days)
            for b in self.bundles
        )
        return [
            CatalogueEntry(self.name, ProductKind.AIRTIME, self.display_name, "msisdn", (airtime,)),
            CatalogueEntry(self.name, ProductKind.DATA, self.display_name, "msisdn", data),
        ]

    def _quote(self, product: str, reference: str, amount: int | None) -> Quote:
        msisdn = require_togo_msisdn(reference)
        if product == "airtime":
            paid = check_amount(amount, self.airtime_amount_min, self.airtime_amount_max)
            return Quote(paid, f"{self.display_name} airtime for {msisdn}",
                         {"msisdn": msisdn, "operator": self.name})
        bundle = self._bundle(product)
        if amount is not None and amount != bundle.price:
            raise ProviderRejected(f"{bundle.name} costs {bundle.price} XOF", code="amount_mismatch")
        return Quote(bundle.price, f"{self.display_name} {bundle.name} for {msisdn}", {
            "msisdn": msisdn,
            "operator": self.name,
            "bundle": bundle.code,
            "volume_mb": str(bundle.volume_mb),
            "validity_days": str(bundle.validity_days),
        })

    def _significant(self, reference: str) -> str:
        return reference[1:]

    def _fulfil(self, order: Order, provider_reference: str) -> Outcome:
        receipt = {"msisdn": order.reference, "amount": str(order.amount)}
        if order.product != "airtime":
            bundle = self._bundle(order.product)
            receipt |= {"bundle": bundle.code, "volume_mb": str(bundle.volume_mb),
                        "validity_days": str(bundle.validity_days)}
        return Outcome(ProviderStatus.SUCCEEDED, provider_reference=provider_reference, receipt=receipt)

    def _bundle(self, product: str) -> Bundle:
        bundle = self._bundles.get(product_code(product, "data"))
        if bundle is None:
            raise ProviderRejected(f"{self.display_name} has no bundle {product[:64]!r}",
                                   code="unknown_product")
        return bundle


class TogocomSandbox(OperatorSandbox):
    name = "togocom"
    display_name = "Togocom"
    bundles = TOGOCOM_BUNDLES
    _magic_prefix = "90"


class MoovSandbox(OperatorSandbox):
    name = "moov"
    display_name = "Moov Africa"
    bundles = MOOV_BUNDLES
    _magic_prefix = "99"
