"""Promotions in words, in the customer's language: offers, rewards and entries, codes, and why a
payment earned nothing. Each sentence fits a USSD screen (182 characters with the campaign's name).

The domain (sika.promotions) answers with stable codes and figures; this module is where they become
sentences, for the chat flows, the receipts and the REST API alike.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from babel.lists import format_list

from sika.chat.i18n import N_, Translator
from sika.payments import Movement
from sika.payments.hooks import rewards_of
from sika.promotions import Campaign, CampaignKind, EntryLine, Reason, RewardLine, Verdict
from sika.promotions.timing import CalendarWhen

__all__ = [
    "CODE_ERRORS",
    "entry_text",
    "offer_text",
    "prize_won_text",
    "receipt_reward_lines",
    "reward_lines",
    "reward_text",
    "verdict_text",
]

_OPERATIONS = {
    "transfer": N_("transfers"),
    "airtime": N_("airtime"),
    "bill": N_("bills"),
    "merchant": N_("merchant payments"),
    "ride": N_("rides"),
}
_KINDS = {
    "cashback": N_("cashback"),
    "airtime_bonus": N_("airtime bonus"),
    "ride_discount": N_("ride discount"),
    "referral": N_("referral"),
    "prize": N_("prize"),
}
_REASONS: dict[Reason, str] = {
    Reason.NOT_RUNNING: N_("{name}: this offer was not running then."),
    Reason.CODE_REQUIRED: N_("{name}: this offer needs a code. Enter it under Promotions first."),
    Reason.AMOUNT_BELOW_MIN: N_("{name}: payments of at least {amount} qualify."),
    Reason.TIER: N_("{name}: this offer is for other wallet levels."),
    Reason.NOT_NEW: N_("{name}: this offer is for new wallets only."),
    Reason.CITY: N_("{name}: this offer is not for your city."),
    Reason.NOT_RAMADAN: N_("{name}: this offer runs during Ramadan only."),
    Reason.OUTSIDE_WINDOW: N_("{name}: the payment was outside the offer's hours."),
    Reason.TOO_SMALL: N_("{name}: the amount was too small to earn anything."),
    Reason.NOT_REFERRED: N_("{name}: no referral waits for you, or it was rewarded already."),
    Reason.BETTER_OFFER: N_("{name}: a better offer paid on this payment."),
    Reason.CHOSEN_OFFER_REFUSED: N_("{name}: another offer was chosen for this payment, but it could not "
                                    "pay."),
    Reason.BUDGET_EXHAUSTED: N_("{name}: the offer's budget has run out."),
    Reason.CAP_REACHED: N_("{name}: you have reached this offer's limit."),
    Reason.DEVICE_CAP_REACHED: N_("{name}: this offer was already used on this phone."),
    Reason.OWED_TAKEN: N_("{name}: another payment at the same moment kept back the reward you owe, so "
                          "this one earned nothing."),
    Reason.WALLET_FULL: N_("{name}: your wallet is at its limit, so the reward could not be paid."),
    Reason.ALREADY_REWARDED: N_("{name}: this was rewarded already."),
}
# What a refused code or referral says (the codes of sika.promotions.CodeRefused).
CODE_ERRORS: dict[str, str] = {
    "invalid_code": N_("No offer has this code. Check it and try again."),
    "code_used": N_("This code was used already."),
    "offer_over": N_("This offer is over."),
    "offer_claimed": N_("You have this offer already."),
    "no_referral_offer": N_("No referral offer runs now."),
    "unknown_referrer": N_("This number has no Sika wallet."),
    "self_referral": N_("You cannot refer yourself."),
    "not_new": N_("A referral is for a new wallet, before its first payment."),
    "referred_already": N_("You were referred already."),
}


def _operations(t: Translator, campaign: Campaign) -> str:
    return format_list([t(_OPERATIONS[str(o)]) for o in campaign.rules.operations], locale=t.language)


def _percent(t: Translator, campaign: Campaign) -> str:
    return t.decimal(campaign.rules.percent or 0, 2)


def offer_text(t: Translator, campaign: Campaign, when: CalendarWhen, now_ns: int | None = None) -> str:
    """One offer in a line or two: what it gives, and when it is open if it has hours."""
    rules, name = campaign.rules, campaign.name
    if campaign.kind is CampaignKind.CASHBACK:
        text = t(
            "{name}: {percent}% back on {operations}, up to {max} a payment.",
            name=name,
            percent=_percent(t, campaign),
            operations=_operations(t, campaign),
            max=t.amount(rules.reward_max or 0),
        )
    elif campaign.kind is CampaignKind.AIRTIME_BONUS:
        text = t(
            "{name}: {percent}% extra airtime, up to {max}.",
            name=name,
            percent=_percent(t, campaign),
            max=t.amount(rules.reward_max or 0),
        )
    elif campaign.kind is CampaignKind.RIDE_DISCOUNT and rules.amount is not None:
        text = t("{name}: {amount} off a ride.", name=name, amount=t.amount(rules.amount))
    elif campaign.kind is CampaignKind.RIDE_DISCOUNT:
        text = t(
            "{name}: {percent}% off rides, paid back to your wallet.",
            name=name,
            percent=_percent(t, campaign),
        )
    elif campaign.kind is CampaignKind.REFERRAL:
        text = t(
            "{name}: invite a new friend. After their first payment you get {referrer} and they get "
            "{referee}.",
            name=name,
            referrer=t.amount(rules.referrer_amount or 0),
            referee=t.amount(rules.referee_amount or 0),
        )
    else:
        text = t(
            "{name}: each payment ({operations}) is a ticket for the draw. First prize: {amount}.",
            name=name,
            operations=_operations(t, campaign),
            amount=t.amount(rules.prizes[0] if rules.prizes else 0),
        )
    hours = _hours(t, campaign, when, now_ns)
    if hours:
        text += "\n" + hours
    if rules.code_required:
        text += "\n" + t("Enter your code first.")
    return text


def _hours(t: Translator, campaign: Campaign, when: CalendarWhen, now_ns: int | None) -> str:
    if not campaign.rules.windows:
        return ""
    now = datetime.fromtimestamp((now_ns or time.time_ns()) / 1e9, UTC)
    change = when.next_change(campaign, now)
    if change is None:
        return ""
    at = change.at.astimezone(when.zone(campaign.city)).strftime("%H:%M")
    if when.in_windows(campaign, now):
        return t("Open now, until {time}.", time=at)
    return t("Closed now; opens at {time}.", time=at)


def verdict_text(t: Translator, verdict: Verdict) -> str:
    name = verdict.campaign.name
    if verdict.reason is None and verdict.campaign.kind is CampaignKind.PRIZE_DRAW:
        return t("{name}: this payment is a ticket for the draw.", name=name)
    if verdict.reason is None and verdict.params.get("withheld"):
        withheld = int(verdict.params["withheld"])
        return t("{name}: you earned {amount}, of which {owed} was kept back for a reward owed after a "
                 "refund.", name=name, amount=t.amount(verdict.amount + withheld), owed=t.amount(withheld))
    if verdict.reason is None:
        return t("{name}: you earned {amount}.", name=name, amount=t.amount(verdict.amount))
    if verdict.reason is Reason.OUTSIDE_WINDOW and "at" in verdict.params:
        return t(
            "{name}: the payment was outside the offer's hours. It opens at {time}.",
            name=name,
            time=verdict.params["at"],
        )
    amount = t.amount(int(verdict.params.get("amount", 0)))
    return t(_REASONS[verdict.reason], name=name, amount=amount)


def reward_text(t: Translator, line: RewardLine) -> str:
    values = {
        "date": time.strftime("%d/%m", time.gmtime(line.at_ns // 1_000_000_000)),
        "amount": t.amount(line.amount),
        "kind": t(_KINDS[line.kind]),
        "name": line.campaign,
    }
    if line.owed:  # what is still owed (later rewards of the campaign may have kept some back)
        return t(
            "{date}: {amount} {kind} ({name}), owed after a refund: {owed}",
            owed=t.amount(line.owed),
            **values,
        )
    if line.clawed_back or line.collected:  # taken back: by the refund, or later from rewards (settled)
        return t(
            "{date}: {amount} {kind} ({name}), taken back after a refund: {back}",
            back=t.amount(line.clawed_back + line.collected),
            **values,
        )
    if line.withheld:
        return t(
            "{date}: {amount} {kind} ({name}), of which {owed} was kept back for a reward owed after a "
            "refund",
            owed=t.amount(line.withheld),
            **values,
        )
    return t("{date}: {amount} {kind} ({name})", **values)


def entry_text(t: Translator, line: EntryLine) -> str:
    if line.prize_waiting:
        return t("Ticket {id} ({name}): won! The prize waits for room in your wallet.", id=line.id,
                 name=line.campaign)
    if line.won:
        return t("Ticket {id} ({name}): won!", id=line.id, name=line.campaign)
    if line.draw_id is not None:
        return t("Ticket {id} ({name}): drawn, not won this time.", id=line.id, name=line.campaign)
    return t("Ticket {id} ({name}): waiting for the draw.", id=line.id, name=line.campaign)


def reward_lines(t: Translator, movement: Movement) -> list[str]:
    """What a payment earned, as lines under its confirmation or receipt."""
    lines = []
    for info in rewards_of(movement):
        if info.get("delivered") == "airtime":
            lines.append(
                t(
                    "Bonus: {amount} of extra airtime ({name}).",
                    amount=t.amount(int(info["amount"])),
                    name=info.get("name", ""),
                )
            )
        else:
            lines.append(_reward_line(t, int(info.get("amount") or 0), str(info.get("name", "")),
                                      int(info.get("withheld") or 0)))
    return lines


def _reward_line(t: Translator, amount: int, name: str, withheld: int) -> str:
    """A reward paid with a payment: what came into the wallet, and what was kept back, if anything,
    for a reward owed (sika.promotions.debts): never the reward earned as if it had all been paid."""
    if withheld:
        return t("Reward: {amount} ({name}), after {owed} kept back for a reward owed after a refund.",
                 amount=t.amount(amount), name=name, owed=t.amount(withheld))
    return t("Reward: {amount} ({name}).", amount=t.amount(amount), name=name)


def receipt_reward_lines(t: Translator, params: dict[str, Any]) -> list[str]:
    """The reward lines of a receipt from the outbox (``reward``/``bonus`` and their campaigns' names)."""
    lines = []
    if params.get("reward") or params.get("reward_withheld"):
        lines.append(_reward_line(t, int(params.get("reward") or 0), str(params.get("reward_name", "")),
                                  int(params.get("reward_withheld") or 0)))
    if params.get("bonus"):
        lines.append(
            t(
                "Bonus: {amount} of extra airtime ({name}).",
                amount=t.amount(int(params["bonus"])),
                name=params.get("bonus_name", ""),
            )
        )
    return lines


def prize_won_text(t: Translator, params: dict[str, Any]) -> str:
    return t(
        "Congratulations! Your ticket {entry} won {amount} in the draw of {campaign}. The prize is in your "
        "wallet. Reference: {id}.",
        entry=params.get("entry", ""),
        amount=t.amount(int(params.get("amount", 0))),
        campaign=params.get("campaign", ""),
        id=params.get("id", ""),
    )


def prize_waiting_text(t: Translator, params: dict[str, Any]) -> str:
    """A prize the winner's wallet could not take (its level's limits): it waits, and what to do."""
    return t(
        "Congratulations! Your ticket {entry} won {amount} in the draw of {campaign}. Your wallet cannot "
        "take it now (your level's limits on what it holds and receives in a month): it waits for you for "
        "{days} days. Sika pays it within 15 minutes once it fits: when your balance is lower, in a new "
        "month, or once an agent raises your level. Reference: {id}.",
        entry=params.get("entry", ""),
        amount=t.amount(int(params.get("amount", 0))),
        campaign=params.get("campaign", ""),
        days=int(params.get("days", 30)),
        id=params.get("id", ""),
    )


def prize_returned_text(t: Translator, params: dict[str, Any]) -> str:
    return t(
        "Your prize of {amount} from the draw of {campaign} waited {days} days and your wallet could not "
        "take it: it went back to the campaign. Reference: {id}.",
        amount=t.amount(int(params.get("amount", 0))),
        campaign=params.get("campaign", ""),
        days=int(params.get("days", 30)),
        id=params.get("id", ""),
    )
