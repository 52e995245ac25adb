"""A received message as the inbox stores it (``wa_inbox.payload_json``): the parsed message
(sika.chat.messages.Inbound) as JSON, never Meta's raw body, its PIN-like text sealed when it held one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sika import jsoncodec
from sika.chat.messages import MASK, Attachment, Inbound, InboundKind, Location
from sika.chat.whatsapp.attachments import dangerous

__all__ = ["decode_inbound", "encode_inbound"]


def encode_inbound(inbound: Inbound, *, sealed: str | None = None) -> str:
    data = dataclasses.asdict(inbound)
    data["kind"] = inbound.kind.value
    if sealed is not None:
        data["sealed"] = sealed
    return jsoncodec.dumps(data)


def decode_inbound(payload_json: str, opener: Callable[[str], str | None] | None = None) -> Inbound:
    """The stored message; with ``opener``, its sealed text opened (the mask when it cannot be)."""
    data = jsoncodec.loads(payload_json)
    if data.get("sealed") and opener is not None:
        data["text"] = opener(str(data["sealed"])) or MASK
    location = Location(**data["location"]) if data.get("location") else None
    attachment = _attachment(data["attachment"]) if data.get("attachment") else None
    inbound = Inbound(channel=data["channel"], msisdn=data["msisdn"], kind=InboundKind(data["kind"]),
                      message_id=data["message_id"], text=data["text"], choice_id=data["choice_id"],
                      location=location, attachment=attachment, profile_name=data["profile_name"])
    assert inbound.msisdn.startswith("+") and inbound.message_id, inbound.message_id
    return inbound


def _attachment(data: dict[str, Any]) -> Attachment:
    if "dangerous" not in data:  # stored before files were screened on arrival: screen it now
        data = {**data, "dangerous": dangerous(data.get("filename"), data.get("mime_type")) is not None}
    return Attachment(**data)
