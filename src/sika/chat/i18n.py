"""Every sentence a user sees, in French, English, Spanish, Italian, Portuguese, Russian and Arabic.

Sentences are English ``msgid`` strings with ``{named}`` placeholders, marked in code by calls to a
translator ``t("…")`` (or ``N_("…")`` where the translation happens later), extracted to
``locale/sika.pot`` and translated in ``locale/<lang>/LC_MESSAGES/sika.po`` (gettext catalogs, read
with Babel; see docs/chat.md for the commands). Catalogs are compiled in memory when first used, so
the repository holds no binary ``.mo`` files. Amounts are formatted by the locale's rules
("5 000 F CFA" in French, "5,000 F CFA" in English); Arabic is right to left.
"""

from __future__ import annotations

import functools
import io
import threading
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LOCALE_DIR", "N_", "Translator", "translator"]

LANGUAGES = ("fr", "en", "es", "it", "pt", "ru", "ar")
DEFAULT_LANGUAGE = "fr"
RTL_LANGUAGES = frozenset({"ar"})
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "sika"
# XOF's symbol as people write it across the zone, whatever the language.
XOF_SYMBOL = "F CFA"
_RLM = "\u200f"
_lock = threading.Lock()


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "translate later")
    """Mark a sentence for extraction without translating it here."""
    return message


# Amounts that show how a language writes whole numbers, and check that it is written so.
_PROBES = (0, 7, -7, 999, 1_000, -1_500, 15_000, 999_999, 1_234_567, -10**12, 10**15)


@functools.cache
def _whole_number_style(language: str) -> tuple[str, str] | None:
    """The group separator and minus sign with which babel writes whole numbers in ``language``, if
    Python's own grouping by thousands then writes every probe as babel does (else None: babel
    writes them). Babel's pattern machinery costs about 30 µs an amount, and every receipt,
    balance and history line shows a few: 3 % of a worker's CPU with the realistic chat mix."""
    locale = Locale.parse(language)
    thousand, minus_one = format_decimal(1_000, locale=locale), format_decimal(-1, locale=locale)
    if not (thousand.startswith("1") and thousand.endswith("000") and minus_one.endswith("1")):
        return None
    style = thousand[1:-3], minus_one[:-1]
    if any(_grouped(value, style) != format_decimal(value, locale=locale, group_separator=True)
           for value in _PROBES):
        return None
    return style


def _grouped(value: int, style: tuple[str, str]) -> str:
    group, minus = style
    return f"{minus if value < 0 else ''}{abs(value):,}".replace(",", group)


class Translator:
    def __init__(self, language: str, translations: NullTranslations) -> None:
        self.language = language
        self.rtl = language in RTL_LANGUAGES
        self._translations = translations
        self._locale = Locale.parse(language)
        self._whole_numbers = _whole_number_style(language)

    def __call__(self, message: str, /, **params: Any) -> str:
        text = self._translations.gettext(message)
        if params:
            text = text.format(**params)
        return self.directed(text)

    def plural(self, singular: str, plural: str, count: int, /, **params: Any) -> str:
        text = self._translations.ngettext(singular, plural, count)
        return self.directed(text.format(count=count, **params))

    def amount(self, amount: int, currency: str = "XOF") -> str:
        """An amount as people of this language write it: "5 000 F CFA", "5,000 F CFA"."""
        if self._whole_numbers is None:
            number = format_decimal(amount, locale=self._locale, group_separator=True)
        else:
            number = _grouped(amount, self._whole_numbers)
        if currency == "XOF":
            # A plain space rather than the locale's narrow no-break space: every phone shows it.
            return f"{number.replace(chr(0x202F), ' ').replace(chr(0xA0), ' ')} {XOF_SYMBOL}"
        return f"{number} {currency}"

    def decimal(self, value: float, digits: int = 1) -> str:
        """A number with decimals as this language writes it: "3,2" in French, "3.2" in English."""
        return format_decimal(round(value, digits), format="#,##0." + "#" * digits, locale=self._locale)

    def directed(self, text: str) -> str:
        """Arabic lines start with a right-to-left mark, so that a line opening with digits or a
        phone number is still laid out right to left."""
        if not self.rtl:
            return text
        return "\n".join(line if line.startswith(_RLM) else _RLM + line for line in text.split("\n"))


@functools.cache
def _translations(language: str) -> NullTranslations:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def translator(language: str | None) -> Translator:
    """The translator for ``language`` (French when unknown)."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    assert language is not None
    with _lock:
        return _translator(language)


@functools.cache
def _translator(language: str) -> Translator:
    # A Translator holds nothing that changes: one per language serves every message (making one
    # parses the locale, which costs as much as the rest of a chat message's rendering).
    return Translator(language, _translations(language))
