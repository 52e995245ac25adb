"""The limits on amounts: the one place that says how large an amount may be, and a wallet's tier limits.

``AMOUNT_MAX`` bounds every amount anything accepts (API bodies, chat shortcuts, campaign rules, fee
bands): XOF has no minor unit, and 10**12 F is far beyond any real payment while staying well inside
the ledger's 64-bit amounts, sums included. A wallet's own limits come from its KYC tier: what one
movement may carry (checked before anything is recorded) and what may flow in a month (a meter leg,
checked by the ledger under the accounts' locks, see :mod:`sika.payments.meters`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sika.errors import SikaError
from sika.ledger import Account
from sika.payments.accounts import SystemAccounts
from sika.payments.meters import InflowMeters, month_of
from sika.payments.movements import Code, Leg, PaymentRefused, Role
from sika.wallet import Customer, TierLimits

__all__ = ["AMOUNT_MAX", "AMOUNT_MIN", "Limits", "check_amount"]

AMOUNT_MIN = 1
AMOUNT_MAX = 10**12


def check_amount(amount: int) -> None:
    """A movement's amount: a whole number of francs, from ``AMOUNT_MIN`` to ``AMOUNT_MAX``."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < AMOUNT_MIN:
        raise SikaError("an amount is a positive whole number of francs", code="invalid_amount")
    if amount > AMOUNT_MAX:
        raise SikaError("that amount is too large", code="invalid_amount")


class Limits:
    """A wallet's tier limits: per movement (:meth:`check_transaction`) and per month (:meth:`meter_leg`)."""

    def __init__(self, tiers: Mapping[int, TierLimits], meters: InflowMeters, accounts: SystemAccounts, *,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._tiers = dict(tiers)
        self.meters = meters
        self._accounts = accounts
        self._clock_ns = clock_ns

    def check_transaction(self, customer: Customer, amount: int) -> None:
        """:class:`PaymentRefused` ``limit_exceeded`` when one movement of ``amount`` is over the tier's."""
        limit = self._tiers[customer.tier].transaction_max
        if amount > limit:
            raise PaymentRefused.from_code(
                "limit_exceeded",
                f"a tier-{customer.tier} wallet moves at most {limit} {self._accounts.currency} at a time")

    def room(self, customer: Customer, wallet: Account) -> int:
        """What ``customer``'s wallet (its ledger account ``wallet``, just read) could take in now: under
        its balance cap, counting credits still pending, and what is left of its month's inflow."""
        month = month_of(self._clock_ns())
        left = self._tiers[customer.tier].inflow_month_max - self.meters.used(customer.id, month)
        if wallet.balance_max is not None:
            held = wallet.credits_posted + wallet.credits_pending - wallet.debits_posted
            left = min(left, wallet.balance_max - held)
        return max(0, left)

    def meter_leg(self, movement_id: str, customer: Customer, amount: int) -> Leg:
        """The leg that counts ``amount`` into the wallet's monthly inflow (the ledger refuses it over
        the tier's ``inflow_month_max``); it goes into the chain of the movement that pays the wallet."""
        limit = self._tiers[customer.tier].inflow_month_max
        meter = self.meters.account(customer.id, month_of(self._clock_ns()), limit)
        return Leg(f"{movement_id}.m", self._accounts.id("meter_source"), meter, amount, Code.INFLOW_METER,
                   Role.METER)
