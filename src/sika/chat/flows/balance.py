"""What the wallet holds: its balance (and what is available now), and its last movements.

Both are one screen that ends the flow; on USSD the PIN comes first (:mod:`.pin_gate`). The balance
read ahead with a batch of messages (``Context.account``) serves when no money moved since.
"""

from __future__ import annotations

from sika.chat.context import Context
from sika.chat.flows.pin_gate import read
from sika.chat.texts.statement import history_text

__all__ = ["HISTORY_ITEMS", "show", "show_balance", "show_history"]

HISTORY_ITEMS = 5


def show_balance(ctx: Context) -> None:
    assert ctx.customer is not None and ctx.customer.account_id is not None
    account = ctx.account or ctx.services.accounts.get_account(ctx.customer.account_id)
    text = ctx.t("Your balance: {balance}.", balance=ctx.t.amount(account.balance))
    if account.available != account.balance:
        text += "\n" + ctx.t(
            "Available now: {available} (the rest is held for payments in progress).",
            available=ctx.t.amount(account.available),
        )
    ctx.done(text)


def show_history(ctx: Context) -> None:
    assert ctx.customer is not None
    page = ctx.services.statements.page(ctx.customer, limit=HISTORY_ITEMS)
    ctx.done(history_text(ctx.t, page.items))


def show(ctx: Context, what: str) -> None:
    """The menu's (or a shortcut's) "balance" or "history": behind the PIN where the channel needs it."""
    read(ctx, what, show_balance if what == "balance" else show_history)
