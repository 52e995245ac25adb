"""The platform's own ledger accounts, by name, opened on first use.

Names are stable (``fee_revenue``, ``provider:ceet``); the mapping to ledger ids lives in
``pay_system_accounts``. Two processes opening the same name at once agree on one account: the
insert of the name is the arbiter, and the loser's empty account is closed.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from sika.ledger import AccountFlags, AccountKind, Ledger
from sika.money import XOF
from sika.payments.schema import system_accounts

__all__ = ["SystemAccounts"]

# name -> (kind, flags). Platform accounts may go negative: they are the other side of the books.
_KNOWN: dict[str, tuple[AccountKind, AccountFlags]] = {
    "settlement_bank": (AccountKind.SETTLEMENT_BANK, AccountFlags.NONE),
    "fee_revenue": (AccountKind.FEE_REVENUE, AccountFlags.NONE),
    "commission_expense": (AccountKind.COMMISSION_EXPENSE, AccountFlags.NONE),
    "voucher_holding": (AccountKind.VOUCHER_HOLDING, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    "meter_source": (AccountKind.LIMIT_METER, AccountFlags.NONE),
    # Riders' fares between the hold and the split between driver and platform.
    "rides_clearing": (AccountKind.SUSPENSE, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    # The other side of operators' corrections (console maker-checker): cleared by finance.
    "manual_adjustments": (AccountKind.SUSPENSE, AccountFlags.NONE),
    # Holds each movement's guard leg (see sika.payments.runner, Runner.finish): counts, never money.
    "movement_guard": (AccountKind.LIMIT_METER, AccountFlags.NONE),
    # What promotions the platform sponsors cost it (sika.promotions); prizes between a draw's commitment
    # and its reveal.
    "promotions_expense": (AccountKind.COMMISSION_EXPENSE, AccountFlags.NONE),
    "prize_holding": (AccountKind.SUSPENSE, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
}
_PROVIDER_PREFIX = "provider:"
NAME_CHARS_MAX = 40


class SystemAccounts:
    def __init__(self, engine: Engine, ledger: Ledger, currency: str = XOF.code) -> None:
        self._engine = engine
        self._ledger = ledger
        self._currency = currency
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def currency(self) -> str:
        """The currency of the platform's accounts, and so of every movement over them."""
        return self._currency

    def id(self, name: str) -> int:
        """The ledger id of the account called ``name``, opening it the first time."""
        cached = self._ids.get(name)
        if cached is not None:
            return cached
        with self._lock:
            account_id = self._lookup(name) or self._open(name)
            self._ids[name] = account_id
            return account_id

    def provider(self, provider: str) -> int:
        return self.id(f"{_PROVIDER_PREFIX}{provider}")

    def _lookup(self, name: str) -> int | None:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(system_accounts.c.account_id).where(system_accounts.c.name == name)
            ).scalar_one_or_none()
        return None if found is None else int(found)

    def _open(self, name: str) -> int:
        assert 0 < len(name) <= NAME_CHARS_MAX
        if name.startswith(_PROVIDER_PREFIX):
            # What we owe a provider for what it delivered: it may go negative until settled.
            kind, flags = AccountKind.PROVIDER_SETTLEMENT, AccountFlags.NONE
        else:
            kind, flags = _KNOWN[name]
        account = self._ledger.create_account(currency=self._currency, kind=kind, flags=flags,
                                              metadata={"system": name})
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(system_accounts).values(name=name, account_id=account.id))
        except IntegrityError:
            self._ledger.close_account(account.id)
            found = self._lookup(name)
            assert found is not None
            return found
        return account.id
