"""Send money: to which number, how much, the confirmation (fee, total, the recipient's name), the PIN.

A number without a wallet gets a voucher instead: the confirmation and the receipt say how its code
travels (:mod:`.vouchers`). Steps (flow ``send``): ``to`` → ``amount`` → ``confirm`` → ``pin``.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.forms import amount, confirm, number
from sika.chat.flows.pin import with_pin
from sika.chat.flows.promotions import with_rewards
from sika.chat.flows.refusals import explain
from sika.chat.flows.vouchers import confirm_text as voucher_confirm_text
from sika.chat.flows.vouchers import sent_text as voucher_sent_text
from sika.chat.messages import Reply
from sika.errors import SikaError

__all__ = ["confirm_ask", "how_much", "pin", "quote", "to"]


def to(ctx: Context, answer: Answer) -> None:
    ctx.state.data["to"] = number(ctx, answer.text)
    ctx.go("send", "amount")


def how_much(ctx: Context, answer: Answer) -> None:
    quote(ctx, str(ctx.state.data["to"]), amount(ctx, answer.text))
    ctx.go("send", "confirm")


def quote(ctx: Context, to: str, value: int) -> None:
    """The fee and the recipient's name for sending ``value`` to ``to``, kept for the confirmation."""
    assert ctx.customer is not None
    try:
        found = ctx.services.payments.quote_transfer(ctx.customer, to, value)
    except SikaError as exc:
        raise Invalid(explain(ctx, exc)) from exc
    ctx.state.data.update(to=found.to, amount=value, fee=found.fee, name=found.recipient_name)


def confirm_ask(ctx: Context) -> Reply:
    d = ctx.state.data
    if d.get("name"):
        text = ctx.t(
            "Send {amount} to {name} ({number})?\nFee: {fee}. Total: {total}.",
            amount=ctx.t.amount(d["amount"]),
            name=d["name"],
            number=d["to"],
            fee=ctx.t.amount(d["fee"]),
            total=ctx.t.amount(d["amount"] + d["fee"]),
        )
    else:
        text = voucher_confirm_text(ctx, str(d["to"]), int(d["amount"]), int(d["fee"]))
    return confirm(ctx, text)


def pin(ctx: Context, answer: Answer) -> None:
    d = ctx.state.data
    customer = ctx.customer
    assert customer is not None
    movement = with_pin(
        ctx,
        answer,
        lambda typed: ctx.services.payments.transfer(
            ctx.movement_id(), customer, str(d["to"]), int(d["amount"]), pin=typed
        ),
    )
    if movement is None:
        return
    if movement.kind.value == "voucher":
        text = voucher_sent_text(ctx, movement)
    else:
        text = ctx.t(
            "Sent {amount} to {name}. Fee: {fee}. Reference: {id}.",
            amount=ctx.t.amount(movement.amount),
            name=d.get("name") or d["to"],
            fee=ctx.t.amount(movement.fee),
            id=movement.id,
        )
    ctx.done(with_rewards(ctx, text, movement))
