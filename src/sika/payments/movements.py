"""Movements: what a person did with money, the ledger transfers (legs) that carry it out, and the
errors a failed movement reports.

A movement's id is chosen by the caller (derived from the request's Idempotency-Key, or from a chat
message id), and each leg's ledger id is derived from it, so running a movement twice moves the money
once. Legs of one movement form one linked chain: all of them happen or none.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import threading
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from sika import jsoncodec
from sika.errors import SikaError
from sika.ledger import Transfer, TransferFlags, TransferResult

__all__ = [
    "ID_CHARS_MAX",
    "TRANSITIONS",
    "Code",
    "Kind",
    "Leg",
    "Movement",
    "MovementConflict",
    "PaymentRefused",
    "Status",
    "UnknownMovement",
    "check_transition",
    "movement_from_row",
    "movement_id",
    "new_movement_id",
    "refusal",
]

ID_CHARS_MAX = 40
_ID_PREFIX = "mv_"


class Kind(str):
    """What a movement is, as stored in ``movements.kind``: a short lowercase name.

    Kinds are open: payments defines its own below; another domain names its kinds with
    ``Kind("ride")`` and registers what they do (:class:`sika.payments.hooks.KindHooks`). A name
    read from a row is always a ``Kind``, registered or not, so stored rows keep reading the same.
    One object per name (interned), so ``movement.kind is Kind.TRANSFER`` holds.
    """

    __slots__ = ()
    _interned: ClassVar[dict[str, Kind]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    CASH_IN: ClassVar[Kind]
    CASH_OUT: ClassVar[Kind]
    TRANSFER: ClassVar[Kind]
    VOUCHER: ClassVar[Kind]
    VOUCHER_CLAIM: ClassVar[Kind]
    VOUCHER_REFUND: ClassVar[Kind]
    AIRTIME: ClassVar[Kind]
    BILL: ClassVar[Kind]
    TOP_UP: ClassVar[Kind]
    MERCHANT_PAYMENT: ClassVar[Kind]
    MERCHANT_REFUND: ClassVar[Kind]
    FLOAT: ClassVar[Kind]
    PAYOUT: ClassVar[Kind]
    ADJUSTMENT: ClassVar[Kind]
    REWARD: ClassVar[Kind]

    def __new__(cls, value: str) -> Kind:
        found = cls._interned.get(value)
        if found is not None:
            return found
        if not isinstance(value, str) or not _KIND_NAME.match(value):
            raise ValueError(f"a movement kind is 1 to {KIND_CHARS_MAX} of a-z and _: {value!r}")
        with cls._lock:
            found = cls._interned.get(value)
            if found is None:
                found = super().__new__(cls, value)
                cls._interned[value] = found
            return found

    @property
    def value(self) -> str:
        """The stored name (as an enum member's ``value``)."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Kind({str.__repr__(self)})"

    def __str__(self) -> str:
        return str.__str__(self)


KIND_CHARS_MAX = 24
_KIND_NAME = re.compile(rf"^[a-z][a-z_]{{0,{KIND_CHARS_MAX - 1}}}$")

Kind.CASH_IN = Kind("cash_in")
Kind.CASH_OUT = Kind("cash_out")
Kind.TRANSFER = Kind("transfer")
Kind.VOUCHER = Kind("voucher")
Kind.VOUCHER_CLAIM = Kind("voucher_claim")
Kind.VOUCHER_REFUND = Kind("voucher_refund")
Kind.AIRTIME = Kind("airtime")
Kind.BILL = Kind("bill")
Kind.TOP_UP = Kind("top_up")
Kind.MERCHANT_PAYMENT = Kind("merchant_payment")
Kind.MERCHANT_REFUND = Kind("merchant_refund")
Kind.FLOAT = Kind("float")
Kind.PAYOUT = Kind("payout")            # money out to a mobile-money wallet, through a provider
Kind.ADJUSTMENT = Kind("adjustment")    # an operator's correction, approved by a second one (console)
Kind.REWARD = Kind("reward")            # a campaign pays a customer outside a payment: a prize, a referrer


class Status(enum.StrEnum):
    PROCESSING = "processing"   # legs being submitted (or interrupted: recovery finishes them)
    PENDING = "pending"         # money held, waiting for a provider
    COMPLETED = "completed"
    FAILED = "failed"


# The state machine of a movement's status (see sika.payments.runner): a movement is recorded
# processing (or pending, when deferred), and completed and failed are final.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PROCESSING: frozenset({Status.PENDING, Status.COMPLETED, Status.FAILED}),
    Status.PENDING: frozenset({Status.PROCESSING, Status.COMPLETED, Status.FAILED}),
    Status.COMPLETED: frozenset(),
    Status.FAILED: frozenset(),
}


def check_transition(current: Status, target: Status) -> Status:
    """``target``, asserted to be a step the state machine allows from ``current``."""
    assert target in TRANSITIONS[current], f"a movement cannot go from {current} to {target}"
    return target


class Code(enum.IntEnum):
    """Ledger transfer codes: what each leg is, for statements and audits."""

    CASH_IN = 10
    CASH_OUT = 11
    TRANSFER = 12
    VOUCHER_HOLD = 13
    VOUCHER_CLAIM = 14
    VOUCHER_REFUND = 15
    FEE = 20
    COMMISSION = 21
    INFLOW_METER = 30
    GUARD = 31
    PROVIDER_PAYMENT = 40
    TOP_UP = 42
    MERCHANT_PAYMENT = 50
    MERCHANT_REFUND = 51
    FLOAT = 60
    ADJUSTMENT = 61
    RIDE_FARE = 70
    RIDE_EARNING = 71
    RIDE_COMMISSION = 72
    DRIVER_PAYOUT = 73
    PAYOUT = 80
    # Promotions (sika.promotions): a campaign budget pays a reward, a meter counts it against a cap, a
    # refund claws it back; budgets are funded by and returned to their sponsor; prizes of draws.
    REWARD = 90
    REWARD_METER = 91
    CLAWBACK = 92
    BUDGET_FUNDING = 93
    BUDGET_RETURN = 94
    PRIZE = 95


class Role(enum.StrEnum):
    """What a leg's accounts are, so that a ledger refusal becomes the right error for a person."""

    PAYER = "payer"             # debits a customer's wallet
    PAYEE = "payee"             # credits a customer's wallet
    AGENT = "agent"             # debits an agent's float
    METER = "meter"             # counts a wallet's monthly inflow
    MERCHANT = "merchant"       # debits a merchant's account
    HOLDING = "holding"         # debits the voucher holding account
    DRIVER = "driver"           # debits a driver's account (a payout)
    PLATFORM = "platform"
    PROMOTION = "promotion"     # a leg of an optional group (a reward): refused, the group is dropped


@dataclass(frozen=True, slots=True)
class Leg:
    id: str
    debit: int
    credit: int
    amount: int
    code: int
    role: str
    pending: bool = False
    timeout_s: int = 0
    # The optional group this leg belongs to ("" for a leg the movement needs): when the ledger refuses
    # a leg of a group, the movement goes on without the whole group (see sika.payments.hooks).
    optional: str = ""

    def transfer(self, *, linked: bool, movement_id: str) -> Transfer:
        flags = TransferFlags.NONE
        if linked:
            flags |= TransferFlags.LINKED
        if self.pending:
            flags |= TransferFlags.PENDING
        return Transfer(id=self.id, debit_account_id=self.debit, credit_account_id=self.credit,
                        amount=self.amount, code=self.code, flags=flags, timeout_s=self.timeout_s,
                        metadata={"movement": movement_id})


def chain(legs: list[Leg], movement_id: str) -> list[Transfer]:
    """The legs as one linked chain (every transfer but the last carries LINKED).

    Each transfer names its movement: a leg whose id two movements share (the settle leg of a
    voucher, the refund of a payment) then exists for one movement only, and the other gets
    ``exists_with_different_fields``.
    """
    assert legs, "a movement has at least one leg"
    return [leg.transfer(linked=i < len(legs) - 1, movement_id=movement_id) for i, leg in enumerate(legs)]


_LEG_FIELDS = tuple(item.name for item in fields(Leg))


def legs_json(legs: list[Leg]) -> str:
    # A required leg is stored without its empty ``optional``: rows read the same as before hooks.
    # Field by field rather than asdict(), which copies each value deeply (a third of the work).
    return jsoncodec.dumps([{name: getattr(leg, name) for name in _LEG_FIELDS
                             if name != "optional" or leg.optional} for leg in legs])


def legs_from_json(raw: str) -> list[Leg]:
    return [Leg(**item) for item in jsoncodec.loads(raw)]


@dataclass(frozen=True, slots=True)
class Movement:
    id: str
    kind: Kind
    status: Status
    amount: int
    fee: int
    commission: int
    currency: str
    payer_customer_id: int | None
    payee_customer_id: int | None
    agent_id: int | None
    merchant_id: int | None
    counterparty: str | None
    provider: str | None
    product: str | None
    provider_reference: str | None
    details: dict[str, Any]
    error_code: str | None
    created_at_ns: int
    updated_at_ns: int
    legs: list[Leg] = field(default_factory=list)
    deadline_ns: int | None = None
    # The fingerprint of the request that made it (sika.payments.fingerprints); None on older rows.
    request_digest: str | None = None

    @property
    def holds(self) -> bool:
        """Whether the legs reserve money (two-phase) rather than move it."""
        return any(leg.pending for leg in self.legs)

    @property
    def settled(self) -> bool:
        return self.status in (Status.COMPLETED, Status.FAILED)

    def raise_for_failure(self) -> Movement:
        """The movement itself, or the error that refused it."""
        if self.status is Status.FAILED:
            raise PaymentRefused.from_code(self.error_code or "payment_failed",
                                           str(self.details.get("reason", "")) or None)
        return self


class UnknownMovement(SikaError):
    code = "unknown_transfer"


class MovementConflict(SikaError):
    """The id is taken by a different movement: an Idempotency-Key reused for another request."""

    code = "idempotency_conflict"


_REFUSALS: dict[str, str] = {
    "insufficient_funds": "the wallet's available balance does not cover the amount and fee",
    "float_insufficient": "the agent's float does not cover this cash-in",
    "merchant_insufficient": "the merchant's balance does not cover this refund",
    "limit_exceeded": "this would exceed the wallet's limits for its KYC tier",
    "account_closed": "an account in this payment is closed",
    "voucher_settled": "this voucher was already paid out",
    "already_refunded": "this payment was refunded already",
    "provider_failed": "the provider refused or failed the payment; nothing was taken",
    "provider_timeout": "the provider did not answer in time; the hold was released",
    "payment_failed": "the payment could not be made",
}


class PaymentRefused(SikaError):
    """A movement the ledger or a provider refused; its code says why."""

    @classmethod
    def from_code(cls, code: str, message: str | None = None) -> PaymentRefused:
        return cls(message or _REFUSALS.get(code, _REFUSALS["payment_failed"]), code=code)


def refusal(result: TransferResult, leg: Leg) -> tuple[str, str]:
    """A ledger refusal as (error code, reason) a customer, agent or merchant understands."""
    if result is TransferResult.EXCEEDS_CREDITS:
        if leg.role == Role.AGENT:
            return "float_insufficient", "the agent's float is too low"
        if leg.role == Role.MERCHANT:
            return "merchant_insufficient", "the merchant's balance is too low"
        return "insufficient_funds", "the wallet's available balance is too low"
    if result is TransferResult.EXCEEDS_BALANCE_MAX:
        if leg.role == Role.METER:
            return "limit_exceeded", "the recipient's monthly inflow limit would be exceeded"
        return "limit_exceeded", "the recipient's wallet would hold more than its tier allows"
    if result in (TransferResult.DEBIT_ACCOUNT_CLOSED, TransferResult.CREDIT_ACCOUNT_CLOSED):
        return "account_closed", "an account in this payment is closed"
    return "payment_failed", f"the ledger refused the payment ({result})"


def movement_id(scope: str, key: str) -> str:
    """A movement id derived from who asked and their Idempotency-Key: stable across retries."""
    digest = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
    return _ID_PREFIX + digest[:32]


def new_movement_id() -> str:
    return _ID_PREFIX + secrets.token_hex(16)


def check_id(value: str) -> str:
    if not 0 < len(value) <= ID_CHARS_MAX or not value.isascii() or not value.isprintable():
        raise SikaError(f"a movement id has 1 to {ID_CHARS_MAX} ASCII characters", code="validation_error")
    return value


def movement_from_row(row: Any) -> Movement:
    return Movement(
        id=row["id"], kind=Kind(row["kind"]), status=Status(row["status"]), amount=row["amount"],
        fee=row["fee"], commission=row["commission"], currency=row["currency"],
        payer_customer_id=row["payer_customer_id"], payee_customer_id=row["payee_customer_id"],
        agent_id=row["agent_id"], merchant_id=row["merchant_id"], counterparty=row["counterparty"],
        provider=row["provider"], product=row["product"], provider_reference=row["provider_reference"],
        details=jsoncodec.loads(row["details"]), error_code=row["error_code"],
        created_at_ns=row["created_at_ns"], updated_at_ns=row["updated_at_ns"],
        legs=legs_from_json(row["legs"]), deadline_ns=row["deadline_ns"],
        request_digest=row["request_digest"],
    )
