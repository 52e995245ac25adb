"""People writing from outside the XOF zone, whom Sika does not serve (yet).

A WhatsApp number can be from anywhere: a Togolese abroad, a tourist, a wrong number. Sika's wallets
are for the eight countries of the West African CFA franc, so such a message gets one polite answer
("not available in your country") in the language of the sender's country when Sika speaks it (an
official language of the country of the number: French for +33, Spanish for +34, Arabic for +212),
else in French and English, and the conversation goes no further: no wallet is opened, nothing is
retried. A number is answered once a day at most (the next messages of the day get no answer), so
that an automatic responder on the other side cannot keep a conversation of apologies going.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import phonenumbers
from babel.languages import get_official_languages
from sqlalchemy import Engine

from sika.chat.i18n import LANGUAGES, translator
from sika.chat.messages import Inbound, Reply, Turn
from sika.chat.services import ConversationPort
from sika.chat.state import Conversations, State
from sika.phones import XOF_REGION_BY_CODE, XOF_REGIONS

__all__ = ["ANSWER_EVERY_S", "answer", "language_of", "outside_zone", "remembered"]

ANSWER_EVERY_S = 24 * 3600
REGIONS_CACHED_MAX = 16_384
_CHANNEL = "abroad"
_FALLBACK = ("fr", "en")
_ZONE_NUMBER = re.compile(r"\+(?:" + "|".join(XOF_REGION_BY_CODE) + r")[0-9]{2,17}")


def remembered(engine: Engine, clock_ns: Callable[[], int]) -> Conversations:
    """Where the numbers answered today are remembered (kept a day, then forgotten by the job that
    forgets idle conversations)."""
    return Conversations(engine, clock_ns=clock_ns, idle_s=ANSWER_EVERY_S)


def outside_zone(msisdn: str) -> bool:
    """Whether ``msisdn`` (E.164, as a channel gives it) is not a number of the XOF zone."""
    return _region(msisdn) not in XOF_REGIONS


def language_of(msisdn: str) -> str | None:
    """The first official language of the number's country that Sika speaks, if there is one."""
    region = _region(msisdn)
    if region is None:
        return None
    spoken = get_official_languages(region) or get_official_languages(region, de_facto=True)
    return next((language for language in spoken if language in LANGUAGES), None)


def answer(inbound: Inbound, conversations: ConversationPort) -> Turn:
    """The one answer to a message from outside the zone; no answer when the number had it today
    (``conversations`` remembers it, under the channel ``abroad``)."""
    if not conversations.load(_CHANNEL, inbound.msisdn).fresh:
        return Turn(replies=[])
    conversations.save(_CHANNEL, inbound.msisdn, inbound.msisdn, State())
    language = language_of(inbound.msisdn)
    texts = []
    for code in (language,) if language is not None else _FALLBACK:
        t = translator(code)
        texts.append(t("Sorry, Sika is not available in your country. It serves Togo, Benin, Burkina Faso, "
                       "Côte d'Ivoire, Guinea-Bissau, Mali, Niger and Senegal."))
    rtl = language is not None and translator(language).rtl
    return Turn(replies=[Reply(text="\n\n".join(texts), end=True, rtl=rtl)])


def _region(msisdn: str) -> str | None:
    # Every message asks. A number of the zone is known by its calling code, of one country each (as
    # phonenumbers answers once the number parses: 2 to 17 digits after the code).
    if _ZONE_NUMBER.fullmatch(msisdn):
        return XOF_REGION_BY_CODE[msisdn[1:4]]
    return _parsed_region(msisdn)


@functools.lru_cache(maxsize=REGIONS_CACHED_MAX)  # the others, mostly the same few numbers
def _parsed_region(msisdn: str) -> str | None:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(msisdn[:32]))
    except phonenumbers.NumberParseException:
        return None
    return str(region) if region else None
