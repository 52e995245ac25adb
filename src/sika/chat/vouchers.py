"""Vouchers in the chat: what the sender is told, and collecting one with its code.

Money sent to a number without a wallet waits as a voucher; its code goes to the recipient by a
channel that can reach them (SMS first, WhatsApp if they write to us there). The sender is told the
truth: which channel carries the code, or, when none can reach the recipient, that the code comes to
the sender to pass on. A new wallet opened on that number is offered to collect the money at once
with the code (the ``voucher``/``code`` step); an agent or ``POST /v1/vouchers/claim`` do it too.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.i18n import N_
from sika.chat.messages import Reply
from sika.errors import SikaError
from sika.payments import Movement, Status
from sika.payments.channels import Route

__all__ = ["code_answer", "code_ask", "confirm_text", "offer_claim", "sent_text"]

_CHANNELS = {"sms": N_("SMS"), "whatsapp": N_("WhatsApp")}
_REFUSALS = {
    "invalid_voucher_code": N_("A code has 8 digits. Type it again, or 0 to do it later."),
    "invalid_voucher": N_("This code does not match money waiting for your number. Check it and type it "
                          "again, or 0 to do it later."),
    "voucher_blocked": N_("Too many wrong codes: this money is blocked. It goes back to the sender when "
                          "it expires."),
    "voucher_expired": N_("This money was not collected in time: it goes back to the sender."),
    "voucher_settled": N_("This money was already collected."),
}
_LATER = ("0", "later", "plus tard")


def route_of(ctx: Context, number: str) -> Route | None:
    """The route a voucher's code to ``number`` takes now (None: nothing reaches them)."""
    return ctx.container.outbox.channel.route(number, "voucher_received", secret=True)


def confirm_text(ctx: Context, number: str, amount: int, fee: int) -> str:
    """The question before sending to a number without a wallet: how the code will travel."""
    route = route_of(ctx, number)
    values = {"number": number, "amount": ctx.t.amount(amount), "fee": ctx.t.amount(fee),
              "total": ctx.t.amount(amount + fee),
              "days": ctx.container.settings.voucher_ttl_s // 86_400}
    if route is not None and route.name in _CHANNELS:
        return ctx.t("{number} has no Sika wallet: we send them a code by {channel} to collect {amount} "
                     "({days} days).\nFee: {fee}. Total: {total}. Send?",
                     channel=ctx.t(_CHANNELS[route.name]), **values)
    return ctx.t("{number} has no Sika wallet and no message of ours reaches them: we send you the code "
                 "to give them ({amount}, {days} days).\nFee: {fee}. Total: {total}. Send?", **values)


def sent_text(ctx: Context, movement: Movement) -> str:
    """What the sender reads once the voucher is made."""
    number = movement.counterparty or ""
    route = route_of(ctx, number)
    values = {"amount": ctx.t.amount(movement.amount), "number": number, "fee": ctx.t.amount(movement.fee),
              "id": movement.id}
    if route is not None and route.name in _CHANNELS:
        return ctx.t("Sent {amount} to {number}, who has no Sika wallet yet: we are sending them a code "
                     "by {channel} to collect it. Fee: {fee}. Reference: {id}.",
                     channel=ctx.t(_CHANNELS[route.name]), **values)
    return ctx.t("Sent {amount} to {number}, who has no Sika wallet yet. No message of ours can reach "
                 "them: we are sending you the code, give it to them. Fee: {fee}. Reference: {id}.",
                 **values)


def offer_claim(ctx: Context, waiting: int) -> None:
    """After the wallet opens: money is waiting, take the code now."""
    ctx.say(ctx.t("Money is waiting for you: {amount}.", amount=ctx.t.amount(waiting)))
    ctx.state.reset("voucher", "code")


def code_ask(ctx: Context) -> Reply:
    return Reply(ctx.t("Type the 8-digit code you received with the money, or 0 to do it later."))


def code_answer(ctx: Context, answer: Answer) -> None:
    text = answer.text.strip().replace(" ", "")
    if text.lower() in _LATER:
        ctx.done(ctx.t("You can collect it later at a Sika agent, with its code."))
        return
    try:
        movement = ctx.container.payments.claim_voucher(ctx.movement_id(), ctx.msisdn, text)
    except SikaError as exc:
        refusal = _REFUSALS.get(exc.code)
        if refusal is None:
            raise
        if exc.code in ("invalid_voucher_code", "invalid_voucher"):
            raise Invalid(ctx.t(refusal)) from exc
        ctx.done(ctx.t(refusal))
        return
    if movement.status is not Status.COMPLETED:
        ctx.done(ctx.t("Sorry, that did not work ({code}). Please try again.",
                       code=movement.error_code or "payment_failed"))
        return
    ctx.refresh_customer()
    ctx.done(ctx.t("You received {amount}. It is in your wallet. Reference: {id}.",
                   amount=ctx.t.amount(movement.amount), id=movement.id))
