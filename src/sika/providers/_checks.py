"""Checks shared by the adapters: references, check digits, amounts, product codes, callback origins."""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from sika.phones import InvalidMsisdn, normalize
from sika.providers.base import CallbackRequest, ForgedCallback, ProviderRejected

__all__ = [
    "REFERENCE_CHARS_MAX",
    "check_amount",
    "check_origin",
    "luhn_check_digit",
    "luhn_valid",
    "product_code",
    "require_digits",
    "require_msisdn",
    "require_togo_msisdn",
]

# Typed input is bounded before any parsing: no reference a provider takes is longer than this.
REFERENCE_CHARS_MAX = 64
_NETWORKS_MAX = 64


def require_digits(reference: str, length: int, what: str) -> str:
    if len(reference) != length or not (reference.isascii() and reference.isdigit()):
        raise ProviderRejected(f"a {what} is {length} digits", code="invalid_reference")
    return reference


def require_msisdn(reference: str) -> str:
    """A mobile number of the XOF zone already in E.164 (``+22890112233``, ``+2250700000000``)."""
    try:
        msisdn = normalize(reference)
    except InvalidMsisdn as exc:
        raise ProviderRejected(exc.message, code="invalid_reference") from exc
    if msisdn != reference:
        raise ProviderRejected("a mobile number in E.164, like +22890112233", code="invalid_reference")
    return msisdn


def require_togo_msisdn(reference: str) -> str:
    """A Togolese mobile number already in E.164, as Togo's operators and aggregators take it."""
    msisdn = require_msisdn(reference)
    if not msisdn.startswith("+228"):
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


@lru_cache(maxsize=16)
def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if len(parts) > _NETWORKS_MAX:
        raise ValueError(f"at most {_NETWORKS_MAX} allowed networks")
    return tuple(ipaddress.ip_network(part, strict=False) for part in parts)


def check_origin(request: CallbackRequest, *, provider: str, allowed_ips: str, token: str | None) -> None:
    """For providers that sign nothing: the source must be in ``allowed_ips`` (comma-separated
    addresses or CIDRs; empty: any) and the URL must carry ``?token=<token>`` when a token is set
    (compared in constant time). Raises :class:`ForgedCallback`."""
    networks = _networks(allowed_ips)
    if networks:
        try:
            address = ipaddress.ip_address(request.client_host or "")
        except ValueError as exc:
            raise ForgedCallback(f"a {provider} callback from an unknown address") from exc
        if not any(address in network for network in networks):
            raise ForgedCallback(f"a {provider} callback from {address}, not an allowed address")
    if token and not hmac.compare_digest(request.query.get("token", "").encode(), token.encode()):
        raise ForgedCallback(f"a {provider} callback without its token")
