"""The wallet's tables: customers (one per phone number) with their KYC tier and PIN state."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, String, Table, text

from sika.tables import ROWID, metadata

__all__ = ["customers"]


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
    CheckConstraint("tier >= 0 AND tier <= 2", name="ck_wallet_customers_tier"),
    CheckConstraint("pin_failures >= 0", name="ck_wallet_customers_pin_failures"),
)
