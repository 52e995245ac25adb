"""PINs: four digits, argon2id hashes, weak ones refused, never shown."""

from __future__ import annotations

import pytest

from sika.errors import SikaError
from sika.wallet import Pin, PinHasher, WeakPin


def test_a_pin_is_hashed_with_argon2id_and_verifies() -> None:
    hasher = PinHasher(time_cost=1, memory_cost_kib=64)
    stored = hasher.hash(Pin("4827"))
    assert stored.startswith("$argon2id$")
    assert "4827" not in stored
    assert hasher.verify(stored, Pin("4827"))
    assert not hasher.verify(stored, Pin("4828"))
    assert not hasher.verify("not a hash", Pin("4827"))


@pytest.mark.parametrize("typed", ["", "123", "12345", "12a4", "١٢٣٤", " 482"])
def test_a_pin_is_exactly_four_ascii_digits(typed: str) -> None:
    with pytest.raises(SikaError) as raised:
        Pin(typed)
    assert raised.value.code == "invalid_pin_format"


@pytest.mark.parametrize("weak", ["0000", "1111", "1234", "4321"])
def test_runs_and_repeated_digits_are_refused(weak: str) -> None:
    with pytest.raises(WeakPin):
        Pin(weak).check_strength()


def test_a_pin_never_shows_its_digits() -> None:
    pin = Pin("4827")
    assert "4827" not in repr(pin)
    assert "4827" not in str(pin)
    assert "4827" not in f"{pin}"
