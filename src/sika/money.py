"""Money is an integer count of a currency's minor unit plus an ISO 4217 code; never a float."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["CURRENCIES", "XOF", "XOF_PER_EUR", "Currency", "currency"]


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

# The CFA franc's fixed parity, exact: 1 EUR = 655.957 XOF.
XOF_PER_EUR = Fraction(655_957, 1_000)


def currency(code: str) -> Currency | None:
    return CURRENCIES.get(code)
