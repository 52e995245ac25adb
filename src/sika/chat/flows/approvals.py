"""Approve a request: a merchant's request to pay, or an agent's cash-out, waiting for the customer.

Who asks is shown by the name Sika registered for them, first; what a merchant wrote only as their
note, so that no description can pass for someone else. Approving takes the PIN; declining does not.
Steps (flow ``approvals``): ``pick`` → ``decide`` → ``pin``.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.pin import with_pin
from sika.chat.messages import Choice, Reply
from sika.payments.approvals import Approval

__all__ = ["PENDING_SHOWN", "decide", "decide_ask", "pending", "pick", "pick_ask", "pin"]

# Requests for approval a list shows at most (a WhatsApp list has 10 rows).
PENDING_SHOWN = 10
_NOTE_CHARS_MAX = 72


def pending(ctx: Context) -> list[Approval]:
    """The requests waiting for the customer, read once a turn (or ahead, with the batch: see
    :meth:`~sika.chat.dialog.Dialog.prefetch`); answering one forgets them."""
    if ctx.customer is None:
        return []
    if ctx.pending_approvals is None:
        ctx.pending_approvals = ctx.services.approvals.pending_for(ctx.customer.id, limit=PENDING_SHOWN)
    return ctx.pending_approvals


def pick_ask(ctx: Context) -> Reply:
    # Who asks by their registered name; what the merchant wrote only as their note.
    choices = []
    for approval in pending(ctx):
        name, note = ctx.services.approvals.requester(approval)
        amount = ctx.t.amount(approval.amount)
        line = ctx.t('{amount}. Their note: "{note}"', amount=amount, note=note) if note else amount
        choices.append(Choice(approval.id, name, description=line[:_NOTE_CHARS_MAX]))
    if not choices:
        ctx.state.reset()
        return Reply(ctx.t("No request is waiting for your approval."))
    return Reply(ctx.t("Requests waiting for your approval:"), choices=choices, button=ctx.t("Requests"))


def pick(ctx: Context, answer: Answer) -> None:
    if answer.choice is None:
        raise Invalid(ctx.t("Please choose a request."))
    ctx.state.data["approval"] = answer.choice
    ctx.go("approvals", "decide")


def decide_ask(ctx: Context) -> Reply:
    approval = ctx.services.approvals.get(str(ctx.state.data["approval"]))
    name, note = ctx.services.approvals.requester(approval)
    amount, fee = ctx.t.amount(approval.amount), ctx.t.amount(approval.fee)
    if approval.kind == "cash_out":
        text = ctx.t("Cash-out at {name}: {amount}. Fee: {fee}.", name=name, amount=amount, fee=fee)
    else:
        text = ctx.t("{name} asks you to pay {amount}. Fee: {fee}.", name=name, amount=amount, fee=fee)
    if note:
        text += "\n" + ctx.t('Their note: "{note}"', note=note)
    return Reply(text, choices=[Choice("confirm", ctx.t("Approve")), Choice("decline", ctx.t("Decline"))])


def decide(ctx: Context, answer: Answer) -> None:
    assert ctx.customer is not None
    if answer.choice == "confirm":
        ctx.go("approvals", "pin")
    elif answer.choice == "decline":
        ctx.services.approvals.decline(str(ctx.state.data["approval"]), ctx.customer)
        ctx.pending_approvals = None
        ctx.done(ctx.t("Request declined. Nothing was paid."))
    else:
        raise Invalid(ctx.t("Please answer Approve or Decline."))


def pin(ctx: Context, answer: Answer) -> None:
    customer = ctx.customer
    assert customer is not None
    approval_id = str(ctx.state.data["approval"])
    movement = with_pin(ctx, answer,
                        lambda typed: ctx.services.approvals.approve(approval_id, customer, typed))
    ctx.pending_approvals = None
    if movement is not None:
        ctx.done(
            ctx.t(
                "Paid {amount} to {name}. Reference: {id}.",
                amount=ctx.t.amount(movement.amount),
                name=movement.counterparty or "",
                id=movement.id,
            )
        )
