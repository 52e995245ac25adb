"""Receipts and notifications from the outbox, as sentences in the recipient's language.

The payments outbox stores what happened (a kind and parameters); this renders it for a person when a
chat channel delivers it. Kinds follow ``receipt_<movement kind>_<sent|received>``, plus
``voucher_received`` (a code for someone without a wallet) and ``approval_requested``.
"""

from __future__ import annotations

from typing import Any

from sika.chat.i18n import N_, Translator, translator
from sika.chat.promotion_texts import prize_won_text, receipt_reward_lines
from sika.payments.approvals import merchant_note
from sika.wallet import Customers

__all__ = ["NotificationText"]

_SENT: dict[str, str] = {
    "transfer": N_("Receipt: you sent {amount} to {to}. Fee: {fee}. Reference: {id}."),
    "voucher": N_(
        "Receipt: you sent {amount} to {to}, who will collect it with a code. Fee: {fee}. Reference: {id}."
    ),
    "cash_out": N_("Receipt: cash-out of {amount} at {to}. Fee: {fee}. Reference: {id}."),
    "airtime": N_("Receipt: {description}. Amount: {amount}. Reference: {id}."),
    "bill": N_("Receipt: {description}. Amount: {amount}. Fee: {fee}. Reference: {id}."),
    "merchant_payment": N_("Receipt: you paid {amount} to {to}. Reference: {id}."),
    "ride": N_("Receipt: your ride, {amount}, paid from your wallet. Reference: {id}."),
    "driver_payout": N_(
        "{amount} of commissions on cash rides were settled from your wallet. Reference: {id}."
    ),
}
_RECEIVED: dict[str, str] = {
    "transfer": N_("You received {amount} from {from}. Reference: {id}."),
    "cash_in": N_("Cash-in of {amount} at {from}. Reference: {id}."),
    "voucher_claim": N_("You received {amount} (a transfer collected with its code). Reference: {id}."),
    "voucher_refund": N_(
        "{amount} came back to your wallet: {from} did not collect it within 7 days. Reference: {id}."
    ),
    "top_up": N_("Your wallet was topped up with {amount}. Reference: {id}."),
    "merchant_refund": N_("{from} refunded you {amount}. Reference: {id}."),
    "driver_payout": N_("Your ride earnings, {amount}, were paid to your wallet. Reference: {id}."),
}

_RIDES: dict[str, str] = {
    "ride_offer": N_(
        "New ride request: pickup {eta_min} min away, fare {amount}, paid {payment}. Open the driver "
        "app to accept."
    ),
    "ride_assigned": N_("{driver} is coming on plate {plate}, about {eta_min} min away."),
    "ride_arrived": N_("{driver} ({plate}) is at the pickup point."),
    "ride_completed": N_("You have arrived. Fare: {amount}, paid {payment}. Thank you for riding with Sika!"),
    "ride_cancelled": N_("The ride was cancelled. Cancellation fee: {fee}."),
    "ride_no_driver": N_("Sorry, no driver is free near you right now. Please try again in a few minutes."),
    "ride_reassigning": N_("Your driver could not come: we are finding you another one."),
    "ride_earning": N_("Trip completed: fare {amount}, paid {payment}. Your earnings: {earning}."),
}
_PAYMENT_NAMES = {"cash": N_("in cash"), "wallet": N_("from your Sika wallet"), "card": N_("by card")}


class NotificationText:
    """``(kind, params, msisdn) -> text``, in the language of the wallet behind ``msisdn``."""

    def __init__(self, customers: Customers) -> None:
        self._customers = customers

    def __call__(self, kind: str, params: dict[str, Any], msisdn: str) -> str:
        customer = self._customers.find(msisdn)
        return render(translator(customer.language if customer else None), kind, params)


def render(t: Translator, kind: str, params: dict[str, Any]) -> str:
    values = {name: value for name, value in params.items() if isinstance(value, (str, int))}
    for name in ("amount", "fee"):
        values[name] = t.amount(int(params.get(name, 0) or 0))
    values.setdefault("to", "")
    values.setdefault("from", "")
    values.setdefault("description", "")
    values.setdefault("id", "")
    if kind == "promo_prize_won":
        return prize_won_text(t, params)
    if kind == "voucher_received":
        return t(
            "{sender} sent you {amount} with Sika. Your code: {code}. Collect it within {days} days at "
            "a Sika agent, or open a wallet by writing to this number. Never share this code with "
            "anyone but the agent.",
            sender=params.get("sender", ""),
            amount=values["amount"],
            code=params.get("secret", "—"),
            days=params.get("expires_days", 7),
        )
    if kind == "approval_requested":  # who asks by their registered name; the merchant's words as a note
        text = t('{requester} asks you to pay {amount} (fee {fee}). To answer, write "menu" and choose '
                 '"Approve a request".', requester=values["from"], amount=values["amount"], fee=values["fee"])
        merchant = params.get("kind") != "cash_out"
        note = merchant_note(str(values["description"]), str(values["from"])) if merchant else ""
        return text + "\n" + t('Their note: "{note}"', note=note) if note else text
    if kind in _RIDES:
        payment = params.get("payment")
        return t(
            _RIDES[kind],
            **{
                **values,
                "eta_min": params.get("eta_min") or "?",
                "driver": params.get("driver", ""),
                "plate": params.get("plate", ""),
                "payment": t(_PAYMENT_NAMES[payment]) if payment in _PAYMENT_NAMES else "",
            },
        )
    base, _, direction = kind.removeprefix("receipt_").rpartition("_")
    template = (_SENT if direction == "sent" else _RECEIVED).get(base)
    if template is None:
        return t(
            "Sika: a movement of {amount} on your wallet. Reference: {id}.",
            amount=values["amount"],
            id=values["id"],
        )
    text = "\n".join([t(template, **values), *receipt_reward_lines(t, params)])
    receipt = params.get("receipt")
    if isinstance(receipt, dict) and receipt.get("token"):
        text += "\n" + t("Your electricity token: {token}", token=receipt["token"])
    return text
