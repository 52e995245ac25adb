"""The operations console's tables: operators, their sessions, the audit log and maker-checker proposals.

``console_proposals`` holds every money-moving action an operator asked for. States::

    proposed --another approver approves--> approving --the movement completed--> executed
                                            approving --the movement was refused--> failed
    proposed --an approver (or the maker) rejects--> rejected

``approving`` is claimed by one conditional UPDATE; the movement's id is derived from the proposal's,
so an approval interrupted between the claim and the outcome is finished by approving again, and the
money moves once.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Integer, String, Table, Text, text

from sika.tables import ROWID, metadata

__all__ = ["audit", "operators", "proposals", "sessions"]

operators = Table(
    "console_operators",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False, unique=True),
    Column("role", String(12), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("locked_until_ns", BigInteger, nullable=True),
    # Base32 TOTP secret (RFC 6238) when enabled; the last time step accepted, so a code is used once.
    Column("totp_secret", String(64), nullable=True),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("disabled_at_ns", BigInteger, nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    CheckConstraint("role IN ('viewer', 'operator', 'approver')", name="ck_console_operators_role"),
)

sessions = Table(
    "console_sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    # Who: "operator:<id>" or "apikey:<id>"; shown name and role copied for the pages.
    Column("actor", String(40), nullable=False),
    Column("actor_name", String(80), nullable=False),
    Column("role", String(12), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("language", String(5), nullable=False, server_default=text("'fr'")),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
    Index("ix_console_sessions_expiry", "expires_at_ns"),
)

audit = Table(
    "console_audit",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("at_ns", BigInteger, nullable=False),
    Column("actor", String(40), nullable=False),
    Column("actor_name", String(80), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(120), nullable=False, server_default=text("''")),
    Column("outcome", String(12), nullable=False),
    Column("address", String(64), nullable=False, server_default=text("''")),
    Column("detail", Text, nullable=False, server_default=text("'{}'")),
    CheckConstraint("outcome IN ('ok', 'refused', 'failed')", name="ck_console_audit_outcome"),
    Index("ix_console_audit_actor", "actor", "id"),
)

proposals = Table(
    "console_proposals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("params", Text, nullable=False),
    Column("summary", String(200), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("maker", String(40), nullable=False),
    Column("maker_name", String(80), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("checker", String(40), nullable=True),
    Column("checker_name", String(80), nullable=True),
    Column("movement_id", String(40), nullable=True),
    Column("error_code", String(40), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("decided_at_ns", BigInteger, nullable=True),
    CheckConstraint("amount > 0", name="ck_console_proposals_amount"),
    CheckConstraint("status IN ('proposed', 'approving', 'executed', 'failed', 'rejected')",
                    name="ck_console_proposals_status"),
    Index("ix_console_proposals_status", "status", "created_at_ns"),
)
