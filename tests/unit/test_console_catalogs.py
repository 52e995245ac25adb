"""The console's sentences are all in its template and translated in French and English, with the
same placeholders; the pages and labels resolve through them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from sika.console.i18n import LANGUAGES, LOCALE_DIR, console_translator

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
ROOT = Path(__file__).parents[2]


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=locale)


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_the_console_template_holds_every_sentence_of_its_code_and_pages(tmp_path: Path) -> None:
    fresh = tmp_path / "console.pot"
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "pybabel"), "-q", "extract", "-F", str(LOCALE_DIR / "babel.cfg"), "-k", "t",
                    "-k", "N_", "--no-location", "-o", str(fresh), "src/sika/console"], check=True, cwd=ROOT)
    assert _ids(_catalog(fresh)) == _ids(_catalog(LOCALE_DIR / "console.pot")), (
        "run scripts/update-catalogs.sh and translate the new sentences")
    assert len(_ids(_catalog(fresh))) > 200  # the templates were read, not only the Python modules


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_console_catalog_is_complete(language: str) -> None:
    template = _ids(_catalog(LOCALE_DIR / "console.pot"))
    catalog = _catalog(LOCALE_DIR / language / "LC_MESSAGES" / "console.po", locale=language)
    assert _ids(catalog) == template
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        assert isinstance(message.string, str) and message.string, f"{language}: untranslated {message.id!r}"
        assert set(_PLACEHOLDER.findall(message.string)) == set(_PLACEHOLDER.findall(str(message.id))), (
            language, message.id, message.string)


def test_the_console_speaks_french_by_default_and_english_when_asked() -> None:
    assert console_translator(None)("Dashboard") == "Tableau de bord"
    assert console_translator("en")("Dashboard") == "Dashboard"
    assert console_translator("ru")("cash_in") == "dépôt"  # not a console language: French
    assert console_translator("fr")("Tier {tier}", tier=2) == "Niveau 2"
    assert console_translator("en").amount(5_000) == "5,000 F CFA"
