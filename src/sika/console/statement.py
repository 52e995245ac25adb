"""A wallet as the console shows it: its state, and its movements.

The movements are the wallet's statement (:mod:`sika.payments.statement`): each movement once as the
customer sees it, the amounts of completed items adding up to the balance, rendered as the REST API
and the CLI render it (:func:`sika.chat.statement_text.as_dict`), in the operator's language.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.statement_text import as_dict
from sika.ledger import Account
from sika.payments.approvals import Approval
from sika.payments.meters import month_of
from sika.wallet import Customer, TierLimits

__all__ = ["WalletState", "wallet_movements", "wallet_state"]

MOVEMENTS_MAX = 200


@dataclass(frozen=True, slots=True)
class WalletState:
    customer: Customer
    account: Account
    limits: TierLimits
    month: str
    inflow_month: int
    pin: str  # "set", "not_set", "locked"
    pin_locked_until_ns: int | None
    vouchers: list[dict[str, Any]]
    approvals: list[Approval]

    @property
    def balance_used_bp(self) -> int:
        """The balance as a share of the tier's cap, in basis points (for the bar)."""
        return min(10_000, self.account.balance * 10_000 // max(1, self.limits.balance_max))

    @property
    def inflow_used_bp(self) -> int:
        return min(10_000, self.inflow_month * 10_000 // max(1, self.limits.inflow_month_max))


def wallet_state(container: Container, customer: Customer) -> WalletState:
    assert customer.account_id is not None
    now = time.time_ns()
    month = month_of(now)
    locked = customer.pin_locked_until_ns is not None and customer.pin_locked_until_ns > now
    return WalletState(
        customer=customer, account=container.ledger.get_account(customer.account_id),
        limits=container.customers.limits(customer), month=month,
        inflow_month=container.payments.meters.used(customer.id, month),
        pin="locked" if locked else ("set" if customer.has_pin else "not_set"),
        pin_locked_until_ns=customer.pin_locked_until_ns if locked else None,
        vouchers=container.payments.vouchers_for(customer.msisdn),
        approvals=container.approvals.pending_for(customer.id))


def wallet_movements(container: Container, customer: Customer, *, language: str, limit: int = 50,
                     cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The wallet's statement, newest first, as shown items and the next page's cursor."""
    assert 0 < limit <= MOVEMENTS_MAX
    page = container.statements.page(customer, limit=limit, cursor=cursor)
    t = translator(language)
    return [as_dict(t, item) for item in page.items], page.next_cursor
