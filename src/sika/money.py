"""Money is an integer count of a currency's minor unit plus an ISO 4217 code; never a float."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CURRENCIES", "XOF", "Currency", "currency"]


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    numeric: int
    minor_units: int


# The currencies Sika's cities and corridors use. XOF (West African CFA franc) has no minor unit.
CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("XOF", 952, 0),
        Currency("XAF", 950, 0),
        Currency("GNF", 324, 0),
        Currency("EUR", 978, 2),
        Currency("USD", 840, 2),
        Currency("GHS", 936, 2),
        Currency("NGN", 566, 2),
    )
}
XOF = CURRENCIES["XOF"]

def currency(code: str) -> Currency | None:
    return CURRENCIES.get(code)
