"""The ledger's refusals, apart from its service so that its group commit can raise them too."""

from __future__ import annotations

from sika.errors import SikaError

__all__ = ["AccountNotFound", "LedgerBusy", "LedgerError"]


class LedgerError(SikaError):
    code = "ledger_error"


class AccountNotFound(LedgerError):
    code = "unknown_account"


class LedgerBusy(LedgerError):
    """The ledger cannot take the request now: retries ran out (the database stayed locked or kept
    failing transiently), too many requests wait for the group commit, or the wait ran out."""

    code = "ledger_busy"
