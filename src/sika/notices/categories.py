"""Every outbound message kind belongs to one category, which decides whether it may wait.

``security`` (codes that protect an account), ``transaction`` (receipts, vouchers, approvals),
``service`` (rides, and anything not named here: a new kind never waits by mistake) always go at
once; ``marketing`` (kinds starting ``marketing_``) waits for the customer's window and consent.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["CATEGORIES", "MARKETING_PREFIX", "Category", "category_of"]

Category = Literal["security", "transaction", "service", "marketing"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
MARKETING_PREFIX = "marketing_"

_SECURITY = frozenset({"pin_reset_code"})
_TRANSACTION = frozenset({"voucher_received", "voucher_code_to_pass_on", "approval_requested"})


def category_of(kind: str) -> Category:
    if kind in _SECURITY:
        return "security"
    if kind.startswith("receipt_") or kind in _TRANSACTION:
        return "transaction"
    if kind.startswith(MARKETING_PREFIX):
        return "marketing"
    return "service"
