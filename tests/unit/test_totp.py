"""One-time codes match RFC 6238's published test vectors, and a code is accepted once."""

from __future__ import annotations

import base64

from sika.console import totp

# RFC 6238, appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
SECRET = base64.b32encode(b"12345678901234567890").decode()


def test_codes_are_the_rfc_6238_test_vectors_truncated_to_six_digits() -> None:
    # The RFC prints 8 digits (94287082, 07081804, 14050471, 89005924); apps show the last 6.
    assert totp.hotp(SECRET, 59 // 30) == "287082"
    assert totp.hotp(SECRET, 1111111109 // 30) == "081804"
    assert totp.hotp(SECRET, 1111111111 // 30) == "050471"
    assert totp.hotp(SECRET, 1234567890 // 30) == "005924"


def test_a_code_is_accepted_one_step_late_but_not_two_and_never_twice() -> None:
    now = 1_234_567_890.0
    code = totp.hotp(SECRET, int(now // 30))
    step = totp.verify(SECRET, code, at_s=now + 30, last_step=None)
    assert step == int(now // 30)
    assert totp.verify(SECRET, code, at_s=now + 30, last_step=step) is None
    assert totp.verify(SECRET, code, at_s=now + 90, last_step=None) is None
    assert totp.verify(SECRET, "12345", at_s=now, last_step=None) is None


def test_a_new_secret_reads_back_in_an_authenticator_uri() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    uri = totp.provisioning_uri(secret, "ama")
    assert uri.startswith("otpauth://totp/Sika%3Aama?secret=") and "period=30" in uri
