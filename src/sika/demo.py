"""Demo data for ``sika serve --demo``: funded ledger accounts and wallets to try the API with.

Seeding is idempotent (fixed ledger account ids, fixed transfer ids, wallets looked up by number), so
restarting the demo finds what it made before. Each start prints a fresh agent API key to stderr.
"""

from __future__ import annotations

from sika.auth import Role
from sika.bootstrap import Container
from sika.ledger import AccountFlags, AccountKind, Transfer, TransferResult
from sika.wallet import Pin, UnknownWallet

__all__ = ["DEMO_ACCOUNTS", "DEMO_WALLETS", "seed"]

# id -> (kind, flags, label, opening balance in XOF)
DEMO_ACCOUNTS: dict[int, tuple[AccountKind, AccountFlags, str, int]] = {
    1: (AccountKind.SETTLEMENT_BANK, AccountFlags.NONE, "Sika settlement bank (XOF)", 0),
    2: (AccountKind.FEE_REVENUE, AccountFlags.NONE, "Fee revenue (XOF)", 0),
    3: (AccountKind.AGENT_FLOAT, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        "Demo agent float, Lomé Bè", 500_000),
}
# msisdn -> (name, language, PIN, opening balance in XOF)
DEMO_WALLETS: dict[str, tuple[str, str, str, int]] = {
    "+22890112233": ("Ama Mensah", "fr", "4827", 25_000),
    "+22897112233": ("Kofi Agbeko", "en", "5938", 10_000),
    "+22891445566": ("Fatima Ouro", "ar", "6049", 5_000),
}
_BANK = 1
_CODE_OPENING_BALANCE = 1


def seed(container: Container) -> str:
    """Create the demo accounts and wallets and fund them, once; return a new agent API key."""
    ledger = container.ledger
    for account_id, (kind, flags, label, _) in DEMO_ACCOUNTS.items():
        ledger.create_account(currency="XOF", kind=kind, flags=flags, metadata={"label": label},
                              account_id=account_id)
    funding = [
        Transfer(id=f"demo-funding-{account_id}", debit_account_id=_BANK,
                 credit_account_id=account_id, amount=opening, code=_CODE_OPENING_BALANCE)
        for account_id, (_, _, _, opening) in DEMO_ACCOUNTS.items()
        if opening
    ]
    for msisdn, (name, language, pin, opening) in DEMO_WALLETS.items():
        try:
            customer = container.customers.get(msisdn)
        except UnknownWallet:
            customer = container.customers.open(msisdn, name, language=language, pin=Pin(pin), tier=1)
        assert customer.account_id is not None
        funding.append(Transfer(id=f"demo-funding-{msisdn}", debit_account_id=_BANK,
                                credit_account_id=customer.account_id, amount=opening,
                                code=_CODE_OPENING_BALANCE))
    results = ledger.create_transfers(funding)
    assert all(r in (TransferResult.OK, TransferResult.EXISTS) for r in results), results
    _, secret = container.api_keys.create(Role.AGENT, "demo agent")
    return secret
