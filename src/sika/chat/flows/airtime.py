"""Airtime and data: for me or another number, the operator, airtime (any amount) or a bundle.

Numbers move between operators, so the person picks the operator; the number's prefix only orders
the buttons. Bundles come from the provider's catalogue. Steps (flow ``airtime``): ``whom`` →
(``number``) → ``operator`` → ``product`` → (``amount``) → ``confirm`` → ``pin``; a shortcut
("airtime 1000 for 97112233") starts at ``operator`` with the amount known.
"""

from __future__ import annotations

from typing import Any

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.forms import amount, number
from sika.chat.flows.purchases import quote
from sika.chat.messages import Choice, Reply
from sika.providers import operator_hint

__all__ = ["BUNDLES_SHOWN", "how_much", "number_typed", "operator", "operator_ask", "product",
           "product_ask", "whom", "whom_ask"]

BUNDLES_SHOWN = 8
_OPERATORS = (("togocom", "Togocom"), ("moov", "Moov Africa"))


def whom_ask(ctx: Context) -> Reply:
    return Reply(
        ctx.t("Airtime or data for whom?"),
        choices=[Choice("me", ctx.t("For me")), Choice("other", ctx.t("Another number"))],
    )


def whom(ctx: Context, answer: Answer) -> None:
    if answer.choice == "me":
        ctx.state.data["number"] = ctx.msisdn
        ctx.go("airtime", "operator")
    elif answer.choice == "other":
        ctx.go("airtime", "number")
    else:
        raise Invalid(ctx.t("Please choose one of the options."))


def number_typed(ctx: Context, answer: Answer) -> None:
    ctx.state.data["number"] = number(ctx, answer.text)
    ctx.go("airtime", "operator")


def operator_ask(ctx: Context) -> Reply:
    hint = operator_hint(str(ctx.state.data.get("number", ctx.msisdn)))
    operators = list(_OPERATORS)
    if hint == "moov":
        operators.reverse()
    text = ctx.t(
        "Which operator is {number} with? Numbers can move between operators, so please check.",
        number=ctx.state.data.get("number", ctx.msisdn),
    )
    return Reply(text, choices=[Choice(f"op:{code}", name) for code, name in operators])


def operator(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("op:"):
        raise Invalid(ctx.t("Please choose the operator."))
    ctx.state.data["operator"] = answer.choice.removeprefix("op:")
    ctx.go("airtime", "product")
    pending = ctx.state.data.pop("pending_amount", None)
    if pending is not None:  # from a shortcut: the amount is known, go straight to the confirmation
        ctx.state.back()
        ctx.state.go("airtime", "amount")
        _airtime_quote(ctx, int(pending))
        ctx.go("airtime", "confirm")


def _airtime_quote(ctx: Context, value: int) -> None:
    """The quote for airtime of ``value`` for the chosen operator and number."""
    quote(ctx, str(ctx.state.data["operator"]), "airtime", str(ctx.state.data["number"]), value)


def _bundles(ctx: Context) -> list[dict[str, Any]]:
    chosen = str(ctx.state.data["operator"])
    for entry in ctx.services.purchases.catalogue():
        if entry["provider"] == chosen and entry["kind"] == "data":
            return list(entry["products"])[:BUNDLES_SHOWN]
    return []


def product_ask(ctx: Context) -> Reply:
    choices = [Choice("airtime", ctx.t("Airtime (any amount)"))]
    choices.extend(
        Choice(
            str(bundle["product"]),
            str(bundle["name"])[:24],
            description=ctx.t.amount(int(bundle["price"])) if bundle.get("price") else None,
        )
        for bundle in _bundles(ctx)
    )
    return Reply(ctx.t("Airtime or a data bundle?"), choices=choices, button=ctx.t("Choose"))


def product(ctx: Context, answer: Answer) -> None:
    if answer.choice == "airtime":
        ctx.state.data["product"] = "airtime"
        ctx.go("airtime", "amount")
        return
    if answer.choice is None or not answer.choice.startswith("data:"):
        raise Invalid(ctx.t("Please choose one of the options."))
    ctx.state.data["product"] = answer.choice
    quote(ctx, str(ctx.state.data["operator"]), answer.choice, str(ctx.state.data["number"]), None)
    ctx.go("airtime", "confirm")


def how_much(ctx: Context, answer: Answer) -> None:
    _airtime_quote(ctx, amount(ctx, answer.text))
    ctx.go("airtime", "confirm")
