"""A card processor: top up a wallet from a Visa, Mastercard or GIM-UEMOA card.

Product ``card_topup``; the reference is a card number (12 to 19 digits, Luhn-checked) or a token the
processor issued for a saved card (``tok_`` then 4 to 60 letters, digits or ``_``). Prefer tokens: a
card number in an order travels wherever the order does. Quotes, receipts and messages show the
last four digits only.

Every payment answers PENDING with a ``redirect_url`` in the receipt, as 3-D Secure does: the
customer confirms on the issuer's page, and the result arrives by callback or through status().
The sandbox confirms by itself after the callback delay; some payments are declined.

Magic references (see :mod:`sika.providers.sandbox`): 16-digit card numbers ``4``, 13 zeros, ``N``,
then the check digit (``4000000000000010`` for N=1), and tokens ending in ``00000N``
(``tok_sandbox_00000N``).
"""

from __future__ import annotations

import re

from sika.providers._checks import check_amount, digest, luhn_check_digit, luhn_valid
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

__all__ = ["CardSandbox", "card_brand"]

_TOKEN = re.compile(r"tok_[A-Za-z0-9_]{4,60}")
_CARD_DIGITS_MIN = 12
_CARD_DIGITS_MAX = 19
_MASTERCARD_2_SERIES = range(2221, 2721)


def card_brand(number: str) -> str:
    """The network from a card number's first digits (its IIN), enough to show the customer."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or int(number[:4] or "0") in _MASTERCARD_2_SERIES:
        return "mastercard"
    return "card"


class CardSandbox(SandboxProvider):
    name = "card"
    display_name = "Card"
    asynchronous = True

    def __init__(
        self, behaviour: SandboxBehaviour | None = None, *, amount_min: int = 500, amount_max: int = 500_000,
        payment_min: int = 100,
    ) -> None:
        assert 0 < amount_min <= amount_max and 0 < payment_min <= amount_max
        super().__init__(behaviour)
        self.amount_min = amount_min
        self.amount_max = amount_max
        # Paying for something (a ride) may cost less than the smallest top-up.
        self.payment_min = payment_min

    def magic_reference(self, magic: Magic) -> str:
        body = "4" + "0" * 13 + magic.digit
        return body + luhn_check_digit(body)

    def catalogue(self) -> list[CatalogueEntry]:
        top_up = Product("card_topup", "Card top-up", None, self.amount_min, self.amount_max)
        payment = Product("card_payment", "Card payment", None, self.payment_min, self.amount_max)
        return [CatalogueEntry(self.name, ProductKind.CARD, self.display_name, "card_number_or_token",
                               (top_up, payment))]

    def _quote(self, product: str, reference: str, amount: int | None) -> Quote:
        if product not in ("card_topup", "card_payment"):
            raise ProviderRejected("the card processor takes top-ups and payments only",
                                   code="unknown_product")
        details = _card_details(reference)
        least = self.amount_min if product == "card_topup" else self.payment_min
        paid = check_amount(amount, least, self.amount_max)
        shown = f"{details['brand']} ending {details['last4']}" if "last4" in details else "saved card"
        what = "Card top-up" if product == "card_topup" else "Card payment"
        return Quote(paid, f"{what}, {shown}", details)

    def _significant(self, reference: str) -> str:
        if reference.startswith("tok_"):
            return "".join(char for char in reference if char.isdigit())
        return reference[:-1]

    def _pending(self, order: Order, provider_reference: str) -> Outcome:
        url = f"https://sandbox.card.sika.invalid/3ds/{provider_reference}"
        return Outcome(ProviderStatus.PENDING, provider_reference=provider_reference,
                       receipt={"redirect_url": url})

    def _declined(self, order: Order, provider_reference: str) -> Outcome:
        return Outcome(ProviderStatus.FAILED, provider_reference=provider_reference, error_code="declined",
                       message="the issuer declined the payment", receipt=_card_details(order.reference))

    def _fulfil(self, order: Order, provider_reference: str) -> Outcome:
        receipt = _card_details(order.reference)
        receipt["authorization_code"] = f"{digest('authorization', order.id) % 1_000_000:06d}"
        return Outcome(ProviderStatus.SUCCEEDED, provider_reference=provider_reference, receipt=receipt)


def _card_details(reference: str) -> dict[str, str]:
    if reference.startswith("tok_"):
        if not _TOKEN.fullmatch(reference):
            raise ProviderRejected("this card token is not one we issued", code="invalid_reference")
        return {"brand": "card"}
    if not _CARD_DIGITS_MIN <= len(reference) <= _CARD_DIGITS_MAX or not luhn_valid(reference):
        raise ProviderRejected("this card number is not valid; check it", code="invalid_reference")
    return {"brand": card_brand(reference), "last4": reference[-4:]}
