"""The PIN in front of what a wallet holds (its balance, its history), where a phone is not proof enough.

On USSD the gateway tells us the number, but a feature phone is often shared, lent or picked up: like
the operators' own USSD menus (Flooz, T-Money, Orange Money), Sika asks the PIN before it shows the
balance or the history there. WhatsApp (a personal account behind the phone's own lock) and the
terminal (the operator's own machine) show them at once, as before.

A wrong PIN counts towards the lockout exactly as at a payment (:meth:`Customers.verify_pin`).
"""

from __future__ import annotations

from collections.abc import Callable

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.pin import typed_pin
from sika.chat.flows.refusals import explain
from sika.chat.i18n import N_
from sika.chat.messages import Reply
from sika.wallet import InvalidPin, PinLocked

__all__ = ["PIN_CHANNELS", "ask", "read", "unlocked"]

PIN_CHANNELS = frozenset({"ussd"})
_ASKS = {"balance": N_("Type your 4-digit PIN to see your balance."),
         "history": N_("Type your 4-digit PIN to see your last transactions.")}

Show = Callable[[Context], None]


def read(ctx: Context, flow: str, show: Show) -> None:
    """Show what ``show`` shows, or first ask the PIN (step ``(flow, "pin")``) on a channel that needs it."""
    if ctx.inbound.channel in PIN_CHANNELS:
        ctx.state.reset()
        ctx.go(flow, "pin")
        return
    show(ctx)


def ask(ctx: Context) -> Reply:
    """The question of a ``(flow, "pin")`` step."""
    return Reply(ctx.t(_ASKS[ctx.state.flow]))


def unlocked(show: Show) -> Callable[[Context, Answer], None]:
    """The answer of a ``(flow, "pin")`` step: check the PIN, then show."""

    def answer(ctx: Context, given: Answer) -> None:
        pin = typed_pin(ctx, given)
        try:
            ctx.customer = ctx.services.customers.verify_pin(ctx.msisdn, pin)
        except PinLocked as exc:
            ctx.done(explain(ctx, exc))
            return
        except InvalidPin as exc:
            raise Invalid(explain(ctx, exc)) from exc
        show(ctx)

    return answer
