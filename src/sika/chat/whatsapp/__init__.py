"""WhatsApp (Meta's Cloud API) as a channel of the dialog engine.

``webhook`` reads what Meta posts, ``attachments`` judges files (never opened), ``sealing`` seals
what could be a PIN, ``store`` keeps the inbox and the outbound queue, ``group_commit`` lets
concurrent notifications share a transaction, ``render`` turns replies into Meta's message bodies
within its limits, ``graph`` sends them, ``sender`` queues, sends and retries them, and ``service``
(:class:`WhatsApp`) ties these together for the webhook and the workers. ``sika_fakes.graph`` (the
separate ``sika-fakes`` distribution) stands in for Meta in tests and benchmarks.

The modules of this package import each other by their full names, never through this one.
"""

from sika.chat.whatsapp.attachments import dangerous
from sika.chat.whatsapp.graph import GraphClient, GraphError
from sika.chat.whatsapp.render import render, render_template
from sika.chat.whatsapp.sender import default_notification_text
from sika.chat.whatsapp.service import WhatsApp
from sika.chat.whatsapp.webhook import Parsed, StatusUpdate, parse, signature_valid, verify_subscription

__all__ = [
    "GraphClient",
    "GraphError",
    "Parsed",
    "StatusUpdate",
    "WhatsApp",
    "dangerous",
    "default_notification_text",
    "parse",
    "render",
    "render_template",
    "signature_valid",
    "verify_subscription",
]
