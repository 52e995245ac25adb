"""API keys and customer sessions. Only SHA-256 digests of the secrets are stored."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Integer, String, Table, Text

from sika.tables import ROWID, metadata

__all__ = ["api_keys", "idempotency", "login_throttle", "sessions"]


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

# Idempotency-Key claims and stored answers, per caller (an API key or a customer).
idempotency = Table(
    "api_idempotency",
    metadata,
    Column("scope", String(40), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_digest", String(64), nullable=False),
    Column("status", Integer, nullable=True),
    Column("response", Text, nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    # The process that holds an unanswered claim (sika.api.owners): a retry takes the claim over at
    # once when that process is gone, instead of waiting for the lease to run out.
    Column("owner", String(120), nullable=True),
)

# Failed logins counted per source (a client address) in fixed windows: one source cannot lock many
# wallets, nor one wallet again and again.
login_throttle = Table(
    "auth_login_throttle",
    metadata,
    Column("bucket", String(80), primary_key=True),
    Column("window_start_ns", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
)
