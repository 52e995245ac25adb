"""A driver's payout explained in the driver's language: what moved, what is owed, what to do."""

from __future__ import annotations

from sika.chat.i18n import Translator
from sika.rides.payouts import Payout

__all__ = ["explain"]


def explain(t: Translator, payout: Payout) -> str:
    amount, owed = t.amount(payout.moved), t.amount(payout.owed)
    if payout.direction == "to_wallet":
        return t("{amount} of ride earnings were paid to your wallet.", amount=amount)
    if payout.direction == "from_wallet" and not payout.owed:
        return t("{amount} of commissions on your cash rides were taken from your wallet: you owe nothing "
                 "now.", amount=amount)
    if payout.direction == "from_wallet":
        return t("{amount} of commissions on your cash rides were taken from your wallet; you still owe "
                 "{owed}. Top up your wallet (a cash-in at a Sika agent), then ask for a payout again.",
                 amount=amount, owed=owed)
    if payout.owed:
        return t("Nothing was paid out: you owe {owed} of commissions on your cash rides (Sika's share of "
                 "the fares riders paid you in cash), and your wallet has no money to settle it. Top up "
                 "your wallet (a cash-in at a Sika agent), then ask for a payout again: the debt is taken "
                 "from it, and your next earnings are paid to you.", owed=owed)
    return t("Nothing to pay out: no earnings are waiting and you owe nothing.")
