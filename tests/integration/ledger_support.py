"""Helpers shared by the ledger's integration tests (a module of the tests, not a test itself)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from sika.ledger import Account, AccountFlags, AccountKind, Ledger, Transfer, TransferResult

DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
LEDGER_TABLES = "ledger_pending, ledger_transfers, ledger_accounts"


class FakeClock:
    """A clock for ``Ledger(clock_ns=...)`` that moves only when told to."""

    def __init__(self, start_ns: int = 1_700_000_000 * 10**9) -> None:
        self.now_ns = start_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: int) -> None:
        self.now_ns += seconds * 10**9


def open_bank(ledger: Ledger, currency: str = "XOF") -> Account:
    """An account without limits: where test money comes from."""
    return ledger.create_account(currency=currency, kind=AccountKind.EQUITY)


def open_wallet(ledger: Ledger, bank: Account | None = None, amount: int = 0) -> Account:
    """A wallet that cannot go below zero, funded with ``amount`` from ``bank``."""
    wallet = ledger.create_account(currency="XOF", kind=AccountKind.CUSTOMER_WALLET, flags=DMNEC)
    if amount:
        assert bank is not None
        funding = Transfer(id=f"fund-{wallet.id}", debit_account_id=bank.id,
                           credit_account_id=wallet.id, amount=amount)
        assert ledger.create_transfers([funding]) == [TransferResult.OK]
    return wallet


def totals(account: Account) -> tuple[int, int, int, int]:
    return (account.debits_posted, account.credits_posted, account.debits_pending,
            account.credits_pending)


def truncate_ledger(engine: Engine) -> None:
    """Empty the ledger's tables (PostgreSQL), ids restarting at 1."""
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {LEDGER_TABLES} RESTART IDENTITY CASCADE"))
