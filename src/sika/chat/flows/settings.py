"""The settings of the chat, one entry of the menu: the language, and the notifications (quiet hours
and offers, :mod:`sika.chat.consent`). One entry for both keeps the menu within WhatsApp's ten rows
of a list message. Steps (flow ``settings``): ``pick``.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.messages import Choice, Reply

__all__ = ["pick", "pick_ask"]

_NEXT = {"language": ("language", "pick"), "notices": ("notices", "quiet")}


def pick_ask(ctx: Context) -> Reply:
    return Reply(
        ctx.t("Settings: what would you like to change?"),
        choices=[Choice("language", ctx.t("Language")), Choice("notices", ctx.t("Notifications"))],
        button=ctx.t("Settings"),
    )


def pick(ctx: Context, answer: Answer) -> None:
    if answer.choice not in _NEXT:
        raise Invalid(ctx.t("Please choose one of the options."))
    ctx.go(*_NEXT[answer.choice])
