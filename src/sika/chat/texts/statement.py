"""Statement items (:mod:`sika.payments.statement`) as people read them, in their language.

Descriptions are rendered here from an item's structured fields (its kind, the provider's display
name, the product, a masked reference, the other party), never taken from a provider's English
``Quote.description``: the same movement reads "Togocom airtime for +22897112233" in English and
"Crédit Togocom pour +22897112233" in French. Every screen that shows money (REST history, the chat
and USSD history, receipts, ``sika wallet history``) renders items through these functions.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sika.chat.i18n import N_, Translator
from sika.payments.statement import Item, ItemStatus, product_names

__all__ = ["as_dict", "description", "history_line", "history_text", "purchase", "quoted_purchase", "receipt",
           "signed_amount"]

_NS = 1_000_000_000

# (kind, direction) -> sentence; {party} is the other side's name (or number).
_MOVES: dict[tuple[str, str], str] = {
    ("transfer", "out"): N_("Money sent to {party}"),
    ("transfer", "in"): N_("Money received from {party}"),
    ("voucher", "out"): N_("Money sent to {party}, to collect with a code"),
    ("voucher_claim", "in"): N_("Money from {party}, collected with its code"),
    ("voucher_refund", "in"): N_("Money back: {party} did not collect it in time"),
    ("cash_in", "in"): N_("Cash-in at {party}"),
    ("cash_out", "out"): N_("Cash-out at {party}"),
    ("merchant_payment", "out"): N_("Payment to {party}"),
    ("merchant_refund", "in"): N_("Refund from {party}"),
    ("driver_payout", "in"): N_("Ride earnings paid to your wallet"),
    ("driver_payout", "out"): N_("Commissions owed on cash rides, settled from your wallet"),
    # A campaign pays outside a payment (a prize, a referrer's reward); {party} is the campaign's name.
    ("reward", "in"): N_("Reward from {party}"),
}
# Provider purchases by product kind: with the reference (a number, a masked meter or card) and without.
_PURCHASES: dict[str, tuple[str, str]] = {
    "airtime": (N_("{provider} airtime for {reference}"), N_("{provider} airtime")),
    "data": (N_("{provider} data bundle {product} for {reference}"), N_("{provider} data bundle {product}")),
    "electricity": (N_("{provider} electricity, meter {reference}"), N_("{provider} electricity")),
    "water": (N_("{provider} water bill, subscriber {reference}"), N_("{provider} water bill")),
    "tv": (N_("{provider} {product} subscription, card {reference}"),
           N_("{provider} {product} subscription")),
    "card": (N_("Top-up by card {reference}"), N_("Top-up by card")),
    "mobile_money": (N_("Top-up from {provider} {reference}"), N_("Top-up from {provider}")),
}
# A product whose name already says its provider ("Canal+ Evasion", of Canal+) is named alone: not
# "Canal+ Canal+ Evasion subscription".
_NAMED_PURCHASES: dict[str, tuple[str, str]] = {
    "tv": (N_("{product} subscription, card {reference}"), N_("{product} subscription")),
}
_RIDES = {
    "cancelled": N_("Late cancellation fee of a ride"),
    "completed": N_("Ride with {party}"),
}


def description(t: Translator, item: Item) -> str:
    """What the movement was, in one line of the reader's language."""
    subject = item.subject
    party = item.counterparty.short
    kind = item.kind
    if kind in ("airtime", "bill", "top_up"):
        said = purchase(t, subject.get("product_kind", ""), subject.get("provider", ""),
                        subject.get("product", ""), subject.get("reference", ""))
        # None: a product no longer in the catalogue
        return said if said is not None else t("Payment to {party}", party=party)
    if kind == "ride":
        trip_status = subject.get("trip_status", "")
        if item.status is ItemStatus.PENDING:
            return t("Ride: the fare is held until the trip ends")
        return t(_RIDES.get(trip_status, N_("Ride with {party}")), party=party)
    move = _MOVES.get((kind, subject.get("direction", "out")))
    if move is None:
        return t("Payment with {party}", party=party) if party else t("Payment")
    return t(move, party=party)


def purchase(t: Translator, product_kind: str, provider: str, product: str, reference: str) -> str | None:
    """A purchase in one line: the provider's and product's display names, and the reference (a
    number, a meter, a card; none when it is the buyer's own number). None for an unknown kind."""
    templates = _PURCHASES.get(product_kind)
    if templates is None:
        return None
    if provider and provider in product and product_kind in _NAMED_PURCHASES:
        templates = _NAMED_PURCHASES[product_kind]
    with_reference, without = templates
    return t(with_reference if reference else without, provider=provider, product=product,
             reference=reference)


def quoted_purchase(t: Translator, catalogue: list[dict[str, Any]], provider: str, product: str,
                    reference: str) -> str | None:
    """A purchase about to be made, named from the catalogue as its history line will name it (with
    the reference in full: the person checks what they typed). None for a product not listed."""
    found = product_names(catalogue).get((provider, product))
    return None if found is None else purchase(t, *found, reference)


def signed_amount(t: Translator, amount: int) -> str:
    """An item's amount with its sign: "+5 000 F CFA", "-5 100 F CFA"."""
    sign = "+" if amount > 0 else "-" if amount < 0 else ""
    return sign + t.amount(abs(amount))


def history_line(t: Translator, item: Item) -> str:
    """One line of a history screen: when, how much, what (and the status unless completed)."""
    when = time.strftime("%d/%m %H:%M", time.gmtime(item.at_ns // _NS))
    what = description(t, item)
    if item.status is ItemStatus.FAILED:
        return t("{when} {what}: failed, nothing was taken", when=when, what=what)
    if item.status is ItemStatus.PENDING:
        return t("{when} {amount} {what} (pending)", when=when, amount=signed_amount(t, item.amount),
                 what=what)
    amount = signed_amount(t, item.amount)
    if item.reward > 0:
        return t("{when} {amount} {what} (with a reward of {reward})", when=when, amount=amount, what=what,
                 reward=t.amount(item.reward))
    if item.reward < 0:
        return t("{when} {amount} {what} (less {reward}: a reward taken back)", when=when, amount=amount,
                 what=what, reward=t.amount(-item.reward))
    return t("{when} {amount} {what}", when=when, amount=amount, what=what)


def history_text(t: Translator, items: list[Item]) -> str:
    """The chat's and USSD's history screen: a title and a line per item, newest first."""
    if not items:
        return t("No transactions yet.")
    return "\n".join([t("Your last transactions:"), *(history_line(t, item) for item in items)])


def receipt(t: Translator, item: Item) -> str:
    """The receipt of a movement for one side, from its statement item."""
    what = description(t, item)
    if item.amount > 0:
        return t("{what}: {amount}. Reference: {id}.", what=what, amount=t.amount(item.amount), id=item.id)
    paid = -item.amount - item.fee
    if item.fee:
        text = t("Receipt: {what}. Amount: {amount}, fee {fee}. Reference: {id}.", what=what,
                 amount=t.amount(paid), fee=t.amount(item.fee), id=item.id)
    else:
        text = t("Receipt: {what}. Amount: {amount}. Reference: {id}.", what=what, amount=t.amount(paid),
                 id=item.id)
    if item.kind == "voucher":
        text += "\n" + t(
            "{party} has no Sika wallet: we send them the code by message. If no message can reach "
            "them, we send the code to you, to pass on.",
            party=item.counterparty.short,
        )
    return text


def as_dict(t: Translator, item: Item) -> dict[str, Any]:
    """The item as the REST API, the CLI and the console show it (``docs/wallet.md``)."""
    return {
        "id": item.id,
        "kind": item.kind,
        "status": str(item.status),
        "amount": item.amount,
        "fee": item.fee,
        "currency": item.currency,
        "counterparty": item.counterparty.label,
        "counterparty_msisdn": item.counterparty.msisdn,
        "description": description(t, item),
        "reward": item.reward,
        "at": datetime.fromtimestamp(item.at_ns / _NS, tz=UTC).isoformat(timespec="seconds"),
    }
