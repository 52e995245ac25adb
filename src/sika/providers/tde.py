"""TdE (Togolaise des Eaux): water bills, looked up by the subscriber's 8-digit reference.

The quote returns the amount due for the latest bill; payment must match it exactly (TdE takes no
partial payments), else ``amount_mismatch``. Once paid, the bill is settled: another quote or
payment for it is refused with ``nothing_due``.

Sandbox conventions: references starting with ``0`` have no subscriber (``invalid_reference``);
references ending in ``00`` owe nothing (``nothing_due``); every other subscriber owes an amount
drawn from the reference (2,500 to 32,450 XOF, the same in every run) for last month's bill.
Magic references (see :mod:`sika.providers.sandbox`): ``1000000N``.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime

from sika.providers._checks import customer_name, digest, require_digits
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

__all__ = ["SUBSCRIBER_DIGITS", "TdeSandbox"]

SUBSCRIBER_DIGITS = 8
_DUE_MIN = 2_500
_DUE_STEP = 50
_DUE_STEPS = 600
_DUE_MAX = _DUE_MIN + (_DUE_STEPS - 1) * _DUE_STEP


def _last_month() -> str:
    today = datetime.now(UTC).date()
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


class TdeSandbox(SandboxProvider):
    name = "tde"
    display_name = "TdE"

    def __init__(self, behaviour: SandboxBehaviour | None = None) -> None:
        super().__init__(behaviour)
        self._paid: OrderedDict[tuple[str, str], None] = OrderedDict()

    def magic_reference(self, magic: Magic) -> str:
        return f"1000000{magic.digit}"

    def catalogue(self) -> list[CatalogueEntry]:
        product = Product("water", "Water bill", None, _DUE_MIN, _DUE_MAX)
        return [CatalogueEntry(self.name, ProductKind.WATER, self.display_name, "subscriber_reference",
                               (product,))]

    def _quote(self, product: str, reference: str, amount: int | None) -> Quote:
        if product != "water":
            raise ProviderRejected(f"{self.display_name} sells water only", code="unknown_product")
        period = _last_month()
        due = self._due(reference, period)
        if amount is not None and amount != due:
            raise ProviderRejected(f"the bill is {due} XOF, to be paid in full", code="amount_mismatch")
        return Quote(due, f"{self.display_name} subscriber {reference}: bill {period}", {
            "subscriber": reference,
            "customer_name": customer_name(reference),
            "period": period,
        })

    def _significant(self, reference: str) -> str:
        return reference

    def _fulfil(self, order: Order, provider_reference: str) -> Outcome:
        # Checked again: another order may have paid the bill while this one was pending.
        period = _last_month()
        try:
            due = self._due(order.reference, period)
        except ProviderRejected as exc:
            return Outcome(ProviderStatus.FAILED, provider_reference=provider_reference,
                           error_code=exc.code, message=exc.message)
        if due != order.amount:
            return Outcome(ProviderStatus.FAILED, provider_reference=provider_reference,
                           error_code="amount_mismatch", message=f"the bill is now {due} XOF")
        self._paid[order.reference, period] = None
        if len(self._paid) > self.behaviour.orders_max:
            self._paid.popitem(last=False)
        receipt = {"subscriber": order.reference, "period": period, "amount": str(order.amount)}
        return Outcome(ProviderStatus.SUCCEEDED, provider_reference=provider_reference, receipt=receipt)

    def _due(self, reference: str, period: str) -> int:
        require_digits(reference, SUBSCRIBER_DIGITS, "TdE subscriber reference")
        if reference.startswith("0"):
            raise ProviderRejected(f"{self.display_name} has no subscriber {reference}",
                                   code="invalid_reference")
        if reference.endswith("00") or (reference, period) in self._paid:
            raise ProviderRejected(f"subscriber {reference} owes nothing", code="nothing_due")
        return _DUE_MIN + digest("bill", reference) % _DUE_STEPS * _DUE_STEP
