"""Payments wired together: the system accounts, the limits, the movement runner (the port other
services are given), vouchers, recovery and the products' facade, over one engine, ledger and clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from sika.ledger import Ledger
from sika.payments.accounts import SystemAccounts
from sika.payments.fees import DEFAULT_FEES, FeeSchedule
from sika.payments.limits import Limits
from sika.payments.meters import InflowMeters
from sika.payments.recovery import Recovery
from sika.payments.runner import RECOVERY_GRACE_S
from sika.payments.service import Payments
from sika.payments.settlement import Movements
from sika.payments.vouchers import VOUCHER_TTL_S, Vouchers
from sika.wallet import Customers, TierLimits

__all__ = ["PaymentParts", "payments_over"]


@dataclass(frozen=True, slots=True)
class PaymentParts:
    movements: Movements  # the port: given to every service that posts movements
    vouchers: Vouchers
    payments: Payments


def payments_over(engine: Engine, ledger: Ledger, customers: Customers, *, tiers: Mapping[int, TierLimits],
                  fees: FeeSchedule = DEFAULT_FEES, clock_ns: Callable[[], int] = time.time_ns,
                  voucher_ttl_s: int = VOUCHER_TTL_S, recovery_grace_s: int = RECOVERY_GRACE_S,
                  voucher_key: bytes | None = None) -> PaymentParts:
    accounts = SystemAccounts(engine, ledger)
    limits = Limits(tiers, InflowMeters(engine, ledger, accounts.currency), accounts, clock_ns=clock_ns)
    movements = Movements(engine, ledger, customers, accounts, limits, clock_ns=clock_ns,
                          recovery_grace_s=recovery_grace_s)
    vouchers = Vouchers(engine, movements, customers, fees, clock_ns=clock_ns, ttl_s=voucher_ttl_s,
                        key=voucher_key)
    payments = Payments(movements, customers, vouchers, Recovery(engine, movements), fees=fees)
    return PaymentParts(movements, vouchers, payments)
