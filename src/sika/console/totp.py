"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): what authenticator apps show.

HMAC-SHA1, 30-second steps, 6 digits: the parameters every authenticator app uses by default. A code
is accepted one step early or late (clocks drift), and the caller stores the step it accepted so that
the same code cannot be used twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote

__all__ = ["DIGITS", "STEP_S", "hotp", "new_secret", "provisioning_uri", "verify"]

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1
_SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation for HMAC-SHA1


def new_secret() -> str:
    """A random secret, base32 without padding (what apps accept typed or in a QR code)."""
    return base64.b32encode(secrets.token_bytes(_SECRET_BYTES)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(secret: str, counter: int) -> str:
    """RFC 4226: HMAC-SHA1 of the 8-byte counter, dynamically truncated to ``DIGITS`` digits."""
    assert counter >= 0
    mac = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def verify(secret: str, code: str, *, at_s: float, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to (within the drift), or None; steps at or before
    ``last_step`` are refused, so a code seen once (over a shoulder, in a log) is spent."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now_step = int(at_s // STEP_S)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if step < 0 or (last_step is not None and step <= last_step):
            continue
        if hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, account: str, issuer: str = "Sika") -> str:
    """The ``otpauth://`` URI authenticator apps read (typed in, or as a QR code)."""
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer)}&digits={DIGITS}&period={STEP_S}"
