"""API keys and customer sessions. Only SHA-256 digests of the secrets are stored."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, String, Table

from sika.tables import ROWID, metadata

__all__ = ["api_keys", "sessions"]


api_keys = Table(
    "auth_api_keys",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_digest", String(64), nullable=False, unique=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("revoked_at_ns", BigInteger, nullable=True),
    CheckConstraint("role IN ('admin', 'agent', 'merchant')", name="ck_auth_api_keys_role"),
)

sessions = Table(
    "auth_sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("customer_id", BigInteger, ForeignKey("wallet_customers.id"), nullable=False, index=True),
    Column("expires_at_ns", BigInteger, nullable=False),
)
