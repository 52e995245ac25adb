"""Shortcuts typed at any time ("envoyer 5000 à 90112233", "solde", "airtime 1000 for 97112233"):
straight to the flow's confirmation with what they said (:mod:`sika.chat.shortcuts` reads them)."""

from __future__ import annotations

from sika import phones
from sika.chat.context import Context, Invalid
from sika.chat.flows.balance import show
from sika.chat.flows.refusals import explain
from sika.chat.flows.send import quote as quote_transfer
from sika.chat.shortcuts import Intent
from sika.errors import SikaError

__all__ = ["start"]


def start(ctx: Context, intent: Intent) -> None:
    """Jump to the flow's confirmation with what the shortcut said."""
    ctx.state.reset()
    if intent.action in ("balance", "history"):
        show(ctx, intent.action)
        return
    try:
        number = phones.normalize(intent.number) if intent.number else ctx.msisdn
    except SikaError as exc:
        ctx.say(explain(ctx, exc))
        return
    assert intent.amount is not None
    try:
        if intent.action == "send":
            ctx.state.data["to"] = number
            ctx.state.go("send", "amount")
            quote_transfer(ctx, number, intent.amount)
            ctx.state.go("send", "confirm")
        else:  # airtime: the operator is the user's choice; the prefix only orders the buttons
            ctx.state.data.update(number=number, product="airtime", pending_amount=intent.amount)
            ctx.state.go("airtime", "operator")
    except Invalid as problem:
        ctx.say(problem.message)
