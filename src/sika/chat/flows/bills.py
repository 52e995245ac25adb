"""Bills and TV: CEET electricity (Cash Power, any amount, the token on the receipt), TdE water (the
amount due looked up) and Canal+ packages.

The meter, subscriber or card number is checked where it is typed (:mod:`.bill_references`). Steps
(flow ``bills``): ``biller`` → ``reference`` → (``amount`` for CEET, ``package`` for Canal+) →
``confirm`` → ``pin``.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.bill_references import check
from sika.chat.flows.forms import amount
from sika.chat.flows.purchases import quote
from sika.chat.i18n import N_
from sika.chat.messages import Choice, Reply

__all__ = ["PACKAGES_SHOWN", "biller", "biller_ask", "how_much", "package", "package_ask", "reference",
           "reference_ask"]

PACKAGES_SHOWN = 10
_BILLERS = ("ceet", "tde", "canal")
_REFERENCE_ASKS = {
    "ceet": N_("Type your Cash Power meter number (11 digits)."),
    "tde": N_("Type your TdE subscriber number (8 digits)."),
    "canal": N_("Type your Canal+ card number (14 digits)."),
}


def biller_ask(ctx: Context) -> Reply:
    return Reply(
        ctx.t("Which bill?"),
        choices=[
            Choice("ceet", ctx.t("Electricity (CEET)")),
            Choice("tde", ctx.t("TdE water")),
            Choice("canal", ctx.t("Canal+ TV")),
        ],
    )


def biller(ctx: Context, answer: Answer) -> None:
    if answer.choice not in _BILLERS:
        raise Invalid(ctx.t("Please choose one of the options."))
    ctx.state.data["provider"] = answer.choice
    ctx.go("bills", "reference")


def reference_ask(ctx: Context) -> Reply:
    return Reply(ctx.t(_REFERENCE_ASKS[str(ctx.state.data["provider"])]))


def reference(ctx: Context, answer: Answer) -> None:
    typed = "".join(answer.text.split())[:64]
    provider = str(ctx.state.data["provider"])
    ctx.state.data["reference"] = typed
    if provider == "tde":
        quote(ctx, "tde", "water", typed, None)
        ctx.go("bills", "confirm")
        return
    product = "electricity" if provider == "ceet" else next((p for p, _, _ in _canal_packages(ctx)), "tv:")
    check(ctx, provider, product, typed)
    ctx.go("bills", "package" if provider == "canal" else "amount")


def how_much(ctx: Context, answer: Answer) -> None:
    value = amount(ctx, answer.text)
    quote(ctx, "ceet", "electricity", str(ctx.state.data["reference"]), value)
    ctx.go("bills", "confirm")


def _canal_packages(ctx: Context) -> list[tuple[str, str, int | None]]:
    """Canal+'s packages: product, name and price."""
    return [(str(product["product"]), str(product["name"]), product.get("price"))
            for entry in ctx.services.purchases.catalogue() if entry["provider"] == "canal"
            for product in entry["products"][:PACKAGES_SHOWN]]


def package_ask(ctx: Context) -> Reply:
    choices = [Choice(product, name[:24], description=ctx.t.amount(int(price)) if price else None)
               for product, name, price in _canal_packages(ctx)]
    return Reply(ctx.t("Which Canal+ package?"), choices=choices, button=ctx.t("Packages"))


def package(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("tv:"):
        raise Invalid(ctx.t("Please choose a package."))
    quote(ctx, "canal", answer.choice, str(ctx.state.data["reference"]), None)
    ctx.go("bills", "confirm")
