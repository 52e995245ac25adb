"""Phone numbers (MSISDNs): parsed with phonenumbers, stored and compared in E.164 (``+22890112233``).

Sika serves the eight countries of the West African CFA franc (XOF). A number typed without a
country code is read as Togolese (+228, eight digits), the home market.
"""

from __future__ import annotations

import functools

import phonenumbers

from sika.errors import SikaError

__all__ = ["DEFAULT_REGION", "XOF_REGIONS", "XOF_REGION_BY_CODE", "InvalidMsisdn", "default_language",
           "normalize", "region"]

DEFAULT_REGION = "TG"
# The UEMOA: Benin, Burkina Faso, Côte d'Ivoire, Guinea-Bissau, Mali, Niger, Senegal, Togo.
XOF_REGIONS = frozenset({"BJ", "BF", "CI", "GW", "ML", "NE", "SN", "TG"})
# Typed input is bounded before any parsing: a phone number is never longer than this.
_INPUT_CHARS_MAX = 32
# Numbers :func:`normalize` remembers (a few megabytes at most).
NORMALIZED_CACHE_MAX = 16_384


class InvalidMsisdn(SikaError):
    code = "invalid_msisdn"


def normalize(raw: str, *, default_region: str = DEFAULT_REGION) -> str:
    """The E.164 form of a mobile number in the XOF zone, or :class:`InvalidMsisdn`."""
    return _normalized(raw, default_region)


# Every chat message and API call names a number, most of them the same few: parsing one with
# phonenumbers costs tens of microseconds. Refusals are not cached (an exception is raised anew).
@functools.lru_cache(maxsize=NORMALIZED_CACHE_MAX)
def _normalized(raw: str, default_region: str) -> str:
    text = raw.strip()
    if not text or len(text) > _INPUT_CHARS_MAX:
        raise InvalidMsisdn("a phone number has 8 to 15 digits, like +22890112233")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidMsisdn(f"{raw.strip()!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidMsisdn(f"{raw.strip()!r} is not a valid phone number")
    if phonenumbers.region_code_for_number(number) not in XOF_REGIONS:
        raise InvalidMsisdn(f"{raw.strip()!r} is outside the XOF zone Sika serves",
                            code="unsupported_country")
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise InvalidMsisdn(f"{raw.strip()!r} is not a mobile number", code="not_a_mobile_number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# The zone's calling codes (+228 …), each of one country only: a number's code names its country
# without parsing it (as phonenumbers does for a code of one region).
XOF_REGION_BY_CODE = {str(phonenumbers.country_code_for_region(r)): r for r in sorted(XOF_REGIONS)}
assert all(len(code) == 3 and phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(code)] == (r,)
           for code, r in XOF_REGION_BY_CODE.items())


def region(msisdn: str) -> str:
    """ISO 3166 code of a normalized number's country (``TG`` for +228…)."""
    # Asked twice a transfer (the payer's country and the payee's, which set the fee), and for a
    # normalized number the code alone answers: parsing it cost about 55 µs.
    found = XOF_REGION_BY_CODE.get(msisdn[1:4])
    assert found is not None and msisdn.startswith("+"), msisdn
    return found


def default_language(msisdn: str) -> str:
    """French everywhere in the zone but Guinea-Bissau, where Portuguese is official."""
    return "pt" if region(msisdn) == "GW" else "fr"
