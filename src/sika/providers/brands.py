"""The brands a customer buys from, what each sells, and which kind of product that is.

A *brand* is the name the customer picks and Sika's books keep (``provider:togocom`` is the ledger
account of what Togocom's airtime cost): it does not change when the provider behind it does. Each
of a brand's *services* (a product prefix) is served by one provider adapter, or by none when that
adapter is not configured:

=========  =====================  ==============  ===================================================
brand      product                kind            served by
=========  =====================  ==============  ===================================================
togocom    ``airtime``            airtime         Africa's Talking Airtime
togocom    ``data:<bundle>``      data            the biller aggregator
moov       ``airtime``            airtime         Africa's Talking Airtime
moov       ``data:<bundle>``      data            the biller aggregator
ceet       ``electricity``        electricity     the biller aggregator
tde        ``water``              water           the biller aggregator
canal      ``tv:<package>``       tv              the biller aggregator
card       ``card_topup``         card            CinetPay (its hosted card page)
card       ``card_payment``       card            CinetPay
paygate    ``wallet_topup:FLOOZ`` mobile money    PayGate Global (Flooz, T-Money)
=========  =====================  ==============  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from sika.providers._checks import REFERENCE_CHARS_MAX
from sika.providers.base import ProductKind, ProviderRejected

__all__ = ["BRANDS", "Brand", "Service", "service_of"]


@dataclass(frozen=True, slots=True)
class Service:
    """Products whose code is ``prefix`` or starts with ``prefix`` when it ends with a colon."""

    prefix: str
    kind: ProductKind
    # The adapter family serving it: "africastalking", "biller", "cinetpay", "paygate".
    adapter: str
    # What it is called in an error or a banner ("airtime", "card payments").
    label: str

    def matches(self, product: str) -> bool:
        if self.prefix.endswith(":"):
            return product.startswith(self.prefix) and len(product) > len(self.prefix)
        return product == self.prefix


@dataclass(frozen=True, slots=True)
class Brand:
    name: str
    display_name: str
    # What the customer types to name what is paid for: "msisdn", "meter_number", ...
    reference: str
    services: tuple[Service, ...]


_AIRTIME = Service("airtime", ProductKind.AIRTIME, "africastalking", "airtime")
_DATA = Service("data:", ProductKind.DATA, "biller", "data bundles")

BRANDS: dict[str, Brand] = {brand.name: brand for brand in (
    Brand("togocom", "Togocom", "msisdn", (_AIRTIME, _DATA)),
    Brand("moov", "Moov Africa", "msisdn", (_AIRTIME, _DATA)),
    Brand("ceet", "CEET Cash Power", "meter_number",
          (Service("electricity", ProductKind.ELECTRICITY, "biller", "electricity"),)),
    Brand("tde", "TdE", "subscriber_reference",
          (Service("water", ProductKind.WATER, "biller", "water bills"),)),
    Brand("canal", "Canal+", "card_number", (Service("tv:", ProductKind.TV, "biller", "renewals"),)),
    Brand("card", "Card", "card_label",
          (Service("card_topup", ProductKind.CARD, "cinetpay", "top-ups"),
           Service("card_payment", ProductKind.CARD, "cinetpay", "payments"))),
    Brand("paygate", "PayGate", "msisdn",
          (Service("wallet_topup:", ProductKind.MOBILE_MONEY, "paygate", "Flooz and T-Money top-ups"),)),
)}


def service_of(brand: str, product: str) -> tuple[Brand, Service]:
    """The brand and the service that sells ``product``, or :class:`ProviderRejected`."""
    found = BRANDS.get(brand)
    if found is None:
        raise ProviderRejected(f"no provider {brand[:REFERENCE_CHARS_MAX]!r}", code="unknown_provider")
    for service in found.services:
        if service.matches(product):
            return found, service
    raise ProviderRejected(f"{found.display_name} sells no {product[:REFERENCE_CHARS_MAX]!r}",
                           code="unknown_product")
