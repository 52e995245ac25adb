"""Meta's webhook: the subscription handshake, the ``X-Hub-Signature-256`` check, and the notification.

A notification looks like this (Cloud API, field ``messages``)::

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>", "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": "…", "phone_number_id": "…"},
         "contacts": [{"profile": {"name": "Ama"}, "wa_id": "22890112233"}],
         "messages": [{"from": "22890112233", "id": "wamid.…", "timestamp": "1700000000",
                       "type": "text", "text": {"body": "Bonjour"}}],
         "statuses": [{"id": "wamid.…", "status": "failed", "timestamp": "…", "recipient_id": "…",
                       "errors": [{"code": 131026, "title": "…"}]}]}}]}]}

:func:`parse` turns it into channel-neutral :class:`~sika.chat.messages.Inbound` messages and
:class:`StatusUpdate` receipts. It never raises: the body comes from the network, so every field is
checked for its type and bounded in length, and whatever does not fit is skipped. A message whose
envelope (``id``, ``from``) is sound but whose content is not becomes ``UNSUPPORTED``, so that the
dialog can still answer the person who sent it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from sika.chat.messages import Attachment, Inbound, InboundKind, Location
from sika.chat.whatsapp.attachments import dangerous

__all__ = ["CHANNEL", "Parsed", "StatusUpdate", "parse", "signature_valid", "verify_subscription"]

CHANNEL = "whatsapp"
TEXT_CHARS_MAX = 4_096
ID_CHARS_MAX = 128
# Meta allows reply-button ids of 256 characters (list rows: 200).
CHOICE_ID_CHARS_MAX = 256
NAME_CHARS_MAX = 256       # profile names, file names, place names, addresses
MIME_CHARS_MAX = 128
CHALLENGE_CHARS_MAX = 128
# A notification carries a handful of items; the body is at most 1 MiB anyway.
ITEMS_MAX = 1_000
ERROR_CODE_MAX = 2**31 - 1
STATUSES = frozenset({"sent", "delivered", "read", "failed"})
MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker"})
_WA_ID = re.compile(r"[0-9]{6,15}")
_DIGITS = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
# Lone surrogates (JSON allows "\ud800") and NUL cannot be stored as UTF-8 text (PostgreSQL).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """What became of a message we sent: ``sent``, ``delivered``, ``read`` or ``failed``."""

    message_id: str              # the wamid Meta gave when we sent it
    recipient: str | None        # E.164, when Meta names a valid one
    status: str
    timestamp: int | None        # Unix seconds
    error_code: int | None = None


@dataclass(slots=True)
class Parsed:
    messages: list[Inbound] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    # When each message was sent (Unix seconds, by message id): the 24-hour window starts there.
    sent_at_s: dict[str, int] = field(default_factory=dict)


def verify_subscription(mode: str | None, token: str | None, challenge: str | None,
                        expected_token: str | None) -> str | None:
    """The challenge to echo when Meta's handshake names our token, else None (answer 403)."""
    if not expected_token or mode != "subscribe" or token is None or not challenge:
        return None
    if len(challenge) > CHALLENGE_CHARS_MAX or not challenge.isprintable():
        return None
    if not hmac.compare_digest(token.encode(), expected_token.encode()):
        return None
    return challenge


def signature_valid(app_secret: str | None, raw_body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC-SHA256 of raw_body keyed with app_secret>``."""
    if not app_secret or header is None:
        return False
    found = _SIGNATURE.fullmatch(header.strip())
    if found is None:
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, found.group(1).lower())


def parse(payload: object) -> Parsed:
    """The messages and statuses of one notification; malformed parts are skipped, never raised."""
    parsed = Parsed()
    body = _dict(payload)
    if body is None or body.get("object", "whatsapp_business_account") != "whatsapp_business_account":
        return parsed
    for entry in _list(body.get("entry")):
        for change in _list(_get(entry, "changes")):
            if _get(change, "field", "messages") != "messages":
                continue
            value = _dict(_get(change, "value"))
            if value is not None:
                _value(value, parsed)
    return parsed


def _value(value: dict[str, Any], parsed: Parsed) -> None:
    names: dict[str, str] = {}
    for contact in _list(value.get("contacts")):
        wa_id = _msisdn(_get(contact, "wa_id"))
        name = _text(_get(_get(contact, "profile"), "name"), NAME_CHARS_MAX)
        if wa_id is not None and name:
            names[wa_id] = name
    for raw in _list(value.get("messages")):
        if len(parsed.messages) >= ITEMS_MAX:
            break
        message = _message(raw, names)
        if message is not None:
            parsed.messages.append(message)
            sent_at = _seconds(_get(raw, "timestamp"))
            if sent_at is not None:
                parsed.sent_at_s[message.message_id] = sent_at
    for raw in _list(value.get("statuses")):
        if len(parsed.statuses) >= ITEMS_MAX:
            break
        status = _status(raw)
        if status is not None:
            parsed.statuses.append(status)


def _message(raw: object, names: dict[str, str]) -> Inbound | None:
    message = _dict(raw)
    if message is None:
        return None
    message_id = _text(message.get("id"), ID_CHARS_MAX)
    sender = _msisdn(message.get("from"))
    if not message_id or sender is None:
        return None
    base = Inbound(channel=CHANNEL, msisdn=sender, kind=InboundKind.UNSUPPORTED, message_id=message_id,
                   profile_name=names.get(sender))
    kind = message.get("type")
    if kind == "text":
        body = _text(_get(message.get("text"), "body"), TEXT_CHARS_MAX)
        return replace(base, kind=InboundKind.TEXT, text=body) if body is not None else base
    if kind == "interactive":
        return _interactive(base, _dict(message.get("interactive")))
    if kind == "button":  # a quick-reply button of a template message
        button = message.get("button")
        return _choice(base, _get(button, "payload"), _get(button, "text"))
    if kind == "location":
        location = _location(_dict(message.get("location")))
        return replace(base, kind=InboundKind.LOCATION, location=location) if location else base
    if isinstance(kind, str) and kind in MEDIA_TYPES:
        media = _dict(message.get(kind)) or {}
        filename = _text(media.get("filename"), NAME_CHARS_MAX)
        mime_type = _text(media.get("mime_type"), MIME_CHARS_MAX)
        attachment = Attachment(media_type=kind, filename=filename, mime_type=mime_type,
                                dangerous=dangerous(filename, mime_type) is not None)
        return replace(base, kind=InboundKind.ATTACHMENT, attachment=attachment)
    return base  # reaction, contacts, order, system, unknown, …


def _interactive(base: Inbound, interactive: dict[str, Any] | None) -> Inbound:
    if interactive is None:
        return base
    kind = interactive.get("type")
    if kind not in ("button_reply", "list_reply"):
        return base  # nfm_reply (flows) and what comes next
    reply = interactive.get(kind)
    return _choice(base, _get(reply, "id"), _get(reply, "title"))


def _choice(base: Inbound, raw_id: object, raw_title: object) -> Inbound:
    choice_id = _text(raw_id, CHOICE_ID_CHARS_MAX)
    if not choice_id:
        return base
    return replace(base, kind=InboundKind.CHOICE, choice_id=choice_id,
                 text=_text(raw_title, TEXT_CHARS_MAX) or "")


def _location(location: dict[str, Any] | None) -> Location | None:
    if location is None:
        return None
    latitude, longitude = _number(location.get("latitude")), _number(location.get("longitude"))
    if latitude is None or longitude is None or abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return Location(latitude=latitude, longitude=longitude,
                    name=_text(location.get("name"), NAME_CHARS_MAX) or None,
                    address=_text(location.get("address"), NAME_CHARS_MAX) or None)


def _status(raw: object) -> StatusUpdate | None:
    status = _dict(raw)
    if status is None:
        return None
    message_id = _text(status.get("id"), ID_CHARS_MAX)
    value = status.get("status")
    if not message_id or not isinstance(value, str) or value not in STATUSES:
        return None
    error_code = None
    for error in _list(status.get("errors")):
        code = _get(error, "code")
        if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= ERROR_CODE_MAX:
            error_code = code
            break
    return StatusUpdate(message_id=message_id, recipient=_msisdn(status.get("recipient_id")),
                        status=value, timestamp=_seconds(status.get("timestamp")), error_code=error_code)


def _dict(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _list(value: object) -> list[Any]:
    return value[:ITEMS_MAX] if isinstance(value, list) else []


def _get(container: object, key: str, default: object = None) -> Any:
    return container.get(key, default) if isinstance(container, dict) else None


def _text(value: object, chars_max: int) -> str | None:
    if not isinstance(value, str):
        return None
    return _UNSTORABLE.sub("\ufffd", value[:chars_max])


def _msisdn(value: object) -> str | None:
    """A WhatsApp id (the sender's number, digits only) in E.164."""
    if not isinstance(value, str) or _WA_ID.fullmatch(value) is None:
        return None
    return "+" + value


def _seconds(value: object) -> int | None:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
        return value
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value) if abs(value) < 1e300 else math.inf
    return number if math.isfinite(number) else None
