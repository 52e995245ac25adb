#!/bin/sh
# Extract every sentence users see into src/sika/chat/locale/sika.pot and merge it into each
# language's catalog (new sentences appear with an empty msgstr, for a translator to fill).
# tests/unit/test_catalogs.py fails while any catalog has an empty or fuzzy entry.
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
LOCALE=src/sika/chat/locale
"$BIN/pybabel" -q extract -k t -k N_ -k plural:1,2 --no-location --sort-output \
    --project Sika --copyright-holder "Sika contributors" -o "$LOCALE/sika.pot" src/sika/chat
for lang in fr en es it pt ru ar; do
    po="$LOCALE/$lang/LC_MESSAGES/sika.po"
    if [ -f "$po" ]; then
        "$BIN/pybabel" -q update --no-fuzzy-matching --ignore-obsolete -D sika -i "$LOCALE/sika.pot" -d "$LOCALE" -l "$lang"
    else
        "$BIN/pybabel" -q init -D sika -i "$LOCALE/sika.pot" -d "$LOCALE" -l "$lang"
    fi
done
# The operations console has a domain of its own, in French and English (src/sika/console/i18n.py says
# why); tests/unit/test_console_catalogs.py keeps it complete.
CONSOLE=src/sika/console/locale
"$BIN/pybabel" -q extract -F "$CONSOLE/babel.cfg" -k t -k N_ --no-location --sort-output \
    --project "Sika console" --copyright-holder "Sika contributors" -o "$CONSOLE/console.pot" src/sika/console
for lang in fr en; do
    "$BIN/pybabel" -q update --no-fuzzy-matching --ignore-obsolete -D console -i "$CONSOLE/console.pot" -d "$CONSOLE" -l "$lang"
done
