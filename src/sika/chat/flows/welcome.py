"""Welcome: a number without a wallet opens one (language, name, PIN twice).

A tier-0 wallet opens; when money sent to the number waits as a voucher, the new customer is offered
to collect it at once (:mod:`.vouchers`). The first PIN is kept only as an argon2 hash until the
second entry, then forgotten. Steps (flow ``welcome``): ``language`` → ``name`` → ``pin`` →
``pin_again``.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.language import chosen
from sika.chat.flows.pin import looks_like_pin
from sika.chat.flows.refusals import explain, refusal
from sika.chat.flows.vouchers import offer_claim
from sika.chat.i18n import translator
from sika.errors import SikaError
from sika.wallet import Pin, PinHasher

__all__ = ["FIRST_STEP", "intro", "name", "pick_language", "pin", "pin_again"]

FIRST_STEP = "language"
NAME_CHARS_MIN = 2
NAME_CHARS_MAX = 80


def intro(ctx: Context) -> None:
    ctx.say(
        ctx.t(
            "Welcome to Sika! Send and receive money, buy airtime and pay your bills, right here. "
            "Let's open your wallet: it takes a minute."
        )
    )


def pick_language(ctx: Context, answer: Answer) -> None:
    ctx.state.language = chosen(ctx, answer)
    ctx.t = translator(ctx.state.language)
    ctx.go("welcome", "name")


def name(ctx: Context, answer: Answer) -> None:
    typed = " ".join(answer.text.split())
    if (len(typed) < NAME_CHARS_MIN or len(typed) > NAME_CHARS_MAX or not typed.isprintable()
            or typed.isdigit()):
        raise Invalid(refusal(ctx, "invalid_name"))
    ctx.state.data["name"] = typed
    ctx.go("welcome", "pin")


def pin(ctx: Context, answer: Answer) -> None:
    typed = _new_pin(ctx, answer.text)
    # Kept only as an argon2 hash until the second entry, then forgotten.
    ctx.state.data["pin_hash"] = PinHasher().hash(typed)
    ctx.go("welcome", "pin_again")


def pin_again(ctx: Context, answer: Answer) -> None:
    typed = _new_pin(ctx, answer.text)
    stored = str(ctx.state.data.pop("pin_hash", ""))
    if not stored or not PinHasher().verify(stored, typed):
        ctx.state.back()
        raise Invalid(ctx.t("The two PINs differ. Choose your PIN again."))
    spoken = ctx.state.language or ctx.t.language
    ctx.services.customers.open(ctx.msisdn, str(ctx.state.data["name"]), language=spoken, pin=typed)
    ctx.refresh_customer()
    waiting = ctx.services.payments.vouchers_for(ctx.msisdn)
    if waiting:  # short: a USSD screen must still show the question for the code
        ctx.say(ctx.t("Your Sika wallet is open, {name}!", name=ctx.state.data["name"]))
        offer_claim(ctx, sum(int(v["amount"]) for v in waiting))
        return
    text = ctx.t(
        "Your Sika wallet is open, {name}! Keep your PIN secret: Sika never asks for it except "
        "to confirm a payment.",
        name=ctx.state.data["name"],
    )
    ctx.done(text)


def _new_pin(ctx: Context, text: str) -> Pin:
    if not looks_like_pin(text):
        raise Invalid(refusal(ctx, "invalid_pin_format"))
    new = Pin(text.strip())
    try:
        new.check_strength()
    except SikaError as exc:
        raise Invalid(explain(ctx, exc)) from exc
    return new
