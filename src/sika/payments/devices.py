"""The device a customer pays from, as their app names it: what a campaign's ``per_device_max`` counts.

An app sends ``X-Sika-Device`` (an identifier of its installation, 8 to 128 visible ASCII characters)
with a customer's requests; :func:`sika.api.auth.caller` hands it here for the request, and every
movement the request records keeps its digest in ``details.device`` (never the identifier itself:
24 hex characters of its SHA-256). The chat channels pass none: Meta and Africa's Talking name no
device, so a WhatsApp or USSD payment counts against the customer's caps alone. A device an API key's
caller names (an agent's till, a merchant's server) is not the customer's and is not kept.

Why a context variable rather than an argument: the device belongs to the request, like its caller,
and reaches the movement through every kind of payment (transfers, bills, airtime, rides booked now
and captured later, whose capture reads it back from the movement's details).
"""

from __future__ import annotations

import hashlib
import re
from contextvars import ContextVar

from sika.errors import SikaError

__all__ = ["DEVICE_PATTERN", "InvalidDevice", "acting_device", "device_digest", "paying_from"]

DEVICE_PATTERN = r"^[\x21-\x7e]{8,128}$"
_DEVICE = re.compile(DEVICE_PATTERN)
_DIGEST_CHARS = 24

# The digest of the device the current request's customer pays from, if their app named one.
_acting: ContextVar[str | None] = ContextVar("sika_acting_device", default=None)


class InvalidDevice(SikaError):
    code = "invalid_device"


def device_digest(named: str) -> str:
    """What is kept of a device's identifier; :class:`InvalidDevice` for one that is not 8 to 128
    visible ASCII characters."""
    if not _DEVICE.fullmatch(named):
        raise InvalidDevice("X-Sika-Device: 8 to 128 visible ASCII characters (an install id)")
    return hashlib.sha256(named.encode()).hexdigest()[:_DIGEST_CHARS]


def paying_from(digest: str | None) -> None:
    """The device of the request being handled (None: none named); set by the request's own task,
    it reaches the threads that task hands its work to and nothing else."""
    _acting.set(digest)


def acting_device() -> str | None:
    return _acting.get()
