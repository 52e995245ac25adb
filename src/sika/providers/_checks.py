"""Checks shared by the adapters: references, check digits, amounts, product codes."""

from __future__ import annotations

import hashlib

from sika.phones import InvalidMsisdn, normalize
from sika.providers.base import ProviderRejected

__all__ = [
    "REFERENCE_CHARS_MAX",
    "check_amount",
    "customer_name",
    "digest",
    "luhn_check_digit",
    "luhn_valid",
    "product_code",
    "require_digits",
    "require_togo_msisdn",
]

# Typed input is bounded before any parsing: no reference a provider takes is longer than this.
REFERENCE_CHARS_MAX = 64


def require_digits(reference: str, length: int, what: str) -> str:
    if len(reference) != length or not (reference.isascii() and reference.isdigit()):
        raise ProviderRejected(f"a {what} is {length} digits", code="invalid_reference")
    return reference


def require_togo_msisdn(reference: str) -> str:
    """A Togolese mobile number already in E.164, as Togo's operators and aggregators take it."""
    try:
        msisdn = normalize(reference)
    except InvalidMsisdn as exc:
        raise ProviderRejected(exc.message, code="invalid_reference") from exc
    if msisdn != reference or not msisdn.startswith("+228"):
        raise ProviderRejected("a Togolese mobile number in E.164, like +22890112233",
                               code="invalid_reference")
    return msisdn


def luhn_check_digit(body: str) -> str:
    """The Luhn (mod 10) digit to append to ``body``: it catches every single-digit typo and most
    swaps of neighbouring digits, the two mistakes people make when copying a number."""
    assert body.isascii() and body.isdigit(), body
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return (
        len(number) >= 2
        and number.isascii()
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def check_amount(amount: int | None, amount_min: int, amount_max: int) -> int:
    if amount is None:
        raise ProviderRejected("this product needs an amount", code="amount_required")
    assert isinstance(amount, int) and not isinstance(amount, bool), amount
    if amount < amount_min:
        raise ProviderRejected(f"the least is {amount_min} XOF", code="amount_below_minimum")
    if amount > amount_max:
        raise ProviderRejected(f"the most is {amount_max} XOF", code="amount_above_maximum")
    return amount


def product_code(product: str, prefix: str) -> str:
    """The code in ``"<prefix>:<code>"``, or :class:`ProviderRejected` ``unknown_product``."""
    kind, _, code = product.partition(":")
    if kind != prefix or not code:
        raise ProviderRejected(f"unknown product {product[:REFERENCE_CHARS_MAX]!r}", code="unknown_product")
    return code


def digest(*parts: str) -> int:
    """A stable number drawn from ``parts``: sandboxes derive tokens, names and bills from it, so that
    the same order or reference gives the same answer in every run."""
    data = "\x1f".join(parts).encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:16], "big")


# Sandbox account holders: plausible Togolese names, one per reference, the same in every run.
_NAMES = (
    "Kossi Agbeko", "Ama Mensah", "Komlan Adjavon", "Afi Lawson", "Yao Amouzou", "Akossiwa Dogbe",
    "Kodjo Tchalla", "Essi Kpodar", "Edem Ahadji", "Abla Gbeassor", "Koffi Sossou", "Adjoa Attiogbe",
)


def customer_name(reference: str) -> str:
    return _NAMES[digest("customer", reference) % len(_NAMES)]
