"""Reading what providers send: numbers that arrive as strings, bounded texts, callback bodies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from sika.providers.base import ForgedCallback

__all__ = ["CALLBACK_BYTES_MAX", "amount_of", "form", "integer", "json_object", "text"]

CALLBACK_BYTES_MAX = 16 * 1024
_DIGITS_MAX = 15
_FIELDS_MAX = 100


def integer(value: Any) -> int | None:
    """A whole number sent as a number or as text ("1000", "1000.00"); None for anything else.
    XOF has no minor unit: a fractional amount is not an amount Sika can take."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        whole, dot, fraction = value.strip().partition(".")
        if dot and fraction.strip("0"):
            return None
        if whole.lstrip("-").isdigit() and len(whole) <= _DIGITS_MAX:
            return int(whole)
    return None


def amount_of(value: Any, currency: str = "XOF") -> int | None:
    """An amount written with its currency, as Africa's Talking does (``"XOF 1000.0000"``)."""
    if not isinstance(value, str):
        return integer(value)
    code, _, number = value.strip().partition(" ")
    if code != currency:
        return None
    return integer(number)


def text(value: Any, chars_max: int = 80) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:chars_max]
    return None


def json_object(raw: bytes, provider: str) -> dict[str, Any]:
    if len(raw) > CALLBACK_BYTES_MAX:
        raise ForgedCallback(f"a {provider} callback larger than any it sends")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ForgedCallback(f"a {provider} callback that is not JSON") from exc
    if not isinstance(body, dict):
        raise ForgedCallback(f"a {provider} callback that is not a JSON object")
    return body


def form(raw: bytes, provider: str) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the last value of a repeated field wins)."""
    if len(raw) > CALLBACK_BYTES_MAX:
        raise ForgedCallback(f"a {provider} callback larger than any it sends")
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=_FIELDS_MAX)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ForgedCallback(f"a {provider} callback that is not a form") from exc
    return dict(pairs)
