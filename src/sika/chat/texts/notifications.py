"""Receipts and notifications from the outbox, as sentences in the recipient's language.

The payments outbox stores what happened (a kind and parameters); this renders it for a person when a
channel delivers it (WhatsApp, SMS) or when the in-app inbox is read. Receipts
(``receipt_<movement kind>_<sent|received>``) are rendered from the movement's statement item as that
person sees it (:mod:`sika.payments.statement`): the amount the ledger moved for them, their fee, the
other party, a translated description. Other kinds: ``voucher_received`` (a code for someone without
a wallet), ``voucher_code_to_pass_on`` (the code for the sender, when nobody could reach the
recipient), ``pin_reset_code``, ``approval_requested``, the rides' messages and marketing
(``marketing_<campaign>``: the campaign's text, with how to STOP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sika import phones
from sika.chat.consent import STOP_CONFIRMATION
from sika.chat.i18n import N_, Translator, translator
from sika.chat.texts.promotions import (
    prize_returned_text,
    prize_waiting_text,
    prize_won_text,
    receipt_reward_lines,
)
from sika.chat.texts.statement import receipt
from sika.errors import SikaError
from sika.payments.approvals import merchant_note
from sika.payments.statement import ITEMS_MAX, Item, Statements
from sika.wallet import Customers

__all__ = ["NotificationText", "render"]

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
    # Drivers' hours and fasting mode (sika.rides.driver_hours): service messages, sent at once.
    "driver_hours_left": N_(
        "{minutes} min of driving left before your limit of hours online. Plan your last trip: at the limit "
        "Sika puts you offline so that you can rest."
    ),
    "driver_rest": N_(
        "You have been online {hours} h: time to rest. You are offline until {until}; you can go online "
        "again from then."
    ),
    "driver_safety_tips": N_(
        "Ramadan Mubarak! Ride safely while fasting: sleep before your shift, do not rush before iftar "
        "(most crashes happen then), stop at Maghrib to break your fast, and never use your phone while "
        "riding."
    ),
    "driver_iftar": N_(
        "It is Maghrib ({maghrib}): stop and break your fast before your next trip. Enjoy your iftar!"
    ),
}
# Messages that carry a code (params["secret"], wiped once delivered).
_CODES = {
    "voucher_received": N_(
        "{sender} sent you {amount} with Sika. Your code: {code}. Collect it within {days} days at a "
        "Sika agent, or open a Sika wallet on this number and type the code. Share it with no one else."
    ),
    "voucher_code_to_pass_on": N_(
        "We could not send a message to {to}. Give them this code to collect the {amount} you sent: "
        "{code}. It is valid {days} days, at a Sika agent or to open a Sika wallet on their number."
    ),
    "pin_reset_code": N_(
        "Sika: your PIN reset code is {code}. It works for {minutes} minutes. Give it only to the "
        "agent resetting your PIN at your request. Not you? Do not share it: your PIN stays as it is."
    ),
}
_PAYMENT_NAMES = {"cash": N_("in cash"), "wallet": N_("from your Sika wallet"), "card": N_("by card")}


class NotificationText:
    """``(kind, params, msisdn) -> text``, in the language of the wallet behind ``msisdn`` (else the
    usual language of the number's country)."""

    def __init__(self, customers: Customers, statements: Statements | None = None) -> None:
        self._customers = customers
        self._statements = statements

    def __call__(self, kind: str, params: dict[str, Any], msisdn: str) -> str:
        return self.many([(kind, params, msisdn)])[0]

    def many(self, wanted: Sequence[tuple[str, dict[str, Any], str]]) -> list[str]:
        """Several texts in a few reads whatever their number (an outbox batch): the recipients'
        wallets at once, and the receipts' statement items at once."""
        texts: list[str] = []
        for start in range(0, len(wanted), ITEMS_MAX):
            texts.extend(self._chunk(wanted[start:start + ITEMS_MAX]))
        return texts

    def _chunk(self, wanted: Sequence[tuple[str, dict[str, Any], str]]) -> list[str]:
        found = self._customers.find_written({msisdn for _, _, msisdn in wanted})
        items: dict[int, Item | None] = {}
        if self._statements is not None:  # a wallet's receipts, as its statement shows them
            receipts = [index for index, (kind, _, msisdn) in enumerate(wanted)
                        if kind.startswith("receipt_") and msisdn in found]
            pairs = [(found[wanted[index][2]], str(wanted[index][1].get("id", ""))) for index in receipts]
            items = dict(zip(receipts, self._statements.items(pairs), strict=True))
        texts = []
        for index, (kind, params, msisdn) in enumerate(wanted):
            customer = found.get(msisdn)
            t = translator(customer.language if customer is not None else _language_of(msisdn))
            item = items.get(index)
            texts.append(_receipt(t, item, params) if item is not None else render(t, kind, params))
        return texts


def _receipt(t: Translator, item: Item, params: dict[str, Any]) -> str:
    # A reward came into the wallet with the payment (its own line): the receipt says what was paid,
    # and the reward under it.
    reward = int(params.get("reward", 0) or 0)
    shown = replace(item, amount=item.amount - reward) if reward and item.amount < 0 else item
    return _with_token(t, "\n".join([receipt(t, shown), *receipt_reward_lines(t, params)]), params)


def _language_of(msisdn: str) -> str | None:
    try:
        return phones.default_language(msisdn)
    except SikaError:
        return None


def _with_token(t: Translator, text: str, params: dict[str, Any]) -> str:
    details = params.get("receipt")
    if isinstance(details, dict) and details.get("token"):
        return text + "\n" + t("Your electricity token: {token}", token=details["token"])
    return text


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
    if kind == "promo_prize_waiting":
        return prize_waiting_text(t, params)
    if kind == "promo_prize_returned":
        return prize_returned_text(t, params)
    if kind in _CODES:
        return t(_CODES[kind], sender=params.get("sender", ""), amount=values["amount"],
                 code=params.get("secret") or "••••••••", days=params.get("expires_days", 7),
                 to=values["to"], minutes=params.get("expires_min", 15))
    if kind == "approval_requested":  # who asks by their registered name; the merchant's words as a note
        text = t('{requester} asks you to pay {amount} (fee {fee}). To answer, write "menu" and choose '
                 '"Approve a request".', requester=values["from"], amount=values["amount"], fee=values["fee"])
        merchant = params.get("kind") != "cash_out"
        note = merchant_note(str(values["description"]), str(values["from"])) if merchant else ""
        return text + "\n" + t('Their note: "{note}"', note=note) if note else text
    if kind == "stop_confirmed":  # STOP by SMS: the same confirmation the chat gives
        return t(STOP_CONFIRMATION)
    if kind.startswith("marketing_"):  # a campaign's own words (its operator wrote them per language)
        return t("Sika: {text}\nReply STOP to receive no more offers.", text=params.get("text", ""))
    if kind == "ride_cancelled" and not params.get("fee"):
        # The driver's notice names no fee; the rider's with none (waived, or early) says so plainly.
        if "fee" in params:
            return t("The ride was cancelled. Nothing was charged.")
        return t("The ride was cancelled.")
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
    return _with_token(t, t("Sika: a movement of {amount} on your wallet. Reference: {id}.",
                            amount=values["amount"], id=values["id"]), params)
