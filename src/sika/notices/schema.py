"""A customer's notification preferences, by number (a voucher's recipient without a wallet can STOP too)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, String, Table, text

from sika.tables import metadata

__all__ = ["notice_preferences"]

notice_preferences = Table(
    "notice_preferences",
    metadata,
    Column("msisdn", String(16), primary_key=True),
    Column("quiet", String(8), nullable=False, server_default=text("'off'")),
    # Marketing is opt-in: off until the customer says yes; when and how they last said it is kept.
    Column("marketing", Boolean, nullable=False, server_default=text("false")),
    Column("consent_at_ns", BigInteger, nullable=True),
    Column("consent_via", String(12), nullable=True),
    # Consent is asked once: the instant it was asked (whatever the answer).
    Column("consent_asked_at_ns", BigInteger, nullable=True),
    Column("city", String(32), nullable=True),
    # WhatsApp's per-user marketing limit (Meta's 131049) was hit: no marketing before this instant.
    Column("marketing_paused_until_ns", BigInteger, nullable=True),
    Column("updated_at_ns", BigInteger, nullable=False),
    CheckConstraint("quiet IN ('off', 'night', 'prayer', 'ramadan')", name="ck_notice_preferences_quiet"),
)
