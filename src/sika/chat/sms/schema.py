"""The SMS table: every message handed to the SMS gateway, and what its delivery reports said.

States (Africa's Talking's, lower-cased)::

    sent | submitted | buffered --report--> success (on the handset) | failed | rejected

A row is written once the gateway accepted the message (it then has the gateway's ``provider_id``);
``outbox_id`` is unique, so a second delivery of one outbox message finds the first and sends nothing.
No row holds a message's text: it may carry a code.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from sika.tables import ROWID, metadata

__all__ = ["sms_messages"]

sms_messages = Table(
    "sms_messages",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger, nullable=True, unique=True),
    Column("msisdn", String(16), nullable=False),
    Column("provider_id", String(100), nullable=True, unique=True),
    Column("parts", Integer, nullable=False),
    Column("encoding", String(5), nullable=False),
    Column("status", String(12), nullable=False),
    Column("failure_reason", String(60), nullable=True),
    Column("cost", String(40), nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("updated_at_ns", BigInteger, nullable=False),
    Index("ix_sms_messages_msisdn", "msisdn", "id"),
)
