"""The Promotions entry of the menu, on every channel: the offers running now, enter a code (or the
number of the friend who invited you), my rewards and draw tickets, and why the last payment earned
nothing.

Steps (flow ``promo``): ``menu`` (choices: offers, code, mine, why) and ``code`` (a typed code).
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.messages import Choice, Reply
from sika.chat.texts.promotions import (
    CODE_ERRORS,
    entry_text,
    offer_text,
    reward_lines,
    reward_text,
    verdict_text,
)
from sika.payments import Movement, Status
from sika.promotions import CampaignKind, CodeRefused

__all__ = ["LINES_SHOWN", "code", "code_ask", "menu", "menu_ask", "with_rewards"]

LINES_SHOWN = 5  # offers, rewards or tickets one screen lists at most (USSD pages the rest)
_HISTORY_LOOKED_AT = 10


def menu_ask(ctx: Context) -> Reply:
    return Reply(
        ctx.t("Promotions: what would you like?"),
        choices=[
            Choice("offers", ctx.t("Current offers")),
            Choice("code", ctx.t("Enter a code")),
            Choice("mine", ctx.t("My rewards and tickets")),
            Choice("why", ctx.t("Why no reward?")),
        ],
        button=ctx.t("Promotions"),
    )


def menu(ctx: Context, answer: Answer) -> None:
    if answer.choice == "offers":
        _offers(ctx)
    elif answer.choice == "code":
        ctx.go("promo", "code")
    elif answer.choice == "mine":
        _mine(ctx)
    elif answer.choice == "why":
        _why(ctx)
    else:
        raise Invalid(ctx.t("Please choose one of the options."))


def code_ask(ctx: Context) -> Reply:
    return Reply(ctx.t("Type your code, or the number of the friend who invited you."))


def code(ctx: Context, answer: Answer) -> None:
    assert ctx.customer is not None
    try:
        campaign = ctx.services.promotions.redeem(ctx.customer, answer.text)
    except CodeRefused as exc:
        message = ctx.t(CODE_ERRORS.get(exc.code, CODE_ERRORS["invalid_code"]))
        if exc.code == "invalid_code":
            raise Invalid(message) from exc  # a typo: ask again
        ctx.done(message)
        return
    if campaign.kind is CampaignKind.REFERRAL:
        ctx.done(
            ctx.t(
                "Thank you! After your first payment, you and your friend are rewarded ({name}).",
                name=campaign.name,
            )
        )
    else:
        ctx.done(ctx.t("Code accepted: {name}. Your next payments can earn it.", name=campaign.name))


def with_rewards(ctx: Context, text: str, movement: Movement) -> str:
    """A payment's confirmation, with what it earned under it (once the payment is complete)."""
    if movement.status is not Status.COMPLETED:
        return text
    return "\n".join([text, *reward_lines(ctx.t, movement)])


def _offers(ctx: Context) -> None:
    promotions = ctx.services.promotions
    offers = promotions.offers()[:LINES_SHOWN]
    if not offers:
        ctx.done(ctx.t("No offer is running right now."))
        return
    ctx.done("\n\n".join(offer_text(ctx.t, campaign, promotions.when) for campaign in offers))


def _mine(ctx: Context) -> None:
    assert ctx.customer is not None
    promotions = ctx.services.promotions
    lines = [reward_text(ctx.t, line) for line in promotions.rewards_of(ctx.customer.id, LINES_SHOWN)]
    lines += [entry_text(ctx.t, line) for line in promotions.entries_of(ctx.customer.id, LINES_SHOWN)]
    if not lines:
        ctx.done(ctx.t("No rewards or tickets yet."))
        return
    ctx.done("\n".join([ctx.t("Your rewards and tickets:"), *lines]))


def _why(ctx: Context) -> None:
    assert ctx.customer is not None
    page = ctx.services.statements.page(ctx.customer, limit=_HISTORY_LOOKED_AT)
    paid = [item for item in page.items if item.amount < 0]  # what the customer paid, newest first
    if not paid:
        ctx.done(ctx.t("You have made no payment yet."))
        return
    last = ctx.services.payments.get(paid[0].id)
    verdicts = ctx.services.promotions.why(last)
    head = ctx.t("Your last payment: {amount} ({id}).", amount=ctx.t.amount(last.amount), id=last.id)
    if not verdicts:
        ctx.done("\n".join([head, ctx.t("No offer applied to that payment.")]))
        return
    ctx.done("\n".join([head, *(verdict_text(ctx.t, v) for v in verdicts)]))
