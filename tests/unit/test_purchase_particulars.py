"""What a biller's quote adds to a purchase's confirmation, written as the person writes it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from sika.chat.flows.purchases import _PARTICULAR_CHARS_MAX, _particulars
from sika.chat.i18n import translator


def _said(language: str, details: dict[str, str]) -> str:
    return _particulars(cast(Any, SimpleNamespace(t=translator(language))), details)


def test_energy_has_the_languages_decimal_mark_and_plain_spaces() -> None:
    assert _said("fr", {"units_kwh": "1234.56"}) == "Énergie : 1 234,56 kWh"
    assert _said("en", {"units_kwh": "44.6"}) == "Energy: 44.6 kWh"


def test_the_particulars_come_in_order_and_unknown_keys_say_nothing() -> None:
    said = _said("fr", {"period": "2026-11", "customer_name": "Adjoa Attiogbe", "meter": "1"})
    assert said == "Titulaire : Adjoa Attiogbe\nFacture de 2026-11"
    assert _said("fr", {}) == ""


def test_what_is_not_a_finite_number_is_shown_as_sent_and_cut() -> None:
    assert _said("en", {"units_kwh": "nan"}) == "Energy: nan kWh"
    long = _said("en", {"units_kwh": "1" * 200, "customer_name": "x" * 200})
    assert all(len(line) < _PARTICULAR_CHARS_MAX + 20 for line in long.split("\n")), long
