"""A purchase's quote: what the provider priced, and for how long the customer may pay that price.

A chat shows the quote (amount, fee, what it buys) and asks to confirm, then for the PIN. The buy pays
the quote the customer confirmed while it is fresh (``FRESH_S``) rather than asking the provider again
at the PIN: what is charged is what was shown, and a bill costs one round trip to the biller less. A
stale quote is asked for again, and a price that moved meanwhile (the amount or the fee) is refused
(``quote_changed``), nothing paid: the customer confirms the new one. A quote of another purchase than
the buy names is not used at all (the buy is quoted as if none had been given).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sika.errors import SikaError

__all__ = ["FRESH_S", "PurchaseQuote", "QuoteChanged"]

# As long as a chat keeps a conversation between two messages (sika.chat.state.IDLE_S): a quote a
# person confirmed and then paid within it is the price they saw.
FRESH_S = 5 * 60
_NS = 1_000_000_000


class QuoteChanged(SikaError):
    code = "quote_changed"


@dataclass(frozen=True, slots=True)
class PurchaseQuote:
    provider: str
    product: str
    reference: str
    amount: int
    fee: int
    description: str
    details: dict[str, str]
    quoted_ns: int = field(default=0)  # when the provider priced it (0: not known, never fresh)

    @property
    def total(self) -> int:
        return self.amount + self.fee

    @property
    def price(self) -> tuple[int, int]:
        """What the customer is shown and charged: the amount and the fee."""
        return self.amount, self.fee

    def fresh_for(self, provider: str, product: str, reference: str, amount: int | None, *,
                  now_ns: int) -> bool:
        """Whether this quote prices the purchase named (``reference`` as the quote normalized it,
        ``amount`` the quote's: a buy that names no amount is quoted again) and is young enough to be
        paid as it is."""
        return (self.quoted_ns > 0
                and 0 <= now_ns - self.quoted_ns <= FRESH_S * _NS
                and (self.provider, self.product, self.reference) == (provider, product, reference)
                and amount == self.amount)

    def names(self, other: PurchaseQuote) -> bool:
        """Whether ``other`` prices the same purchase (whatever its price)."""
        return (self.provider, self.product, self.reference) == (
            other.provider, other.product, other.reference)

    def as_json(self) -> dict[str, Any]:
        """What a conversation keeps of the quote (:meth:`from_json` reads it back)."""
        return {"provider": self.provider, "product": self.product, "reference": self.reference,
                "amount": self.amount, "fee": self.fee, "description": self.description,
                "details": self.details, "quoted_ns": self.quoted_ns}

    @classmethod
    def from_json(cls, kept: Any) -> PurchaseQuote | None:
        """The quote a conversation kept; None for anything that is not one (an older session's
        state, a damaged row): the buy then asks the provider again."""
        if not isinstance(kept, dict):
            return None
        try:
            quote = cls(provider=str(kept["provider"]), product=str(kept["product"]),
                        reference=str(kept["reference"]), amount=_integer(kept["amount"]),
                        fee=_integer(kept["fee"]), description=str(kept["description"]),
                        details={str(k): str(v) for k, v in dict(kept["details"]).items()},
                        quoted_ns=_integer(kept["quoted_ns"]))
        except (KeyError, TypeError, ValueError):
            return None
        return quote if quote.amount > 0 and quote.fee >= 0 else None


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value
