"""``sika calendar``: prayer times, Ramadan's dates and windows, as a city sees them.

A table for people; ``--json``: one JSON object instead, for scripts.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sika.errors import SikaError

if TYPE_CHECKING:
    from sika.calendar import Calendar

__all__ = ["app"]

DAYS_MAX = 31  # rows one command prints

app = typer.Typer(
    help="Prayer times, Ramadan's dates and windows relative to them, per city (docs/calendar.md).",
    no_args_is_help=True,
    add_completion=False,
)

CityOption = Annotated[str, typer.Option(help="The city's id (lome, kara, cotonou, ouagadougou, bamako).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")]


def _calendar() -> Calendar:
    from pydantic import ValidationError

    from sika.calendar import Calendar, MemoryAnnouncements
    from sika.calendar.validation import first_error
    from sika.config import settings
    from sika.errors import ConfigurationError

    try:
        s = settings()
    except ValidationError as exc:  # SIKA_PRAYER, SIKA_RAMADAN: what operators type into the environment
        raise ConfigurationError(f"invalid setting: {first_error(exc)}") from exc
    return Calendar(s.cities, prayer=s.prayer, announcements=MemoryAnnouncements(s.ramadan))


def _date(text: str | None, calendar: Calendar, city: str) -> date:
    if text is None:
        return calendar.local_date(city, datetime.now(UTC))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SikaError(f"{text!r} is not a date (YYYY-MM-DD)", code="invalid_date") from None


def _print(table: Table) -> None:
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    console.print(table)


@app.command("prayers")
def prayers(
    *,
    city: CityOption = "lome",
    day: Annotated[str | None, typer.Option("--date", help="Local date YYYY-MM-DD (default: today).")] = None,
    days: Annotated[int, typer.Option(min=1, max=DAYS_MAX, help="Consecutive days to print.")] = 1,
    json_output: JsonOption = False,
) -> None:
    """The five prayers and sunrise in a city's local time, and the Ramadan day when it is one."""
    from sika.calendar import Prayer

    calendar = _calendar()
    first = _date(day, calendar, city)
    place = calendar.place(city)
    dates = [first + timedelta(days=n) for n in range(days)]
    rows = [(calendar.prayer_times(city, d), calendar.ramadan_day(city, d)) for d in dates]
    if json_output:
        typer.echo(json.dumps({"city": city, "timezone": place.zone.key, "method": place.method.method,
                               "days": [{**times.as_json(), "ramadan_day": ramadan_day}
                                        for times, ramadan_day in rows]}))
        return
    table = Table("date", *(prayer.value for prayer in Prayer), "ramadan",
                  title=f"{place.name}: prayer times ({place.zone.key})",
                  caption=f"{place.method.method}, {place.method.madhab} Asr, at {place.latitude:.3f}, "
                          f"{place.longitude:.3f}")
    for times, ramadan_day in rows:
        table.add_row(times.day.isoformat(), *(times.at(prayer).strftime("%H:%M") for prayer in Prayer),
                      "" if ramadan_day is None else f"day {ramadan_day}")
    _print(table)


@app.command("ramadan")
def ramadan(
    *,
    year: Annotated[int | None, typer.Option(min=1925, max=2076, help="Gregorian year (default: this one).")]
    = None,
    city: Annotated[str | None, typer.Option(help="One city's id (default: every city).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Ramadan's first and last fasting days per city: the Umm al-Qura table or what was announced."""
    calendar = _calendar()
    year = datetime.now(UTC).year if year is None else year
    cities = [calendar.place(city).id] if city is not None else list(calendar.places)
    rows = [(city_id, season) for city_id in cities for season in calendar.ramadan_seasons(city_id, year)]
    if json_output:
        typer.echo(json.dumps({"year": year, "seasons": [{"city": city_id, **season.as_json()}
                                                        for city_id, season in rows]}))
        return
    table = Table("city", "hijri year", "first day", "last day", "days", "source",
                  title=f"Ramadan starting in {year}")
    for city_id, season in rows:
        source = "Umm al-Qura table" if season.source == "umm_al_qura" else (
            f"announced ({season.scope}{', end too' if season.end_announced else ''})")
        table.add_row(city_id, str(season.hijri_year), season.first.isoformat(), season.last.isoformat(),
                      str(season.days), source)
    _print(table)


@app.command("window")
def window(
    spec: Annotated[str, typer.Argument(help='The window, or a list of them, as JSON: '
                                             '\'{"start": "maghrib-30min", "end": "maghrib"}\'.')],
    *,
    city: CityOption = "lome",
    at: Annotated[str | None, typer.Option(help="An instant with its offset, 2026-03-01T18:30+00:00 "
                                                "(default: now).")] = None,
    days: Annotated[int, typer.Option(min=1, max=DAYS_MAX, help="Days of occurrences to print.")] = 3,
    json_output: JsonOption = False,
) -> None:
    """Whether a window is open at an instant, when it next opens or closes, and its next occurrences."""
    from sika.calendar import parse_window, parse_windows

    windows = parse_windows(spec) if spec.lstrip().startswith("[") else (parse_window(spec),)
    calendar = _calendar()
    instant = _instant(at)
    schedule = calendar.schedule(windows, city)
    is_open = schedule.contains(instant)
    change = schedule.next_change(instant)
    first = calendar.local_date(city, instant)
    occurrences = [o for n in range(days) for o in schedule.occurrences(first + timedelta(days=n))]
    zone = schedule.place.zone
    result: dict[str, Any] = {
        "city": city, "at": instant.astimezone(zone).isoformat(), "open": is_open,
        "next_change": None if change is None else {
            "at": change.at.isoformat(), "opens": change.opens, "anchor": str(change.anchor)},
        "occurrences": [{"start": o.start.isoformat(), "end": o.end.isoformat(), "window": str(o.window)}
                        for o in occurrences],
    }
    if json_output:
        typer.echo(json.dumps(result))
        return
    console = Console()
    when = instant.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    console.print(f"{schedule.place.name}, {when} ({zone.key}): {'open' if is_open else 'closed'}")
    if change is None:
        console.print("no change within the horizon")
    else:
        verb = "opens" if change.opens else "closes"
        console.print(f"{verb} at {change.at.strftime('%Y-%m-%d %H:%M')} ({change.anchor})")
    table = Table("start", "end", "window", title="occurrences")
    for o in occurrences:
        table.add_row(o.start.strftime("%Y-%m-%d %H:%M"), o.end.strftime("%Y-%m-%d %H:%M"), str(o.window))
    _print(table)


def _instant(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise SikaError(f"{text!r} is not an instant (YYYY-MM-DDTHH:MM+00:00)", code="invalid_date") from None
    if instant.tzinfo is None:
        raise SikaError(f"{text!r} has no offset: add one, e.g. +00:00 for Lomé", code="invalid_date")
    return instant
