"""WhatsApp (Meta's Cloud API) as a channel of the dialog engine.

``webhook`` reads what Meta posts, ``attachments`` judges files (never opened), ``render`` turns
replies into Meta's message bodies within its limits, ``graph`` sends them, ``service`` ties these to
the database (inbox, outbound queue, 24-hour windows). ``sika_fakes.graph`` (the separate
``sika-fakes`` distribution) stands in for Meta in tests and benchmarks.
"""

from sika.chat.whatsapp.attachments import dangerous
from sika.chat.whatsapp.graph import GraphClient, GraphError
from sika.chat.whatsapp.render import render, render_template
from sika.chat.whatsapp.service import WhatsApp, default_notification_text
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
