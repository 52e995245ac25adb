"""The menu every conversation comes back to, and the help text.

The menu is a list of flows by id; a choice goes to the flow's first step, or shows its screen at
once (balance, history, help). "Approve a request" counts the requests waiting.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.approvals import pending
from sika.chat.flows.balance import show
from sika.chat.flows.ride_status import start as start_ride
from sika.chat.messages import Choice, Reply

__all__ = ["choose", "help_text", "menu_ask"]

# The flows the menu goes to, by choice id: (flow, its first step).
_FIRST_STEPS = {
    "send": ("send", "to"),
    "airtime": ("airtime", "whom"),
    "bills": ("bills", "biller"),
    "promotions": ("promo", "menu"),
    "settings": ("settings", "pick"),
}


def menu_ask(ctx: Context) -> Reply:
    waiting = pending(ctx)
    approvals = (
        ctx.t("Approve a request ({count})", count=len(waiting)) if waiting else ctx.t("Approve a request")
    )
    choices = [
        Choice("balance", ctx.t("Balance")),
        Choice("send", ctx.t("Send money")),
        Choice("airtime", ctx.t("Airtime and data")),
        Choice("bills", ctx.t("Bills and TV")),
        Choice("ride", ctx.t("Book a ride")),
        Choice("approvals", approvals),
        Choice("history", ctx.t("History")),
        Choice("promotions", ctx.t("Promotions")),
        Choice("settings", ctx.t("Settings")),
        Choice("help", ctx.t("Help")),
    ]
    return Reply(ctx.t("What would you like to do?"), choices=choices, button=ctx.t("Menu"))


def choose(ctx: Context, answer: Answer) -> None:
    choice = answer.choice
    if choice is None:
        raise Invalid(ctx.t('Choose an option from the menu, or type for example "send 5000 to 90112233".'))
    if choice in ("balance", "history"):
        show(ctx, choice)
    elif choice == "help":
        ctx.done(help_text(ctx))
    elif choice == "ride":
        start_ride(ctx)
    elif choice == "approvals":
        if not pending(ctx):
            ctx.say(ctx.t("No request is waiting for your approval."))
            return
        ctx.go("approvals", "pick")
    elif choice in _FIRST_STEPS:
        ctx.go(*_FIRST_STEPS[choice])


def help_text(ctx: Context) -> str:
    return ctx.t(
        "Sika: your wallet in this chat.\n"
        'Shortcuts: "balance", "send 5000 to 90112233", "airtime 1000 for 97112233".\n'
        'At any step: 0 to go back, "cancel" to stop, "menu" for the menu.\n'
        "Never share your PIN; Sika asks for it only to confirm a payment."
    )
