"""The wallet's tables: customers (one per phone number) with their KYC tier and PIN state."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, String, Table, text

from sika.tables import ROWID, metadata

__all__ = ["customers", "pin_resets"]


customers = Table(
    "wallet_customers",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("msisdn", String(16), nullable=False, unique=True),
    Column("name", String(80), nullable=False),
    Column("language", String(5), nullable=False),
    Column("tier", Integer, nullable=False, server_default=text("0")),
    # Set right after the customer row: the ledger opens the account in its own transaction.
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=True, unique=True),
    Column("pin_hash", String(255), nullable=True),
    Column("pin_failures", Integer, nullable=False, server_default=text("0")),
    Column("pin_locked_until_ns", BigInteger, nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    # Wrong PINs at an unauthenticated login (POST /v1/sessions): counted apart from the PIN tries of
    # the channels that come from the customer's own phone, so that a stranger who knows the number
    # locks the login, not the owner's WhatsApp or USSD.
    Column("login_failures", Integer, nullable=False, server_default=text("0")),
    Column("login_locked_until_ns", BigInteger, nullable=True),
    # A PIN reset freezes cash-out until then: whoever reset it must not walk away with the money.
    Column("cash_out_frozen_until_ns", BigInteger, nullable=True),
    CheckConstraint("tier >= 0 AND tier <= 2", name="ck_wallet_customers_tier"),
    CheckConstraint("pin_failures >= 0", name="ck_wallet_customers_pin_failures"),
)


# PIN resets in progress: a one-time code sent to the customer's number (the second factor the customer
# holds), stored as an HMAC; a few wrong codes end the reset.
pin_resets = Table(
    "wallet_pin_resets",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False, index=True),
    Column("code_digest", String(64), nullable=False),
    Column("status", String(12), nullable=False),
    Column("failed_tries", Integer, nullable=False, server_default=text("0")),
    # Who started it (an agent's or admin's API key id), for the audit trail.
    Column("requested_by", BigInteger, nullable=True),
    Column("expires_at_ns", BigInteger, nullable=False),
    Column("created_at_ns", BigInteger, nullable=False),
    CheckConstraint("status IN ('pending', 'used', 'blocked', 'expired')",
                    name="ck_wallet_pin_resets_status"),
)
