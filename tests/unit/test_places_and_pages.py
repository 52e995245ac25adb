"""Named places are found by their first letters whatever the accents and case, each default place lies
in its city, and a USSD screen of any length is paged without losing a word."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from sika.chat.ussd import SCREEN_CHARS_MAX, pages
from sika.rides.cities import DEFAULT_CITIES, City
from sika.rides.places import Place, fold, search

LOME = next(city for city in DEFAULT_CITIES if city.id == "lome")


def names(typed: str) -> list[str]:
    return [place.name for place in search(LOME.places, typed, 8)]


def test_a_place_is_found_by_its_first_letters_without_accents_or_case() -> None:
    assert names("hedz") == ["Hédzranawoé"]
    assert names("HÉDZRANAWOE") == ["Hédzranawoé"]
    assert names("universite") == ["Université de Lomé"]
    assert names("Aéroport") == ["Aéroport"]
    assert "Grand Marché" in names("marche")  # a later word of the name
    assert names("assigame")[:2] == ["Assigamé", "Grand Marché"]  # the place, then the alias of another
    assert names("UL") == ["Université de Lomé"]
    assert names("") == [] and names("  ?! ") == [] and names("zzz") == []


def test_lome_lists_the_places_people_name_and_every_city_has_some() -> None:
    for name in ("Grand Marché", "Assigamé", "Gare de Tokoin", "Université de Lomé", "Port autonome",
                 "Aéroport", "Bè", "Agoè", "Hédzranawoé"):
        assert names(name) and names(name)[0] == name
    assert all(len(city.places) >= 5 for city in DEFAULT_CITIES)


def test_a_configured_place_outside_its_city_or_twice_is_refused() -> None:
    settings = LOME.model_dump()
    paris = {"id": "paris", "name": "Paris", "lat": 48.85, "lng": 2.35}
    with pytest.raises(ValidationError, match="outside the service area"):
        City.model_validate({**settings, "places": [paris]})
    be = {"id": "be", "name": "Bè", "lat": 6.14, "lng": 1.24}
    with pytest.raises(ValidationError):
        City.model_validate({**settings, "places": [{**be, "id": "bè"}]})  # an id is lower-case ASCII
    with pytest.raises(ValidationError, match="same id"):
        City.model_validate({**settings, "places": [be, be]})
    assert fold("Agoè-Nyivé") == "agoe nyive"
    assert Place(id="x", name="Œuvre", lat=0, lng=0).search_keys() == ("oeuvre",)


_WORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
                 min_size=1, max_size=30)


@given(lines=st.lists(st.lists(_WORDS, max_size=25), max_size=6), choices=st.lists(_WORDS, max_size=12),
       end=st.booleans())
@example(lines=[["x" * 171], ["y" * 20]], choices=[], end=True)  # a line exactly one page long
def test_a_screen_of_any_length_is_paged_without_losing_a_word(lines: list[list[str]], choices: list[str],
                                                               end: bool) -> None:
    text = "\n".join(" ".join(words) for words in lines)
    screens = pages({"text": text, "choices": choices, "end": end})
    assert all(len(screen) <= SCREEN_CHARS_MAX for screen in screens)
    assert all(screen.startswith("CON ") and screen.endswith("\n99. >>") for screen in screens[:-1])
    assert all(screen[4:].removesuffix("\n99. >>").strip() for screen in screens[:-1])  # no empty page
    assert screens[-1].startswith("END " if end else "CON ") and not screens[-1].endswith("99. >>")
    shown = " ".join(screen[4:].removesuffix("\n99. >>") for screen in screens)
    if len(screens) < 12:  # a screen of more than 12 pages is cut on the last (no flow says that much)
        assert "".join(shown.split()) == "".join((text + "".join(
            f"{n}. {choice}" for n, choice in enumerate(choices, start=1))).split())
