"""Conversations: where each chat stands, kept in the database so a restart loses nothing."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, text

from sika.tables import metadata

__all__ = ["DAY_NS", "conversations", "day_of"]

conversations = Table(
    "chat_conversations",
    metadata,
    Column("channel", String(16), primary_key=True),
    # The channel's key for the conversation: the phone number (WhatsApp, terminal), the sessionId (USSD).
    Column("session_key", String(128), primary_key=True),
    Column("msisdn", String(16), nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at_ns", BigInteger, nullable=False),
    # The day of ``updated_at_ns`` (days since 1970, UTC), for finding idle conversations. Indexed
    # rather than the time itself: a save within the same day then changes no indexed column, and
    # PostgreSQL rewrites the row on its page without a new entry in each index (migration 0021).
    Column("updated_day", Integer, nullable=False, index=True, server_default=text("0")),
)

DAY_NS = 86_400 * 1_000_000_000


def day_of(at_ns: int) -> int:
    return at_ns // DAY_NS
