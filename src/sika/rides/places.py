"""Named places of a city (markets, stations, landmarks, with their coordinates), to book a ride by
name where no location can be shared: USSD, the terminal, and WhatsApp for those who prefer typing.

Each city lists its places in its configuration (``places`` of a city in ``SIKA_CITIES``; the defaults
are in :mod:`sika.rides.place_lists`). :func:`search` finds them by the first letters of their name,
of any word of it or of an alias, whatever the accents and the case: "marche" finds "Grand Marché",
"hedz" finds "Hédzranawoé". :func:`recent` gives the places a rider was picked up at or taken to
lately, most recent first, read from their trips (a trip booked by name has the place's coordinates).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Engine, select

from sika.rides.geo import Point, haversine_m
from sika.rides.schema import trips

__all__ = ["PLACES_MAX", "Place", "fold", "last_city", "nearest", "recent", "search"]

PLACES_MAX = 500          # places one city lists at most
ALIASES_MAX = 8
NAME_CHARS_MAX = 40
TYPED_CHARS_MAX = 40      # what search reads of the typed text
RECENT_TRIPS_MAX = 20     # trips recent() reads at most
# A trip's point is "at" a place when this close to it (a place booked by name has its coordinates
# exactly; a shared location this close is the same place for the rider).
SAME_PLACE_M = 60
_NOT_WORD = re.compile(r"[^0-9a-z]+")


class Place(BaseModel, frozen=True):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    name: str = Field(min_length=2, max_length=NAME_CHARS_MAX)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    aliases: tuple[str, ...] = Field(default=(), max_length=ALIASES_MAX)

    @field_validator("name", "aliases")
    @classmethod
    def _searchable(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for name in (value,) if isinstance(value, str) else value:
            if not fold(name) or len(name) > NAME_CHARS_MAX:
                raise ValueError(f"a place's name or alias has letters or digits: {name!r}")
        return value

    @property
    def point(self) -> Point:
        return Point(self.lat, self.lng)

    def search_keys(self) -> tuple[str, ...]:
        """What a typed prefix is compared with: the folded name and aliases, whole."""
        return tuple(fold(name) for name in (self.name, *self.aliases))


def fold(text: str) -> str:
    """``text`` without accents, case or punctuation, words one space apart ("Agoè-Nyivé" is
    "agoe nyive")."""
    decomposed = unicodedata.normalize("NFKD", text[:200].casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NOT_WORD.sub(" ", bare.replace("œ", "oe").replace("æ", "ae")).strip()


def search(places: Sequence[Place], typed: str, limit: int) -> list[Place]:
    """The places whose name, a word of it, or an alias starts with ``typed``: whole names first,
    then by name; at most ``limit``."""
    assert 0 < limit <= PLACES_MAX
    prefix = fold(typed[:TYPED_CHARS_MAX])
    if not prefix:
        return []
    ranked: list[tuple[int, str, Place]] = []
    for place in places:
        keys = place.search_keys()
        if any(key.startswith(prefix) for key in keys):
            ranked.append((0, fold(place.name), place))
        elif any(word.startswith(prefix) for key in keys for word in _suffixes(key)):
            ranked.append((1, fold(place.name), place))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [place for _, _, place in ranked[:limit]]


def _suffixes(key: str) -> Iterable[str]:
    """The key from each of its words on: "grand marche" gives "marche" (typed "marche" or "marche d")."""
    words = key.split(" ")
    return (" ".join(words[i:]) for i in range(1, len(words)))


def recent(engine: Engine, customer_id: int, places: Sequence[Place], limit: int) -> list[Place]:
    """The places of ``places`` the rider's latest trips started or ended at, most recent first,
    each once; at most ``limit``."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(trips.c.dropoff_lat, trips.c.dropoff_lng, trips.c.pickup_lat, trips.c.pickup_lng)
            .where(trips.c.rider_customer_id == customer_id)
            .order_by(trips.c.requested_at_ns.desc()).limit(RECENT_TRIPS_MAX)).all()
    found: list[Place] = []
    for dropoff_lat, dropoff_lng, pickup_lat, pickup_lng in rows:
        for lat, lng in ((dropoff_lat, dropoff_lng), (pickup_lat, pickup_lng)):
            place = nearest(places, lat, lng)
            if place is not None and place not in found:
                found.append(place)
                if len(found) >= limit:
                    return found
    return found


def last_city(engine: Engine, customer_id: int) -> str | None:
    """The city of the rider's latest trip, if they had one."""
    with engine.connect() as connection:
        city: str | None = connection.execute(
            select(trips.c.city).where(trips.c.rider_customer_id == customer_id)
            .order_by(trips.c.requested_at_ns.desc()).limit(1)).scalar()
    return city


def nearest(places: Sequence[Place], lat: float, lng: float) -> Place | None:
    """The place at (``lat``, ``lng``), within ``SAME_PLACE_M``, if there is one."""
    best: tuple[float, Place] | None = None
    for place in places:
        metres = haversine_m(Point(lat, lng), place.point)
        if metres <= SAME_PLACE_M and (best is None or metres < best[0]):
            best = (metres, place)
    return best[1] if best is not None else None

