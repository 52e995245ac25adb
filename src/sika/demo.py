"""Demo data for ``sika serve --demo``: a few funded accounts so a newcomer sees money move.

Fixed account ids make seeding idempotent: restarting the demo finds what it made before.
"""

from __future__ import annotations

from sika.ledger import AccountFlags, AccountKind, Ledger, Transfer, TransferResult

__all__ = ["DEMO_ACCOUNTS", "seed"]

# id -> (kind, flags, label, opening balance in XOF)
DEMO_ACCOUNTS: dict[int, tuple[AccountKind, AccountFlags, str, int]] = {
    1: (AccountKind.SETTLEMENT_BANK, AccountFlags.NONE, "Sika settlement bank (XOF)", 0),
    2: (AccountKind.FEE_REVENUE, AccountFlags.NONE,
        "Fee revenue (XOF)", 0),
    3: (AccountKind.AGENT_FLOAT, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        "Demo agent float, Lomé Bè", 500_000),
    4: (AccountKind.CUSTOMER_WALLET, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        "Demo wallet +22890112233", 25_000),
    5: (AccountKind.CUSTOMER_WALLET, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        "Demo wallet +22897112233", 10_000),
}
_BANK = 1


def seed(ledger: Ledger) -> list[int]:
    """Create the demo accounts and fund them from the bank, once; returns their ids."""
    for account_id, (kind, flags, label, _) in DEMO_ACCOUNTS.items():
        ledger.create_account(currency="XOF", kind=kind, flags=flags, metadata={"label": label},
                              account_id=account_id)
    funding = [
        Transfer(id=f"demo-funding-{account_id}", debit_account_id=_BANK,
                 credit_account_id=account_id, amount=opening, code=1,
                 metadata={"reason": "demo opening balance"})
        for account_id, (_, _, _, opening) in DEMO_ACCOUNTS.items()
        if opening
    ]
    results = ledger.create_transfers(funding)
    assert all(r in (TransferResult.OK, TransferResult.EXISTS) for r in results), results
    return list(DEMO_ACCOUNTS)
