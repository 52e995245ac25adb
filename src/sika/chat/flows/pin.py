"""The PIN step that confirms a payment: send money, airtime and bills, approvals.

The PIN typed is handed to the service that moves the money, in the same call, and forgotten: the
service checks it (a wrong one counts towards the lockout) and refuses, or moves the money with the
movement id of the message (:meth:`Context.movement_id`), so a message handled twice pays once.
"""

from __future__ import annotations

from collections.abc import Callable

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.refusals import explain, refusal
from sika.chat.messages import Reply
from sika.errors import SikaError
from sika.payments import Movement, Status
from sika.wallet import InvalidPin, Pin, PinLocked

__all__ = ["ask", "looks_like_pin", "typed_pin", "with_pin"]


def looks_like_pin(text: str) -> bool:
    candidate = text.strip()
    return len(candidate) == 4 and candidate.isascii() and candidate.isdigit()


def typed_pin(ctx: Context, answer: Answer) -> Pin:
    """The PIN in the answer, or :class:`Invalid` when it is not 4 digits."""
    if not looks_like_pin(answer.text):
        raise Invalid(refusal(ctx, "invalid_pin_format"))
    return Pin(answer.text.strip())


def ask(ctx: Context) -> Reply:
    return Reply(ctx.t("Type your 4-digit PIN to confirm."))


def with_pin(ctx: Context, answer: Answer, pay: Callable[[Pin], Movement]) -> Movement | None:
    """Run ``pay`` with the PIN typed: the movement when it completed. A refusal is explained and
    ends the flow; a wrong PIN asks again; a payment still in progress says a receipt will follow."""
    pin = typed_pin(ctx, answer)
    try:
        movement = pay(pin)
    except PinLocked as exc:
        ctx.done(explain(ctx, exc))
        return None
    except InvalidPin as exc:
        raise Invalid(explain(ctx, exc)) from exc
    except SikaError as exc:
        ctx.done(explain(ctx, exc))
        return None
    if movement.status is Status.FAILED:
        code = movement.error_code or "payment_failed"
        ctx.done(explain(ctx, SikaError(code, code=code)))
        return None
    if movement.status in (Status.PENDING, Status.PROCESSING):
        ctx.done(
            ctx.t(
                "Your payment of {amount} is being processed. You will get a receipt here.",
                amount=ctx.t.amount(movement.amount),
            )
        )
        return None
    return movement
