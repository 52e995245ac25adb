"""Caps on rewards, kept by the ledger: one meter account per campaign and scope (a customer, a day,
a device), whose ``balance_max`` is the cap.

A reward carries one leg ``meter_source -> meter`` per cap that applies (the count 1, or the reward's
francs for a cap in francs), in its optional group: a reward that would pass a cap is refused by the
ledger under the meter's lock, in the batch that would have paid it, so concurrent payments cannot
pass a cap either. The group is then dropped and the payment goes on (see sika.payments.hooks). No
money moves in a meter leg; meters count, as the wallets' monthly inflow meters do.
"""

from __future__ import annotations

import threading
from collections.abc import Collection

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from sika.ledger import AccountKind, Ledger
from sika.promotions.schema import meters

__all__ = ["CAP_LEG", "DEVICE_LEG", "OWED_LEG", "Meters"]

# How a reward's meter legs begin the last part of their id: a cap of the campaign's rules, the
# device's own cap (per_device_max), an owed reward being collected (sika.promotions.debts). "Why no
# reward?" tells them apart when the ledger refuses one (sika.promotions.explain).
CAP_LEG, DEVICE_LEG, OWED_LEG = "m", "v", "o"

_CACHE_MAX = 100_000
KEY_CHARS_MAX = 96


class Meters:
    def __init__(self, engine: Engine, ledger: Ledger) -> None:
        self._engine = engine
        self._ledger = ledger
        self._cache: dict[str, int] = {}
        self._lock = threading.Lock()

    def account(self, key: str, cap: int) -> int:
        """The meter called ``key`` (opened with ``cap`` the first time)."""
        assert 0 < len(key) <= KEY_CHARS_MAX and cap > 0, key
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        account_id = self._lookup(key) or self._open(key, cap)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = account_id
        return account_id

    def used(self, key: str) -> int:
        account_id = self._cache.get(key) or self._lookup(key)
        return 0 if account_id is None else self._ledger.get_account(account_id).balance

    def known(self, keys: Collection[str]) -> dict[str, int]:
        """The meters of ``keys`` that exist (one read for those not cached); none is opened."""
        cache = self._cache  # cleared by another thread at any time: read each key once
        found = {key: cached for key in keys if (cached := cache.get(key)) is not None}
        missing = sorted(set(keys) - found.keys())
        if missing:
            with self._engine.connect() as connection:
                rows = connection.execute(
                    select(meters.c.key, meters.c.account_id).where(meters.c.key.in_(missing))
                ).all()
            found.update({str(row.key): int(row.account_id) for row in rows})
        return found

    def _lookup(self, key: str) -> int | None:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(meters.c.account_id).where(meters.c.key == key)
            ).scalar_one_or_none()
        return None if found is None else int(found)

    def _open(self, key: str, cap: int) -> int:
        account = self._ledger.create_account(
            currency="XOF", kind=AccountKind.LIMIT_METER, balance_max=cap, metadata={"promotion_meter": key}
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(meters).values(key=key, account_id=account.id))
        except IntegrityError:
            self._ledger.close_account(account.id)  # another request opened it first
            found = self._lookup(key)
            assert found is not None
            return found
        return account.id
