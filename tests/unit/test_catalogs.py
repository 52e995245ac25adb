"""Every sentence a user sees is translated in every language, with the same placeholders."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from sika.chat.i18n import LANGUAGES, LOCALE_DIR, _whole_number_style, translator

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=locale)


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_the_template_holds_every_sentence_in_the_code(tmp_path: Path) -> None:
    fresh = tmp_path / "sika.pot"
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "pybabel"), "-q", "extract", "-k", "t", "-k", "N_", "-k", "plural:1,2",
                    "--no-location", "-o", str(fresh), "src/sika/chat"], check=True,
                   cwd=Path(__file__).parents[2])
    assert _ids(_catalog(fresh)) == _ids(_catalog(LOCALE_DIR / "sika.pot")), (
        "run scripts/update-catalogs.sh and translate the new sentences")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalog_is_complete(language: str) -> None:
    template = _ids(_catalog(LOCALE_DIR / "sika.pot"))
    catalog = _catalog(LOCALE_DIR / language / "LC_MESSAGES" / "sika.po", locale=language)
    assert _ids(catalog) == template
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert strings and all(strings), f"{language}: untranslated {ids[0]!r}"
        wanted = set(_PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(_PLACEHOLDER.findall(text)) <= wanted | {"count"}, (language, ids[0], text)
            assert set(_PLACEHOLDER.findall(text)) >= wanted - {"count"}, (language, ids[0], text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_translated_sentence_formats(language: str) -> None:
    t = translator(language)
    text = t("Your balance: {balance}.", balance=t.amount(5_000))
    assert "5" in text and "F CFA" in text
    assert t.plural("Wrong PIN. {count} try left.", "Wrong PIN. {count} tries left.", 2)


def test_amounts_follow_the_locale() -> None:
    assert translator("fr").amount(5_000) == "5 000 F CFA"
    assert translator("en").amount(5_000) == "5,000 F CFA"
    assert translator("ar")("Your balance: {balance}.", balance="x").startswith("\u200f")


@pytest.mark.parametrize("language", LANGUAGES)
def test_amounts_are_written_as_babel_writes_them(language: str) -> None:
    assert _whole_number_style(language) is not None  # each language takes the fast way
    t = translator(language)
    pick = random.Random(language)
    values = [0, 1, -1, 999, 1_000, 10_000, 2_000_000, -(10**15)]
    values += [pick.randrange(-(10**13), 10**13) for _ in range(300)]
    for value in values:
        expected = format_decimal(value, locale=language, group_separator=True)
        expected = expected.replace("\u202f", " ").replace("\xa0", " ")
        assert t.amount(value) == f"{expected} F CFA", (language, value)
        assert t.amount(value, "EUR") == f"{format_decimal(value, locale=language)} EUR"
