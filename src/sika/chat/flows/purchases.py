"""What airtime, data, bills and TV share: the provider's quote, the confirmation, the PIN, the receipt.

The quote comes from the provider (through :class:`~sika.payments.purchases.Purchases`): it says the
amount due, the fee and a description, and is what the PIN pays while fresh
(:mod:`sika.payments.quotes`); a reference the provider does not know sends the form back to the step
where it was typed (:mod:`.bill_references`). The receipt carries an electricity token when the
provider gives one.
"""

from __future__ import annotations

import contextlib
import math

from sika import jsoncodec
from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.bill_references import problem
from sika.chat.flows.forms import confirm
from sika.chat.flows.pin import with_pin
from sika.chat.flows.promotions import with_rewards
from sika.chat.flows.refusals import explain
from sika.chat.i18n import N_
from sika.chat.messages import Reply
from sika.chat.screens import pages
from sika.chat.texts.statement import quoted_purchase
from sika.errors import SikaError
from sika.payments.quotes import PurchaseQuote

__all__ = ["QUOTE_BYTES_MAX", "confirm_ask", "pin", "quote"]

# A quarter of what a conversation's state may hold (sika.chat.state.STATE_BYTES_MAX).
QUOTE_BYTES_MAX = 4_096


def quote(ctx: Context, provider: str, product: str, reference: str, amount: int | None) -> None:
    """The provider's quote, kept for the confirmation; :class:`Invalid` with the reason otherwise."""
    try:
        found = ctx.services.purchases.quote(provider, product, reference, amount)
    except SikaError as exc:
        if exc.code == "invalid_reference" and ctx.state.flow == "bills" and ctx.state.step != "reference":
            ctx.state.back()  # never ask again for what cannot fix it: back to the reference
        raise Invalid(problem(ctx, provider, exc) or explain(ctx, exc)) from exc
    ctx.state.data.update(
        provider=provider,
        product=product,
        reference=found.reference,
        amount=found.amount,
        fee=found.fee,
        description=_described(ctx, provider, product, found.reference) or found.description,
        particulars=_particulars(ctx, found.details),
    )
    # Paid as it is at the PIN while fresh (what is charged is what was shown). One too large to keep
    # in the conversation (a biller's long details) is kept without them and as never fresh: the PIN
    # asks the provider again, and still refuses a price that moved.
    kept = found.as_json()
    if len(jsoncodec.dumps(kept).encode()) > QUOTE_BYTES_MAX:
        kept = {**kept, "details": {}, "quoted_ns": 0}
    ctx.state.data["quote"] = kept


def _described(ctx: Context, provider: str, product: str, reference: str) -> str | None:
    """The purchase in the person's language; the provider's own description is in its language
    ("Canal+ Evasion, 1 month" in an Arabic chat). What else it says is in the particulars."""
    return quoted_purchase(ctx.t, ctx.services.purchases.catalogue(), provider, product, reference)


# What a quote's details say that the person checks before paying: whose meter, card or subscription
# it is, what the amount buys, which bill, how many months (the biller protocol's keys, docs/wallet.md,
# "The biller aggregator protocol").
_PARTICULARS = (("customer_name", "name", N_("Holder: {name}")),
                ("units_kwh", "units", N_("Energy: {units} kWh")),
                ("period", "period", N_("Bill for {period}")),
                ("months", "months", N_("Months: {months}")))
_PARTICULAR_CHARS_MAX = 60
_UNITS_MAX = 10**9  # beyond, a biller's figure is shown as it came (and babel's rounding gives up)


def _particulars(ctx: Context, details: dict[str, str]) -> str:
    return "\n".join(ctx.t(sentence, **{name: _value(ctx, key, str(details[key]))})
                     for key, name, sentence in _PARTICULARS if details.get(key))


def _value(ctx: Context, key: str, value: str) -> str:
    """A detail as the person writes it: the energy's decimals in their language ("44,6" in French),
    grouped by a plain space as amounts are (a narrow no-break space shows as a box on some phones)."""
    if key == "units_kwh":
        with contextlib.suppress(ValueError):
            number = float(value)
            if math.isfinite(number) and abs(number) < _UNITS_MAX:
                value = ctx.t.decimal(number, 2).replace(chr(0x202F), " ").replace(chr(0xA0), " ")
    return value[:_PARTICULAR_CHARS_MAX]


def confirm_ask(ctx: Context) -> Reply:
    d = ctx.state.data
    particulars = [line for line in str(d.get("particulars") or "").split("\n") if line]
    reply = _confirmation(ctx, particulars)
    if ctx.inbound.channel == "ussd":
        # One USSD screen, its choices on it: the particulars that fit, the holder's name first (a
        # confirmation whose Confirm is a page away reads as a dead end).
        while particulars and not _one_screen(reply):
            particulars.pop()
            reply = _confirmation(ctx, particulars)
    return reply


def _confirmation(ctx: Context, particulars: list[str]) -> Reply:
    d = ctx.state.data
    text = ctx.t(
        "{description}\nAmount: {amount}. Fee: {fee}. Total: {total}. Confirm?",
        description="\n".join([str(d["description"]), *particulars]),
        amount=ctx.t.amount(d["amount"]),
        fee=ctx.t.amount(d["fee"]),
        total=ctx.t.amount(d["amount"] + d["fee"]),
    )
    return confirm(ctx, text)


def _one_screen(reply: Reply) -> bool:
    return len(pages({"text": reply.text, "choices": [c.title for c in reply.choices], "end": False})) == 1


def pin(ctx: Context, answer: Answer) -> None:
    d = ctx.state.data
    customer = ctx.customer
    assert customer is not None
    movement = with_pin(
        ctx,
        answer,
        lambda typed: ctx.services.purchases.buy(
            ctx.movement_id(),
            customer,
            provider=str(d["provider"]),
            product=str(d["product"]),
            reference=str(d["reference"]),
            amount=int(d["amount"]),
            pin=typed,
            confirmed=PurchaseQuote.from_json(d.get("quote")),
        ),
    )
    if movement is None:
        return
    receipt = movement.details.get("receipt") or {}
    text = ctx.t(
        "Paid: {description}. Amount: {amount}. Reference: {id}.",
        description=d["description"],
        amount=ctx.t.amount(movement.amount),
        id=movement.id,
    )
    if receipt.get("token"):
        text += "\n" + ctx.t("Your electricity token: {token}", token=receipt["token"])
    ctx.done(with_rewards(ctx, text, movement))
