"""PINs: four digits, hashed with a key kept outside the database (``sika.wallet.pin_keys``) or,
without one, with argon2id; never logged, stored or echoed in clear.

The hash is the only trace: ``Pin`` objects hide their digits from ``repr`` and ``str`` so that a PIN
passed around by mistake cannot reach a log line.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sika.errors import SikaError
from sika.wallet.pin_keys import KEYED_PREFIX, PinKeyMissing, PinKeys

__all__ = ["PIN_DIGITS", "WEAK_PINS", "Pin", "PinHasher", "PinKeyMissing", "PinKeys", "WeakPin"]

PIN_DIGITS = 4
# Too easy to guess from three tries: repeated digits and straight runs.
WEAK_PINS = frozenset({d * PIN_DIGITS for d in "0123456789"} | {"1234", "4321", "0123", "9876", "1212"})


class WeakPin(SikaError):
    code = "weak_pin"


class Pin:
    __slots__ = ("_digits",)

    def __init__(self, digits: str) -> None:
        if len(digits) != PIN_DIGITS or not digits.isascii() or not digits.isdigit():
            raise SikaError("a PIN is exactly 4 digits", code="invalid_pin_format")
        self._digits = digits

    def reveal(self) -> str:
        return self._digits

    def check_strength(self) -> None:
        if self._digits in WEAK_PINS:
            raise WeakPin("choose a PIN that is not a run or a repeated digit")

    def __repr__(self) -> str:
        return "Pin(****)"

    __str__ = __repr__


class PinHasher:
    """With keys (``SIKA_PIN_PEPPER``): HMAC-SHA-256 under the current key, a few microseconds; a
    stolen database reveals nothing without the key. Without keys: argon2id sized for a 4-digit
    secret behind a 3-try lockout (the lockout is the real defence; a leak still gives the PINs to
    anyone who tries the 10,000 values). Hashes of the other kind or of an older key still verify,
    and :meth:`needs_rehash` says to replace them once the customer has given the right PIN."""

    def __init__(self, *, keys: PinKeys | None = None, time_cost: int = 2,
                 memory_cost_kib: int = 19_456) -> None:
        self._keys = keys
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)

    def hash(self, pin: Pin) -> str:
        if self._keys is not None:
            return self._keys.hash(pin.reveal())
        return self._hasher.hash(pin.reveal())

    def verify(self, stored_hash: str, pin: Pin) -> bool:
        if stored_hash.startswith(KEYED_PREFIX):
            if self._keys is None:
                raise PinKeyMissing("this PIN was hashed with a key: set SIKA_PIN_PEPPER")
            return self._keys.verify(stored_hash, pin.reveal())
        try:
            return self._hasher.verify(stored_hash, pin.reveal())
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        if self._keys is not None:
            return not self._keys.is_current(stored_hash)
        if stored_hash.startswith(KEYED_PREFIX):
            return False  # keys removed: cannot be verified, so never replaced from here
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False
