"""The language of the chat: chosen when the wallet opens (:mod:`.welcome`), changed from the menu.

Languages are offered by their own names ("Français", "العربية"), so that anyone finds theirs
whatever language the screen is in. Steps (flow ``language``): ``pick``.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.i18n import LANGUAGES
from sika.chat.messages import Choice, Reply

__all__ = ["NATIVE_NAMES", "chosen", "pick", "pick_ask"]

NATIVE_NAMES = {
    "fr": "Français",
    "en": "English",
    "es": "Español",
    "it": "Italiano",
    "pt": "Português",
    "ru": "Русский",
    "ar": "العربية",
}
_PREFIX = "lang:"


def pick_ask(ctx: Context) -> Reply:
    """The list of languages (also the welcome's first question)."""
    choices = [Choice(id=f"{_PREFIX}{code}", title=NATIVE_NAMES[code]) for code in LANGUAGES]
    return Reply(ctx.t("Choose your language."), choices=choices, button=ctx.t("Languages"))


def chosen(ctx: Context, answer: Answer) -> str:
    """The language picked, or :class:`Invalid`."""
    if answer.choice is None or not answer.choice.startswith(_PREFIX):
        raise Invalid(ctx.t("Please choose one of the languages."))
    return answer.choice.removeprefix(_PREFIX)


def pick(ctx: Context, answer: Answer) -> None:
    ctx.services.customers.set_language(ctx.msisdn, chosen(ctx, answer))
    ctx.refresh_customer()
    ctx.say(ctx.t("Language changed."))
    ctx.state.reset()
