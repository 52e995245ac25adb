"""CEET Cash Power: prepaid electricity. The customer pays, the meter takes a 20-digit token.

Meter numbers have 11 digits: 10 digits then a Luhn check digit, so that a mistyped meter is refused
at the quote instead of sending electricity to a neighbour. Product ``electricity``; the customer
chooses the amount (500 to 500,000 XOF by default). The receipt holds the token in five groups of
four digits (``"1234-5678-9012-3456-7890"``), the kWh bought and the meter.

Magic meters (see :mod:`sika.providers.sandbox`): ``100000000N`` followed by its check digit.
"""

from __future__ import annotations

from sika.providers._checks import check_amount, customer_name, digest, luhn_check_digit, luhn_valid
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

__all__ = ["METER_DIGITS", "TOKEN_DIGITS", "CeetSandbox", "format_token"]

METER_DIGITS = 11
TOKEN_DIGITS = 20
_TOKEN_GROUP_DIGITS = 4


def format_token(digits: str) -> str:
    """``"12345678901234567890"`` as ``"1234-5678-9012-3456-7890"``, the way meters show and take it."""
    assert len(digits) == TOKEN_DIGITS and digits.isascii() and digits.isdigit(), digits
    return "-".join(digits[i:i + _TOKEN_GROUP_DIGITS] for i in range(0, TOKEN_DIGITS, _TOKEN_GROUP_DIGITS))


def _kwh(amount: int, tariff_xof_per_kwh: int) -> str:
    # Integer arithmetic, tenths of a kWh rounded down: money never goes through a float.
    tenths = amount * 10 // tariff_xof_per_kwh
    return f"{tenths // 10}.{tenths % 10}"


class CeetSandbox(SandboxProvider):
    name = "ceet"
    display_name = "CEET Cash Power"

    def __init__(
        self,
        behaviour: SandboxBehaviour | None = None,
        *,
        amount_min: int = 500,
        amount_max: int = 500_000,
        tariff_xof_per_kwh: int = 112,
    ) -> None:
        assert 0 < amount_min <= amount_max and tariff_xof_per_kwh > 0
        super().__init__(behaviour)
        self.amount_min = amount_min
        self.amount_max = amount_max
        self.tariff_xof_per_kwh = tariff_xof_per_kwh

    def magic_reference(self, magic: Magic) -> str:
        body = f"100000000{magic.digit}"
        return body + luhn_check_digit(body)

    def catalogue(self) -> list[CatalogueEntry]:
        product = Product("electricity", "Cash Power", None, self.amount_min, self.amount_max)
        return [CatalogueEntry(self.name, ProductKind.ELECTRICITY, self.display_name, "meter_number",
                               (product,))]

    def _quote(self, product: str, reference: str, amount: int | None) -> Quote:
        if product != "electricity":
            raise ProviderRejected(f"{self.display_name} sells electricity only", code="unknown_product")
        if len(reference) != METER_DIGITS or not luhn_valid(reference):
            raise ProviderRejected(f"a Cash Power meter number is {METER_DIGITS} digits; check it",
                                   code="invalid_reference")
        paid = check_amount(amount, self.amount_min, self.amount_max)
        units_kwh = _kwh(paid, self.tariff_xof_per_kwh)
        return Quote(paid, f"{self.display_name} meter {reference}: {units_kwh} kWh", {
            "meter": reference,
            "customer_name": customer_name(reference),
            "units_kwh": units_kwh,
            "tariff_xof_per_kwh": str(self.tariff_xof_per_kwh),
        })

    def _significant(self, reference: str) -> str:
        return reference[:-1]

    def _fulfil(self, order: Order, provider_reference: str) -> Outcome:
        token = str(digest("token", order.id, order.reference) % 10**TOKEN_DIGITS).zfill(TOKEN_DIGITS)
        receipt = {
            "token": format_token(token),
            "units_kwh": _kwh(order.amount, self.tariff_xof_per_kwh),
            "meter": order.reference,
        }
        return Outcome(ProviderStatus.SUCCEEDED, provider_reference=provider_reference, receipt=receipt)
