"""What every form shares: a step, a plain question, a confirmation, a phone number, an amount.

A step asks (``ask`` returns the screen: a text and maybe choices) and takes an answer (``answer``
checks it, stores it in ``state.data`` and moves on with ``ctx.go``, or raises :class:`Invalid` to
ask again). Steps never write wire formats and never hold a PIN longer than the call that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sika import phones
from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.refusals import explain
from sika.chat.messages import Choice, Location, Reply
from sika.chat.shortcuts import parse_amount
from sika.errors import SikaError

__all__ = ["Step", "amount", "ask_text", "confirm", "confirmed", "number"]


@dataclass(frozen=True)
class Step:
    ask: Callable[[Context], Reply]
    answer: Callable[[Context, Answer], None]
    secret: bool = False  # the answer is a PIN: never kept, never matched against shortcuts
    on_location: Callable[[Context, Location], None] | None = None  # the step takes a shared location


def ask_text(message: str) -> Callable[[Context], Reply]:
    """The ``ask`` of a step whose question is one sentence (marked with ``N_``)."""

    def ask(ctx: Context) -> Reply:
        return Reply(ctx.t(message))

    return ask


def confirm(ctx: Context, text: str) -> Reply:
    """A confirmation screen: ``text``, then Confirm and Cancel."""
    return Reply(text, choices=[Choice("confirm", ctx.t("Confirm")), Choice("cancel", ctx.t("Cancel"))])


def confirmed(next_flow: str) -> Callable[[Context, Answer], None]:
    """The answer to a confirmation: on to ``next_flow``'s PIN step, or cancelled."""

    def answer(ctx: Context, given: Answer) -> None:
        if given.choice == "confirm":
            ctx.go(next_flow, "pin")
        elif given.choice == "cancel":
            ctx.say(ctx.t("Cancelled. Nothing was sent."))
            ctx.state.reset()
        else:
            raise Invalid(ctx.t("Please answer Confirm or Cancel."))

    return answer


def number(ctx: Context, text: str) -> str:
    """A phone number as typed ("90 11 22 33", "+228 90.11.22.33"), in E.164."""
    try:
        return phones.normalize(text.replace(" ", "").replace(".", "").replace("-", ""))
    except SikaError as exc:
        raise Invalid(explain(ctx, exc)) from exc


def amount(ctx: Context, text: str) -> int:
    """An amount in francs as typed ("5000", "5 000", "5.000 F")."""
    value = parse_amount(text)
    if value is None:
        raise Invalid(ctx.t("Type an amount in francs, for example 5000."))
    return value
