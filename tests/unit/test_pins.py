"""PINs: four digits, keyed (HMAC) or argon2id hashes, weak ones refused, never shown."""

from __future__ import annotations

import pytest

from sika.api.statuses import status_of
from sika.errors import SikaError
from sika.wallet import Pin, PinHasher, PinKeyMissing, PinKeys, WeakPin


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


SECRET_A = "a-secret-of-32-characters-000001"
SECRET_B = "b-secret-of-32-characters-000002"


def test_a_keyed_hash_names_its_key_reveals_nothing_and_verifies_only_with_that_key() -> None:
    hasher = PinHasher(keys=PinKeys.parse(f"k1:{SECRET_A}"))
    stored = hasher.hash(Pin("4827"))
    assert stored.startswith("$sika-hmac$k1$")
    assert "4827" not in stored and SECRET_A not in stored
    assert hasher.verify(stored, Pin("4827"))
    assert not hasher.verify(stored, Pin("4828"))
    # Someone holding the database but another key finds no PIN among the 10,000.
    thief = PinHasher(keys=PinKeys.parse(f"k1:{SECRET_B}"))
    assert not any(thief.verify(stored, Pin(f"{n:04d}")) for n in range(10_000))


def test_two_customers_with_the_same_pin_do_not_share_a_keyed_hash() -> None:
    hasher = PinHasher(keys=PinKeys.parse(f"k1:{SECRET_A}"))
    assert hasher.hash(Pin("4827")) != hasher.hash(Pin("4827"))


def test_keys_rotate_older_hashes_verify_and_ask_to_be_replaced() -> None:
    old = PinHasher(keys=PinKeys.parse(f"k1:{SECRET_A}"))
    argon = PinHasher(time_cost=1, memory_cost_kib=64)
    rotated = PinHasher(keys=PinKeys.parse(f"k2:{SECRET_B},k1:{SECRET_A}"))
    by_old, by_argon, by_new = old.hash(Pin("4827")), argon.hash(Pin("4827")), rotated.hash(Pin("4827"))
    assert by_new.startswith("$sika-hmac$k2$")
    for stored in (by_old, by_argon, by_new):
        assert rotated.verify(stored, Pin("4827"))
        assert not rotated.verify(stored, Pin("4828"))
    assert (rotated.needs_rehash(by_old), rotated.needs_rehash(by_argon), rotated.needs_rehash(by_new)) == (
        True, True, False)


def test_a_keyed_hash_whose_key_is_gone_is_a_configuration_error_not_a_wrong_pin() -> None:
    stored = PinHasher(keys=PinKeys.parse(f"k1:{SECRET_A}")).hash(Pin("4827"))
    without_it = PinHasher(keys=PinKeys.parse(f"k2:{SECRET_B}"))
    for hasher in (PinHasher(time_cost=1, memory_cost_kib=64), without_it):
        with pytest.raises(PinKeyMissing) as raised:
            hasher.verify(stored, Pin("4827"))
        assert (raised.value.code, status_of(raised.value)) == ("pin_key_missing", 503)


@pytest.mark.parametrize("setting", ["k1", "k1:short", "K1:" + SECRET_A, f"k1:{SECRET_A},k1:{SECRET_B}",
                                     f":{SECRET_A}"])
def test_a_malformed_pepper_setting_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="SIKA_PIN_PEPPER"):
        PinKeys.parse(setting)


def test_no_pepper_setting_means_argon2id() -> None:
    assert PinKeys.parse(None) is None and PinKeys.parse("  ") is None


def test_a_malformed_pepper_stops_the_settings_from_loading() -> None:
    from pydantic import ValidationError

    from sika.config import Settings

    with pytest.raises(ValidationError, match="SIKA_PIN_PEPPER"):
        Settings(pin_pepper="k1:short")
    assert Settings(pin_pepper=f"k1:{SECRET_A}").pin_pepper == f"k1:{SECRET_A}"
