"""The first steps of booking a ride: where from, where to, by place name or by shared location.

On USSD and in the terminal nobody can share a location: the rider types the first letters of a
named place of the city (a market, a station, a landmark: :mod:`sika.rides.places`), or picks one of
the places of their last rides, offered first. On WhatsApp a shared location works as before, and a
typed name too. Several places matching the letters are offered as a list (typing more letters
narrows it); one match is taken at once. The destination is searched in the pick-up's city. Then the
flow goes on to the same vehicle, quote, payment, confirmation and PIN steps, whatever the channel.

Steps (flow ``ride``): ``pickup`` → (``pickup_pick``) → ``dropoff`` → (``dropoff_pick``) → ``vehicle``.
State: ``city``, ``pickup`` and ``dropoff`` as ``[lat, lng]``, ``pickup_name`` and ``dropoff_name``
when booked by name; ``pickup_matches``/``dropoff_matches`` (``"<city>:<place>"`` keys) and
``pickup_typed``/``dropoff_typed``: the list shown for each.
"""

from __future__ import annotations

from sika import phones
from sika.chat.context import Answer, Context, Invalid
from sika.chat.messages import Choice, Location, Reply
from sika.rides.cities import City
from sika.rides.places import Place, fold, search

__all__ = ["dropoff", "dropoff_ask", "dropoff_location", "pick", "pick_ask", "pickup", "pickup_ask",
           "pickup_location"]

RECENT_SHOWN = 3
MATCHES_SHOWN = 8
_PREFIX = "place:"


# Asking ------------------------------------------------------------------------------------------

def pickup_ask(ctx: Context) -> Reply:
    if _shares_locations(ctx):
        text = ctx.t("Where are you? Share your location (tap 📎, then Location), or type the name of a "
                     "place near you: a market, a station, a landmark.")
    else:
        text = ctx.t("Where should the driver pick you up? Type the first letters of a place: a market, "
                     "a station, a landmark.")
    return Reply(text, choices=_recent_choices(ctx, _cities(ctx)), button=ctx.t("Choose"))


def dropoff_ask(ctx: Context) -> Reply:
    if _shares_locations(ctx):
        text = ctx.t("Where to? Share the location of your destination (tap 📎, then Location), or type "
                     "the name of a place.")
    else:
        text = ctx.t("Where to? Type the first letters of a place.")
    choices = [choice for choice in _recent_choices(ctx, [_city(ctx)])
               if _point(ctx, choice.id) != ctx.state.data.get("pickup")]
    return Reply(text, choices=choices, button=ctx.t("Choose"))


def pick_ask(ctx: Context) -> Reply:
    """The places that matched the letters typed (for the pick-up or the destination)."""
    end = _end(ctx)
    keys = ctx.state.data.get(f"{end}_matches", [])
    found = [entry for entry in (_place(ctx, key) for key in keys) if entry]
    several = len({city.id for city, _ in found}) > 1
    choices = [_choice(city, place, with_city=several) for city, place in found]
    text = ctx.t('Several places start with "{typed}": which one? Or type more letters.',
                 typed=ctx.state.data.get(f"{end}_typed", ""))
    return Reply(text, choices=choices, button=ctx.t("Choose"))


# Answering ---------------------------------------------------------------------------------------

def pickup(ctx: Context, answer: Answer) -> None:
    _take(ctx, answer, "pickup", _pickup_scopes(ctx))


def dropoff(ctx: Context, answer: Answer) -> None:
    _take(ctx, answer, "dropoff", [[_city(ctx)]])


def pick(ctx: Context, answer: Answer) -> None:
    end = _end(ctx)
    _take(ctx, answer, end, _pickup_scopes(ctx) if end == "pickup" else [[_city(ctx)]])


def pickup_location(ctx: Context, location: Location) -> None:
    city = next((c for c in ctx.services.rides.cities
                 if c.area.contains(location.latitude, location.longitude)), None)
    if city is None:
        ctx.state.reset()
        raise Invalid(ctx.t("Sorry, rides are not available here yet."))
    ctx.state.data.update(city=city.id, pickup=[location.latitude, location.longitude])
    ctx.state.data.pop("pickup_name", None)
    ctx.go("ride", "dropoff")


def dropoff_location(ctx: Context, location: Location) -> None:
    ctx.state.data["dropoff"] = [location.latitude, location.longitude]
    ctx.state.data.pop("dropoff_name", None)
    ctx.go("ride", "vehicle")


def _take(ctx: Context, answer: Answer, end: str, scopes: list[list[City]]) -> None:
    """A place chosen, or typed letters (searched in the first of ``scopes`` where they match): one
    match is taken, several are listed, none is refused."""
    chosen = _place(ctx, answer.choice) if answer.choice else None
    if chosen is not None:
        _set(ctx, end, *chosen)
        return
    typed = " ".join(answer.text.split())[:40]
    matches: list[tuple[City, Place]] = []
    for cities in scopes:
        matches = matches or [(city, place) for city in cities
                              for place in search(city.places, typed, MATCHES_SHOWN)][:MATCHES_SHOWN]
    exact = [(city, place) for city, place in matches if fold(typed) in place.search_keys()]
    if len(matches) == 1 or len(exact) == 1:
        _set(ctx, end, *(exact or matches)[0])
        return
    if not matches:
        raise Invalid(ctx.t('No place starts with "{typed}". Type other letters.', typed=typed))
    ctx.state.data.update({f"{end}_matches": [_key(city, place) for city, place in matches],
                           f"{end}_typed": typed})
    if ctx.state.step != f"{end}_pick":
        ctx.go("ride", f"{end}_pick")


def _set(ctx: Context, end: str, city: City, place: Place) -> None:
    data = ctx.state.data  # the list shown stays: "back" shows it again
    if end == "pickup":
        data.update(city=city.id, pickup=[place.lat, place.lng], pickup_name=place.name)
        ctx.go("ride", "dropoff")
        return
    if [place.lat, place.lng] == data.get("pickup"):
        raise Invalid(ctx.t("That is where the driver picks you up: choose another destination."))
    data.update(dropoff=[place.lat, place.lng], dropoff_name=place.name)
    if data.get("pickup_name"):
        ctx.say(ctx.t("Pick-up: {pickup}. Destination: {dropoff}.", pickup=data["pickup_name"],
                      dropoff=place.name))
    ctx.go("ride", "vehicle")


# Places ------------------------------------------------------------------------------------------

def _end(ctx: Context) -> str:
    """Which end of the ride a list of places is for."""
    return "pickup" if ctx.state.step == "pickup_pick" else "dropoff"


def _shares_locations(ctx: Context) -> bool:
    return ctx.inbound.channel == "whatsapp"


def _cities(ctx: Context) -> list[City]:
    return list(ctx.services.rides.cities)


def _pickup_scopes(ctx: Context) -> list[list[City]]:
    """Where a pick-up is searched, nearest first: the city of the rider's last ride, the cities of
    their number's country, then every city ("Grand Marché" is in several)."""
    assert ctx.customer is not None
    cities = _cities(ctx)
    last = ctx.services.places.last_city(ctx.customer.id)
    country = phones.region(ctx.msisdn)
    return [[c for c in cities if c.id == last], [c for c in cities if c.country == country], cities]


def _city(ctx: Context) -> City:
    return ctx.services.rides.city(str(ctx.state.data["city"]))


def _recent_choices(ctx: Context, cities: list[City]) -> list[Choice]:
    """The places of the rider's last rides in these cities, most recent first."""
    assert ctx.customer is not None
    ordered = [(city, place) for city in cities for place in city.places]
    places = ctx.services.places.recent(ctx.customer.id, [place for _, place in ordered], RECENT_SHOWN)
    city_of = {id(place): city for city, place in ordered}
    several = len({city_of[id(place)].id for place in places}) > 1
    return [_choice(city_of[id(place)], place, with_city=several) for place in places]


def _choice(city: City, place: Place, *, with_city: bool) -> Choice:
    title = f"{place.name}, {city.name}" if with_city else place.name
    return Choice(_PREFIX + _key(city, place), title)


def _key(city: City, place: Place) -> str:
    return f"{city.id}:{place.id}"


def _place(ctx: Context, choice: str | None) -> tuple[City, Place] | None:
    """The place a choice id (or a stored key) names, if the configuration still has it."""
    if not choice:
        return None
    city_id, _, place_id = choice.removeprefix(_PREFIX).partition(":")
    for city in _cities(ctx):
        if city.id == city_id:
            return next(((city, place) for place in city.places if place.id == place_id), None)
    return None


def _point(ctx: Context, choice: str) -> list[float] | None:
    found = _place(ctx, choice)
    return [found[1].lat, found[1].lng] if found is not None else None
