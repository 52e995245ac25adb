"""Conversations: where each chat stands, kept in the database so a restart loses nothing."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table, Text

from sika.tables import metadata

__all__ = ["conversations"]

conversations = Table(
    "chat_conversations",
    metadata,
    Column("channel", String(16), primary_key=True),
    # The channel's key for the conversation: the phone number (WhatsApp, terminal), the sessionId (USSD).
    Column("session_key", String(128), primary_key=True),
    Column("msisdn", String(16), nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at_ns", BigInteger, nullable=False, index=True),
)
