"""The device a customer pays from, as their app names it: what a campaign's ``per_device_max`` counts.

An app sends ``X-Sika-Device`` (an identifier of its installation, 8 to 128 visible ASCII characters)
with a customer's requests; :func:`sika.api.auth.caller` hands it here for the request, with the
customer it came with. A movement the request records with that customer as its payer keeps a digest
of it in ``details.device``: 24 hex characters of its HMAC-SHA256 under the promotions key, never the
identifier itself, so that a copy of the table does not link one phone's wallets without the key. It
is never shown to a party of a payment (:func:`for_parties`: the API's answers, merchants' callbacks).

Movements for anyone else in that request are not the customer's payments and keep nothing (a
driver's phone ending a rider's card ride). The chat channels pass no device: Meta and Africa's
Talking name none, so a WhatsApp or USSD payment counts against the customer's own caps alone. The
identifier is what the app says: a cap per device stops casual reuse of one phone, not someone who
changes what their app sends.

Why a context variable rather than an argument: the device belongs to the request, like its caller,
and reaches the movement through every kind of payment (transfers, bills, airtime, a ride's hold,
whose capture later reads it back from the movement's details).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["DEVICE_PATTERN", "Device", "acting_device", "device_digest", "for_parties", "paying_from"]

DEVICE_PATTERN = r"^[\x21-\x7e]{8,128}$"
_DEVICE = re.compile(DEVICE_PATTERN)
_DIGEST_CHARS = 24
# Set apart from the promotion codes' digests, made under the same key.
_DOMAIN = b"sika-device\x00"
# Details that are not for every party of a movement: the payer's device (which would let a payee or
# a merchant link one phone's wallets) and the internal reason of a refusal.
_PRIVATE = frozenset({"device", "reason"})


@dataclass(frozen=True, slots=True)
class Device:
    customer_id: int  # whose request named it: only their own payments keep it
    digest: str


# The device the current request's customer pays from, if their app named one.
_acting: ContextVar[Device | None] = ContextVar("sika_acting_device", default=None)


def device_digest(named: str, key: bytes) -> str:
    """What is kept of a device's identifier (the API has checked it against ``DEVICE_PATTERN``)."""
    if not _DEVICE.fullmatch(named):
        raise ValueError("a device is named by 8 to 128 visible ASCII characters")
    return hmac.new(key, _DOMAIN + named.encode(), hashlib.sha256).hexdigest()[:_DIGEST_CHARS]


def for_parties(details: Mapping[str, Any]) -> dict[str, Any]:
    """A movement's details as its parties see them (an answer, a merchant's callback)."""
    return {key: value for key, value in details.items() if key not in _PRIVATE}


def paying_from(device: Device | None) -> None:
    """The device of the request being handled (None: none named); set by the request's own task,
    it reaches the threads that task hands its work to and nothing else."""
    _acting.set(device)


def acting_device(payer_customer_id: int | None) -> str | None:
    """The digest a movement paid by ``payer_customer_id`` keeps: the request's device, if it was
    named by that very customer."""
    device = _acting.get()
    if device is None or payer_customer_id is None or device.customer_id != payer_customer_id:
        return None
    return device.digest
