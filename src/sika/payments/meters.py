"""Monthly inflow meters: the tier's "reloaded a month" limit, enforced by the ledger itself.

Each wallet gets one meter account per calendar month (UTC, which is Lomé's time; other XOF capitals
are within an hour of it). Every inflow adds a leg ``meter_source -> meter`` of the same amount, linked
to the money's legs; the meter's ``balance_max`` is the tier's ``inflow_month_max``, so a payment that
would cross the limit fails with ``exceeds_balance_max`` under the same account locks and in the same
transaction that would have moved the money. No customer money is involved in a meter leg.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from sika.ledger import AccountKind, Ledger
from sika.ledger.schema import accounts
from sika.money import XOF
from sika.payments.schema import inflow_meters
from sika.prepared import Prepared

__all__ = ["InflowMeters", "month_of"]

_CACHE_MAX = 100_000
_WHERE = (inflow_meters.c.customer_id == bindparam("b_customer"),
          inflow_meters.c.month == bindparam("b_month"))
_METER = Prepared(select(inflow_meters.c.account_id).where(*_WHERE))
# The meter and the cap its ledger account has now, in one read (two round trips on PostgreSQL were
# the first payment to each wallet in a month, for every process). The cap is the ledger's to keep.
_METER_AND_CAP = Prepared(select(inflow_meters.c.account_id, accounts.c.balance_max)
                          .join_from(inflow_meters, accounts, accounts.c.id == inflow_meters.c.account_id)
                          .where(*_WHERE))


def month_of(now_ns: int) -> str:
    return time.strftime("%Y-%m", time.gmtime(now_ns // 1_000_000_000))


class InflowMeters:
    def __init__(self, engine: Engine, ledger: Ledger, currency: str = XOF.code) -> None:
        self._engine = engine
        self._currency = currency
        self._ledger = ledger
        # (customer, month) -> (account id, the limit it was last set to)
        self._cache: dict[tuple[int, str], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def account(self, customer_id: int, month: str, limit: int) -> int:
        """The meter's ledger id for this customer and month, its cap kept at the tier's ``limit``."""
        key = (customer_id, month)
        cached = self._cache.get(key)
        if cached is not None and cached[1] == limit:
            return cached[0]
        found = _METER_AND_CAP.first(self._engine, {"b_customer": customer_id, "b_month": month})
        if found is None:
            account_id = self._open(customer_id, month, limit)
            cap = self._ledger.get_account(account_id).balance_max  # another request's, if it came first
        else:
            account_id, cap = int(found.account_id), found.balance_max
        if cap != limit:
            self._ledger.set_balance_max(account_id, limit)  # the tier changed this month
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (account_id, limit)
        return account_id

    def used(self, customer_id: int, month: str) -> int:
        account_id = self._lookup(customer_id, month)
        return 0 if account_id is None else self._ledger.get_account(account_id).balance

    def _lookup(self, customer_id: int, month: str) -> int | None:
        found = _METER.scalar(self._engine, {"b_customer": customer_id, "b_month": month})
        return None if found is None else int(found)

    def _open(self, customer_id: int, month: str, limit: int) -> int:
        account = self._ledger.create_account(
            currency=self._currency, kind=AccountKind.LIMIT_METER, balance_max=limit,
            metadata={"customer": customer_id, "month": month})
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(inflow_meters).values(
                    customer_id=customer_id, month=month, account_id=account.id))
        except IntegrityError:
            self._ledger.close_account(account.id)  # another request opened it first
            found = self._lookup(customer_id, month)
            assert found is not None
            return found
        return account.id
