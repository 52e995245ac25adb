"""Double-entry ledger: accounts, immutable transfers, two-phase and linked transfers."""

from sika.ledger.model import (
    Account,
    AccountFlags,
    AccountKind,
    PendingStatus,
    Transfer,
    TransferFlags,
    TransferRecord,
    TransferResult,
)
from sika.ledger.service import (
    BATCH_MAX,
    PAGE_LIMIT_MAX,
    AccountNotFound,
    Ledger,
    LedgerBusy,
    LedgerError,
    TransferPage,
)

__all__ = [
    "BATCH_MAX",
    "PAGE_LIMIT_MAX",
    "Account",
    "AccountFlags",
    "AccountKind",
    "AccountNotFound",
    "Ledger",
    "LedgerBusy",
    "LedgerError",
    "PendingStatus",
    "Transfer",
    "TransferFlags",
    "TransferPage",
    "TransferRecord",
    "TransferResult",
]
