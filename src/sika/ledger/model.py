"""The ledger's vocabulary: accounts, transfers, flags and result codes.

Plain Python, no framework. The design follows TigerBeetle's: accounts hold four running totals
(posted and pending, debits and credits); transfers are immutable and their client-chosen id is the
idempotency key; a pending transfer reserves funds until it is posted, voided or expires.

Two-phase transfers form this state machine, stored per pending transfer::

    pending --post (full or partial)--> posted
    pending --void--------------------> voided
    pending --timeout elapsed---------> expired

Each pending transfer leaves ``pending`` exactly once; the database enforces it with a unique index on
the resolving transfer's ``pending_id``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "AMOUNT_MAX",
    "ID_LENGTH_MAX",
    "METADATA_BYTES_MAX",
    "TIMEOUT_S_MAX",
    "Account",
    "AccountFlags",
    "AccountKind",
    "PendingStatus",
    "Transfer",
    "TransferFlags",
    "TransferResult",
]

# Limits on everything: a total never leaves a signed 64-bit column.
AMOUNT_MAX = 2**63 - 1
ID_LENGTH_MAX = 64
CODE_MAX = 65_535
METADATA_BYTES_MAX = 2_048
TIMEOUT_S_MAX = 30 * 24 * 3600


class AccountKind(enum.StrEnum):
    """What an account stands for; it decides nothing by itself, flags do."""

    CUSTOMER_WALLET = "customer_wallet"
    AGENT_FLOAT = "agent_float"
    MERCHANT = "merchant"
    DRIVER_WALLET = "driver_wallet"
    FEE_REVENUE = "fee_revenue"
    COMMISSION_EXPENSE = "commission_expense"
    PROVIDER_SETTLEMENT = "provider_settlement"
    CAMPAIGN_BUDGET = "campaign_budget"
    SUSPENSE = "suspense"
    VOUCHER_HOLDING = "voucher_holding"
    SETTLEMENT_BANK = "settlement_bank"
    EQUITY = "equity"
    # Counts money for a limit (a wallet's monthly inflow) rather than holding any: its balance_max
    # is the limit, and its transfers are mirrored from a source meter, so no customer money moves.
    LIMIT_METER = "limit_meter"


class AccountFlags(enum.IntFlag):
    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2
    CLOSED = 4


_DEBITS_LIMITED = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CREDITS_LIMITED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)


class TransferFlags(enum.IntFlag):
    NONE = 0
    # This transfer and the next one succeed or fail together; the chain ends at the first transfer
    # without the flag.
    LINKED = 1
    PENDING = 2
    POST_PENDING = 4
    VOID_PENDING = 8


class PendingStatus(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class TransferResult(enum.StrEnum):
    """Stable result codes; tests and callers match on these, never on messages."""

    OK = "ok"
    EXISTS = "exists"
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    ID_INVALID = "id_invalid"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    AMOUNT_TOO_LARGE = "amount_too_large"
    CODE_INVALID = "code_invalid"
    METADATA_TOO_LARGE = "metadata_too_large"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    CURRENCY_MISMATCH = "currency_mismatch"
    DEBIT_ACCOUNT_CLOSED = "debit_account_closed"
    CREDIT_ACCOUNT_CLOSED = "credit_account_closed"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"
    EXCEEDS_BALANCE_MAX = "exceeds_balance_max"
    OVERFLOWS = "overflows"
    TIMEOUT_RESERVED_FOR_PENDING = "timeout_reserved_for_pending"
    TIMEOUT_TOO_LARGE = "timeout_too_large"
    PENDING_ID_REQUIRED = "pending_id_required"
    PENDING_ID_MUST_BE_EMPTY = "pending_id_must_be_empty"
    PENDING_ID_MUST_BE_DIFFERENT = "pending_id_must_be_different"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS = "pending_transfer_has_different_accounts"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_EXPIRED = "pending_transfer_expired"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"


@dataclass(slots=True)
class Account:
    """An account and its running totals. Balances are derived, never stored."""

    id: int
    currency: str
    kind: AccountKind
    flags: AccountFlags = AccountFlags.NONE
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at_ns: int = 0
    # The most the account may hold, counting credits on their way in (pending); None: no cap. It
    # refuses incoming transfers only, so lowering it below the balance strands nothing.
    balance_max: int | None = None

    @property
    def balance(self) -> int:
        """Posted balance, seen from the holder: credits less debits (a wallet's money)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What the holder can spend now: the balance less debits reserved by pending transfers."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def violates_flags(self) -> bool:
        flags = int(self.flags)  # plain int: this runs for every account of every batch
        if flags & _DEBITS_LIMITED and self.debits_posted + self.debits_pending > self.credits_posted:
            return True
        return bool(
            flags & _CREDITS_LIMITED and self.credits_posted + self.credits_pending > self.debits_posted
        )


@dataclass(slots=True, frozen=True)
class Transfer:
    """A request to move ``amount`` (minor units) from the debit to the credit account.

    For ``POST_PENDING`` and ``VOID_PENDING`` the accounts may be left at 0 (taken from the pending
    transfer) and the amount at 0 (post the full pending amount). ``timeout_s`` applies to pending
    transfers only; 0 means no timeout.
    """

    id: str
    debit_account_id: int = 0
    credit_account_id: int = 0
    amount: int = 0
    code: int = 0
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    timeout_s: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


class TransferRecord(NamedTuple):
    """A transfer as stored: the request's fields resolved, plus what the ledger assigned.

    Immutable, as a frozen dataclass would be, but a named tuple: a batch of 1,000 makes 1,000 of
    them, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` a field, 14 fields) was a
    seventh of a SQLite batch's time (docs/benchmarks.md); :meth:`_make` from a tuple is a tenth of it.
    """

    id: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    code: int
    flags: TransferFlags
    pending_id: str | None
    timeout_s: int
    metadata: dict[str, Any]
    created_at_ns: int
    seq: int = 0
    # For pending transfers only: where the reservation stands now.
    pending_status: PendingStatus | None = None
    expires_at_ns: int | None = None
