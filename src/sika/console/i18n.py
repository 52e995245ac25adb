"""The console's sentences, in French and English: a ``console`` gettext domain of its own.

Customers read Sika in seven languages (``sika.chat.i18n``); the back office is read by staff in the
XOF zone, who work in French or English, so its catalogs (``locale/<lang>/LC_MESSAGES/console.po``,
extracted by ``scripts/update-catalogs.sh`` from this package's code and templates) hold those two.
The same :class:`~sika.chat.i18n.Translator` formats them, amounts included.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from sika.chat.i18n import Translator

__all__ = ["DEFAULT_LANGUAGE", "DOMAIN", "LANGUAGES", "LOCALE_DIR", "N_", "console_translator"]

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
DOMAIN = "console"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "translate later")
    return message


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


def console_translator(language: str | None) -> Translator:
    """French unless English is asked for."""
    chosen = language if language in LANGUAGES else DEFAULT_LANGUAGE
    assert chosen is not None
    return _translator(chosen)


@functools.cache
def _translator(language: str) -> Translator:
    return Translator(language, _translations(language))
