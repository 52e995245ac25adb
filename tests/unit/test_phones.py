"""Phone numbers are read as E.164 in the XOF zone, Togo by default, and refused with codes otherwise."""

from __future__ import annotations

import pytest

from sika import phones


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("90112233", "+22890112233"),
        ("90 11 22 33", "+22890112233"),
        ("+228 90 11 22 33", "+22890112233"),
        ("0022890112233", "+22890112233"),
        ("+2250701020304", "+2250701020304"),
        ("+22670112233", "+22670112233"),
        ("+221771234567", "+221771234567"),
    ],
)
def test_numbers_are_normalized_to_e164(typed: str, e164: str) -> None:
    assert phones.normalize(typed) == e164


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "invalid_msisdn"),
        ("hello", "invalid_msisdn"),
        ("9011", "invalid_msisdn"),
        ("9" * 40, "invalid_msisdn"),
        ("+33612345678", "unsupported_country"),
        ("+2342012345678", "unsupported_country"),
        ("+22812", "invalid_msisdn"),
        ("+22822212345", "not_a_mobile_number"),
    ],
)
def test_bad_numbers_are_refused_with_a_code(typed: str, code: str) -> None:
    with pytest.raises(phones.InvalidMsisdn) as raised:
        phones.normalize(typed)
    assert raised.value.code == code


def test_the_default_language_is_french_but_portuguese_in_guinea_bissau() -> None:
    assert phones.default_language("+22890112233") == "fr"
    assert phones.default_language(phones.normalize("+245955123456")) == "pt"


@pytest.mark.parametrize("region", sorted(phones.XOF_REGIONS))
def test_a_numbers_country_comes_from_its_calling_code_as_phonenumbers_says(region: str) -> None:
    import phonenumbers

    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    msisdn = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert phones.region(msisdn) == region == phonenumbers.region_code_for_number(example)


@pytest.mark.parametrize("msisdn", [
    "+22890112233", "+2281", "+22812", "+228" + "1" * 17, "+228" + "1" * 18, "+2250701020304",
    "+2451234567", "+33612345678", "+12025550123", "+224123456", "+222", "+", "", "+228abc", "22890112233",
])
def test_the_chat_knows_who_writes_from_outside_the_zone_as_phonenumbers_would(msisdn: str) -> None:
    import phonenumbers

    from sika.chat import abroad

    try:
        expected = phonenumbers.region_code_for_number(phonenumbers.parse(msisdn[:32])) or None
    except phonenumbers.NumberParseException:
        expected = None
    assert abroad._region(msisdn) == expected
    assert abroad.outside_zone(msisdn) == (expected not in phones.XOF_REGIONS)
