"""WhatsApp's tables: the inbox of received messages, the outbound queue, and the contacts' windows.

``wa_inbox``: every message Meta delivered, once (``message_id`` is unique), handled by workers at
their own pace. States::

    queued --handled--> done
    queued --handler failed, attempts left--> queued (later)
    queued --handler failed ATTEMPTS_MAX times--> failed

``wa_outbound``: every message we send, queued first and then sent by whoever holds its lease, so that
a failure is retried without asking the dialog again. ``source_key`` names where it came from
(``inbox:<id>:<n>``, ``outbox:<id>:<n>``) and makes a second enqueue a no-op. States::

    queued --Graph API accepted (wamid)--> sent --webhook--> delivered --webhook--> read
    queued --refused, or attempts exhausted--> failed
    sent, delivered --webhook "failed"--> failed

``wa_contacts``: when each number last wrote to us; free-form messages are allowed for 24 hours after
that (Meta's customer-service window), templates only outside it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Integer, String, Table, Text, text

from sika.payments.queue import queued_index
from sika.tables import ROWID, metadata

__all__ = ["contacts", "inbox", "outbound"]

inbox = Table(
    "wa_inbox",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("message_id", String(128), nullable=False, unique=True),
    Column("msisdn", String(16), nullable=False),
    Column("kind", String(12), nullable=False),
    # What was typed (or the tapped option's title); MASK once the dialog says it was a secret.
    Column("text", Text, nullable=False, server_default=text("''")),
    Column("choice_id", String(256), nullable=True),
    # The parsed message (sika.chat.messages.Inbound) as JSON, never Meta's raw body.
    Column("payload_json", Text, nullable=False),
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_ns", BigInteger, nullable=False),
    Column("lease_until_ns", BigInteger, nullable=True),
    # The exception's type only: its message could quote what the person wrote.
    Column("last_error", String(200), nullable=True),
    Column("received_at_ns", BigInteger, nullable=False),
    Column("handled_at_ns", BigInteger, nullable=True),
    CheckConstraint("status IN ('queued', 'done', 'failed')", name="ck_wa_inbox_status"),
    queued_index("ix_wa_inbox_queued", "id"),
    queued_index("ix_wa_inbox_queued_msisdn", "msisdn", "id"),
)

outbound = Table(
    "wa_outbound",
    metadata,
    Column("id", ROWID, primary_key=True, autoincrement=True),
    Column("wamid", String(128), nullable=True, unique=True),
    Column("source_key", String(120), nullable=True, unique=True),
    Column("msisdn", String(16), nullable=False),
    # The Cloud API body; a secret in it (a voucher code) is masked here ...
    Column("body_json", Text, nullable=False),
    # ... and kept in full only until the message is sent or given up.
    Column("secret_body_json", Text, nullable=True),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_ns", BigInteger, nullable=False),
    Column("lease_until_ns", BigInteger, nullable=True),
    Column("error_code", Integer, nullable=True),
    Column("created_at_ns", BigInteger, nullable=False),
    Column("updated_at_ns", BigInteger, nullable=False),
    CheckConstraint("status IN ('queued', 'sent', 'delivered', 'read', 'failed')",
                    name="ck_wa_outbound_status"),
    queued_index("ix_wa_outbound_queued", "id"),
    queued_index("ix_wa_outbound_queued_msisdn", "msisdn", "id"),
)

contacts = Table(
    "wa_contacts",
    metadata,
    Column("msisdn", String(16), primary_key=True),
    Column("last_inbound_at_ns", BigInteger, nullable=False),
)
