"""PIN keys: the secret that makes a stored PIN hash worthless without it (a "pepper").

A 4-digit PIN has 10,000 values: whatever the hash's cost, someone holding the database tries them
all in seconds. A keyed hash (HMAC-SHA-256 with a key kept outside the database, as card-PIN systems
keep theirs in an HSM) makes a leak of the database alone reveal nothing, and costs microseconds
instead of an argon2id's tens of milliseconds of CPU on every payment. Online guessing is still
stopped by the lockout (three tries).

``SIKA_PIN_PEPPER`` holds ``id:secret`` pairs, comma-separated, the first being the current key. A
hash names its key's id, so keys rotate: add a new key in front, keep the old ones while hashes made
with them remain (each is rehashed with the current key at the customer's next correct PIN).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from sika.errors import SikaError

__all__ = ["KEYED_PREFIX", "PinKeyMissing", "PinKeys"]

KEYED_PREFIX = "$sika-hmac$"
KEYS_MAX = 8
SECRET_CHARS_MIN = 16
SALT_BYTES = 16
_KEY_ID = re.compile(r"[a-z0-9_-]{1,16}")


class PinKeyMissing(SikaError):
    """A stored hash names a key this process does not have: a configuration error, never the
    customer's (their try is not counted against them)."""

    code = "pin_key_missing"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PinKeys:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        assert 1 <= len(keys) <= KEYS_MAX, "between one and eight PIN keys"
        ids = [key_id for key_id, _ in keys]
        assert len(set(ids)) == len(ids), "PIN key ids are unique"
        assert all(_KEY_ID.fullmatch(key_id) for key_id in ids)
        assert all(len(secret) >= SECRET_CHARS_MIN for _, secret in keys)
        self.current_id = ids[0]
        self._secrets = dict(keys)

    @classmethod
    def parse(cls, text: str | None) -> PinKeys | None:
        """``id:secret,id:secret`` (first = current), or None for no keys (argon2id alone)."""
        if text is None or not text.strip():
            return None
        keys: list[tuple[str, bytes]] = []
        for part in text.split(","):
            key_id, sep, secret = part.strip().partition(":")
            if not sep or not _KEY_ID.fullmatch(key_id) or len(secret) < SECRET_CHARS_MIN:
                raise ValueError("SIKA_PIN_PEPPER is id:secret[,id:secret…]: ids of a-z 0-9 _ -"
                                 f" (at most 16), secrets of at least {SECRET_CHARS_MIN} characters")
            keys.append((key_id, secret.encode()))
        if len(keys) > KEYS_MAX or len({k for k, _ in keys}) != len(keys):
            raise ValueError(f"SIKA_PIN_PEPPER has at most {KEYS_MAX} keys, each id once")
        return cls(keys)

    def hash(self, digits: str) -> str:
        salt = os.urandom(SALT_BYTES)
        mac = self._mac(self._secrets[self.current_id], salt, digits)
        return f"{KEYED_PREFIX}{self.current_id}${_b64(salt)}${_b64(mac)}"

    def verify(self, stored: str, digits: str) -> bool:
        key_id, salt, mac = _fields(stored)
        secret = self._secrets.get(key_id)
        if secret is None:
            raise PinKeyMissing(f"the PIN key {key_id!r} is not in SIKA_PIN_PEPPER")
        return hmac.compare_digest(self._mac(secret, salt, digits), mac)

    def is_current(self, stored: str) -> bool:
        return stored.startswith(f"{KEYED_PREFIX}{self.current_id}$")

    @staticmethod
    def _mac(secret: bytes, salt: bytes, digits: str) -> bytes:
        # The salt keeps two customers with the same PIN from sharing a hash.
        return hmac.new(secret, salt + b"pin:" + digits.encode("ascii"), hashlib.sha256).digest()


def _fields(stored: str) -> tuple[str, bytes, bytes]:
    assert stored.startswith(KEYED_PREFIX)
    key_id, salt, mac = stored[len(KEYED_PREFIX):].split("$")
    return key_id, _unb64(salt), _unb64(mac)
