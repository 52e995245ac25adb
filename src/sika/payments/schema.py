"""The payments tables: agents, merchants, movements, vouchers, approvals, inflow meters and the outbox.

A movement is one thing a person did with money (a cash-in, a transfer, a bill payment); its ledger
transfers ("legs") are stored with it, so that a movement interrupted by a crash can be finished by
submitting the same legs again: the ledger's transfer ids make that resubmission harmless.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from sika.payments.queue import queued_index
from sika.tables import ROWID, metadata

__all__ = [
    "agents",
    "approvals",
    "bill_claims",
    "callbacks",
    "inflow_meters",
    "merchants",
    "movements",
    "outbox",
    "system_accounts",
    "vouchers",
]

# Named platform accounts (fee revenue, commission expense, voucher holding, ...), opened on demand.
system_accounts = Table(
    "pay_system_accounts",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False, unique=True),
)

agents = Table(
    "pay_agents",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False),
    Column("msisdn", String(16), nullable=True),
    Column("api_key_id", BigInteger, ForeignKey("auth_api_keys.id"), nullable=False, unique=True),
    Column("float_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False, unique=True),
    Column("created_at_ns", BigInteger, nullable=False),
)

merchants = Table(
    "pay_merchants",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False),
    Column("api_key_id", BigInteger, ForeignKey("auth_api_keys.id"), nullable=False, unique=True),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False, unique=True),
    Column("callback_url", String(500), nullable=True),
    # Key of the callbacks' HMAC; shown once at creation, kept to sign.
    Column("callback_secret", String(80), nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
)

movements = Table(
    "pay_movements",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False, server_default=text("0")),
    Column("commission", BigInteger, nullable=False, server_default=text("0")),
    Column("currency", String(3), nullable=False),
    Column("payer_customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=True),
    Column("payee_customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=True),
    Column("agent_id", BigInteger, ForeignKey("pay_agents.id"), nullable=True),
    Column("merchant_id", BigInteger, ForeignKey("pay_merchants.id"), nullable=True),
    # Who or what is on the other side: a phone number, a meter, a subscriber reference.
    Column("counterparty", String(64), nullable=True),
    Column("provider", String(20), nullable=True),
    Column("product", String(40), nullable=True),
    Column("provider_reference", String(80), nullable=True),
    Column("legs", Text, nullable=False),
    Column("details", Text, nullable=False, server_default=text("'{}'")),
    Column("error_code", String(40), nullable=True),
    # Provider payments: when the hold is given up if the provider has not answered.
    Column("deadline_ns", BigInteger, nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("updated_at_ns", BigInteger, nullable=False),
    # SHA-256 of the request that made the movement (sika.payments.fingerprints): a second request
    # with the same id and another fingerprint is a conflict, never a resume (Mojaloop's "modified
    # request"), whatever the Idempotency-Key cache still holds.
    Column("request_digest", String(64), nullable=True),
    CheckConstraint("amount > 0", name="ck_pay_movements_amount"),
    CheckConstraint("fee >= 0 AND commission >= 0", name="ck_pay_movements_fee"),
    CheckConstraint(
        "status IN ('processing', 'pending', 'completed', 'failed', 'refunded')",
        name="ck_pay_movements_status",
    ),
    Index("ix_pay_movements_status", "status", "deadline_ns"),
    Index("ix_pay_movements_payer", "payer_customer_id", "created_at_ns"),
    Index("ix_pay_movements_payee", "payee_customer_id", "created_at_ns"),
    # Providers that name an order by their own reference only (Africa's Talking's callbacks).
    Index("ix_pay_movements_provider_reference", "provider_reference"),
)

vouchers = Table(
    "pay_vouchers",
    metadata,
    Column("movement_id", String(40), ForeignKey("pay_movements.id"), primary_key=True),
    Column("recipient_msisdn", String(16), nullable=False, index=True),
    Column("sender_customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("code_digest", String(64), nullable=False),
    Column("status", String(12), nullable=False),
    Column("failed_tries", Integer, nullable=False, server_default=text("0")),
    Column("expires_at_ns", BigInteger, nullable=False),
    # The movement that paid it out (claim or refund).
    Column("settled_by", String(40), nullable=True),
    CheckConstraint("status IN ('held', 'claimed', 'refunded')", name="ck_pay_vouchers_status"),
    Index("ix_pay_vouchers_expiry", "status", "expires_at_ns"),
)

# Requests a customer approves with the PIN: a cash-out at an agent, a merchant's request to pay.
approvals = Table(
    "pay_approvals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("status", String(12), nullable=False),
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("fee", BigInteger, nullable=False, server_default=text("0")),
    Column("agent_id", BigInteger, ForeignKey("pay_agents.id"), nullable=True),
    Column("merchant_id", BigInteger, ForeignKey("pay_merchants.id"), nullable=True),
    Column("description", String(140), nullable=False, server_default=text("''")),
    Column("merchant_reference", String(64), nullable=True),
    Column("movement_id", String(40), nullable=True),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    CheckConstraint(
        "status IN ('pending', 'approved', 'declined', 'expired', 'failed')",
        name="ck_pay_approvals_status",
    ),
    Index("ix_pay_approvals_customer", "customer_id", "status"),
)

# One ledger account per customer and calendar month counts what the wallet received: its
# balance_max is the tier's monthly inflow limit, so the ledger enforces the limit under its lock.
inflow_meters = Table(
    "pay_inflow_meters",
    metadata,
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False, unique=True),
)

# Receipts and notifications, written in the transaction that records the movement's outcome and
# delivered by workers; ``dedupe_key`` makes a second enqueue of the same message a no-op.
outbox = Table(
    "pay_outbox",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(120), nullable=False, unique=True),
    Column("msisdn", String(16), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("params", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_ns", BigInteger, nullable=False),
    Column("lease_until_ns", BigInteger, nullable=True),
    Column("last_error", String(200), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("delivered_at_ns", BigInteger, nullable=True),
    # The route that delivered it: whatsapp, sms, inbox (or a test's channel).
    Column("channel", String(12), nullable=True),
    # Why the notification policy held or dropped it, or let it go (sika.notices): a reason code and
    # its values as JSON, made a sentence in the reader's language when shown.
    Column("reason", String(200), nullable=True),
    CheckConstraint("status IN ('queued', 'delivered', 'failed', 'dropped')", name="ck_pay_outbox_status"),
    queued_index("ix_pay_outbox_queued", "id"),
    Index("ix_pay_outbox_msisdn", "msisdn", "id"),
)

# Merchant callbacks: one per payment event, signed with the merchant's key, retried until a 2xx.
callbacks = Table(
    "pay_callbacks",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(120), nullable=False, unique=True),
    Column("merchant_id", BigInteger, ForeignKey("pay_merchants.id"), nullable=False),
    Column("url", String(500), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_ns", BigInteger, nullable=False),
    Column("lease_until_ns", BigInteger, nullable=True),
    Column("last_error", String(200), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("delivered_at_ns", BigInteger, nullable=True),
    CheckConstraint("status IN ('queued', 'delivered', 'failed')", name="ck_pay_callbacks_status"),
    queued_index("ix_pay_callbacks_queued", "id"),
)

# A bill being paid or paid: one row per biller, reference and period, so that two processes cannot
# pay the same bill twice. A claim whose movement failed (or never got written) is taken over.
bill_claims = Table(
    "pay_bill_claims",
    metadata,
    Column("provider", String(20), primary_key=True),
    Column("reference", String(64), primary_key=True),
    Column("period", String(40), primary_key=True),
    Column("movement_id", String(40), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
)
