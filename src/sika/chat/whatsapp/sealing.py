"""What could be a PIN is sealed before the inbox stores it, so that no PIN reaches the disk in clear.

The webhook stores a message before anything knows what it answers (the dialog reads it later, maybe
in another process), and a database keeps what it wrote in more places than its table: SQLite's
write-ahead log, PostgreSQL's WAL, backups. Masking the row once the dialog has read it (as before)
left the PIN in those. So a text that could be a PIN or a code (4 to 8 digits, nothing else) is
stored masked (:data:`~sika.chat.messages.MASK`), its digits sealed: encrypted and authenticated
with a key derived from the WhatsApp app secret, which every process that reads the inbox holds.
The worker opens the seal when it hands the message to the dialog; a message the dialog took as a
secret is then stored with the mask alone. Amounts that look the same ("5000") are sealed too,
and opened just the same.

The construction uses the standard library only: from the key, HMAC-SHA256 derives an encryption and
a MAC key; a random 16-byte nonce; the keystream is HMAC-SHA256(encryption key, nonce), XORed with
the text (at most 32 bytes); the tag is HMAC-SHA256(MAC key, nonce + ciphertext), checked in
constant time before anything is decrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import replace

from sika.chat.messages import MASK, Inbound, InboundKind

__all__ = ["Sealer", "looks_secret"]

_SECRET_LIKE = re.compile(r"\s*[0-9]{4,8}\s*")
_VERSION = "s1."
_NONCE_BYTES = 16
_TAG_BYTES = 16
_TEXT_BYTES_MAX = 32  # one HMAC-SHA256 block of keystream
_TOKEN_CHARS_MAX = 200


def looks_secret(text: str) -> bool:
    """Whether a typed text could be a PIN or a one-time code: 4 to 8 digits, alone."""
    return len(text) <= _TEXT_BYTES_MAX and _SECRET_LIKE.fullmatch(text) is not None


class Sealer:
    """Seals and opens short texts with a key derived from ``secret`` (a random one without)."""

    def __init__(self, secret: str | None) -> None:
        root = secret.encode() if secret else secrets.token_bytes(32)
        self._encryption_key = hmac.new(root, b"sika inbox seal: encryption", hashlib.sha256).digest()
        self._mac_key = hmac.new(root, b"sika inbox seal: mac", hashlib.sha256).digest()

    def inbound(self, inbound: Inbound) -> tuple[Inbound, str | None]:
        """``inbound`` as the inbox may store it, and the seal of its text when it was masked."""
        if inbound.kind is not InboundKind.TEXT or not looks_secret(inbound.text):
            return inbound, None
        return replace(inbound, text=MASK), self.seal(inbound.text)

    def seal(self, text: str) -> str:
        data = text.encode()
        assert len(data) <= _TEXT_BYTES_MAX, "only short texts are sealed"
        nonce = secrets.token_bytes(_NONCE_BYTES)
        cipher = _xor(data, self._stream(nonce))
        tag = hmac.new(self._mac_key, nonce + cipher, hashlib.sha256).digest()[:_TAG_BYTES]
        return _VERSION + base64.urlsafe_b64encode(nonce + cipher + tag).decode()

    def open(self, token: str) -> str | None:
        """The sealed text, or None when the token was not sealed with this key (or was altered)."""
        if not token.startswith(_VERSION) or len(token) > _TOKEN_CHARS_MAX:
            return None
        try:
            raw = base64.urlsafe_b64decode(token.removeprefix(_VERSION))
        except (binascii.Error, ValueError):
            return None
        nonce, cipher, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if len(raw) < _NONCE_BYTES + _TAG_BYTES or len(cipher) > _TEXT_BYTES_MAX:
            return None
        expected = hmac.new(self._mac_key, nonce + cipher, hashlib.sha256).digest()[:_TAG_BYTES]
        if not hmac.compare_digest(expected, tag):
            return None
        try:
            return _xor(cipher, self._stream(nonce)).decode()
        except UnicodeDecodeError:
            return None

    def _stream(self, nonce: bytes) -> bytes:
        return hmac.new(self._encryption_key, nonce, hashlib.sha256).digest()


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))
