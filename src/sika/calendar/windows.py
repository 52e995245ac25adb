"""Windows of time relative to prayer times: the vocabulary of campaigns and quiet hours.

A window runs from a ``start`` anchor to an ``end`` anchor every day (or only on Ramadan days, only
outside Ramadan, only on some weekdays). An anchor is a prayer with an optional offset
(``maghrib-10min``, ``isha+1h30min``, ``fajr``) or a fixed local hour (``04:00``, ``22:30``).
JSON, as campaigns and preferences store it::

    {"start": "maghrib-30min", "end": "maghrib", "days": "ramadan"}      the iftar rush
    {"start": "04:00", "end": "fajr", "days": "ramadan"}                  suhoor
    {"start": "22:00", "end": "06:00"}                                    the night, across midnight

An anchor may also be written as an object: ``{"prayer": "maghrib", "offset_min": -10}`` or
``{"minute": 240}``; it is written back as text. :mod:`sika.calendar.schedule` says when a window
is open; docs/calendar.md has the whole grammar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from sika.calendar.errors import InvalidWindow
from sika.calendar.prayers import Prayer
from sika.calendar.validation import first_error

__all__ = [
    "ANCHOR_OFFSET_MIN_MAX",
    "WINDOWS_MAX",
    "Anchor",
    "DayFilter",
    "Weekday",
    "Window",
    "around_prayers",
    "parse_window",
    "parse_windows",
    "windows_json",
]

# Six hours either side of a prayer reaches any time of day from the nearest prayer; a larger offset
# is a mistake (or a fixed hour written the long way).
ANCHOR_OFFSET_MIN_MAX = 360
WINDOWS_MAX = 32  # windows in one list (a quiet profile has six at most)
_DAY_MIN = 24 * 60

DayFilter = Literal["every_day", "ramadan", "outside_ramadan"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_FIXED = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})")
_RELATIVE = re.compile(r"(?P<prayer>[a-z]+)(?:(?P<sign>[+-])(?P<offset>[0-9hmin]+))?")
_OFFSET = re.compile(r"(?:(?P<hours>\d{1,2})h)?(?:(?P<minutes>\d{1,3})(?:min|m))?")
_PRAYERS = ", ".join(prayer.value for prayer in Prayer)


class Anchor(BaseModel, frozen=True, extra="forbid"):
    """A prayer time moved by ``offset_min`` minutes, or a fixed local ``minute`` of the day."""

    prayer: Prayer | None = None
    offset_min: int = Field(default=0, ge=-ANCHOR_OFFSET_MIN_MAX, le=ANCHOR_OFFSET_MIN_MAX)
    minute: int | None = Field(default=None, ge=0, le=_DAY_MIN)  # 1440: the next midnight ("24:00")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return _parse_anchor(data) if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_kind(self) -> Anchor:
        if (self.prayer is None) == (self.minute is None):
            raise ValueError("an anchor is a prayer or a fixed hour")
        if self.minute is not None and self.offset_min:
            raise ValueError("a fixed hour takes no offset: write the hour itself")
        return self

    @model_serializer
    def _as_text(self) -> str:
        return str(self)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        # OpenAPI readers should see the text form first: it is what campaigns and the console send.
        if handler.mode == "serialization":
            return {"type": "string", "examples": ["maghrib-10min", "04:00"]}
        text = {"type": "string", "examples": ["maghrib-10min", "isha+1h30min", "04:00"]}
        return {"anyOf": [text, handler(core_schema)]}

    def __str__(self) -> str:
        if self.minute is not None:
            return f"{self.minute // 60:02d}:{self.minute % 60:02d}"
        assert self.prayer is not None
        if not self.offset_min:
            return self.prayer.value
        sign = "+" if self.offset_min > 0 else "-"
        return f"{self.prayer.value}{sign}{abs(self.offset_min)}min"


def _parse_anchor(text: str) -> dict[str, Any]:
    # Spaces, capitals and the typographic minus ("Maghrib − 10 min") are how people write it.
    compact = re.sub(r"\s+", "", text).lower().replace("\u2212", "-")
    if fixed := _FIXED.fullmatch(compact):
        hour, minute = int(fixed["hour"]), int(fixed["minute"])
        if hour > 24 or minute > 59 or (hour == 24 and minute):
            raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
        return {"minute": hour * 60 + minute}
    relative = _RELATIVE.fullmatch(compact)
    if relative is None or relative["prayer"] not in Prayer.__members__.values():
        raise ValueError(f"{text!r} is neither a prayer ({_PRAYERS}), nor one with an offset "
                         "(maghrib-10min, isha+1h30min), nor a time HH:MM")
    offset_min = 0
    if relative["sign"]:
        offset = _OFFSET.fullmatch(relative["offset"])
        if offset is None or not (offset["hours"] or offset["minutes"]):
            raise ValueError(f"{text!r}: write the offset with its unit, e.g. {relative['prayer']}"
                             f"{relative['sign']}10min or {relative['prayer']}{relative['sign']}1h")
        offset_min = int(offset["hours"] or 0) * 60 + int(offset["minutes"] or 0)
        if offset_min > ANCHOR_OFFSET_MIN_MAX:
            raise ValueError(f"{text!r}: an offset is at most {ANCHOR_OFFSET_MIN_MAX // 60} hours")
        offset_min = -offset_min if relative["sign"] == "-" else offset_min
    return {"prayer": relative["prayer"], "offset_min": offset_min}


class Window(BaseModel, frozen=True, extra="forbid"):
    """From ``start`` to ``end`` (end excluded) on the days ``days`` and ``weekdays`` allow.

    An occurrence belongs to the local date its start is anchored on. When the end falls before
    the start that day (22:00 to 06:00, isha to 04:00), the occurrence ends the next day.
    """

    start: Anchor
    end: Anchor
    days: DayFilter = "every_day"
    weekdays: tuple[Weekday, ...] | None = Field(default=None, min_length=1, max_length=7)

    @model_validator(mode="after")
    def _sensible(self) -> Window:
        if self.start == self.end:
            raise ValueError(f"a window from {self.start} to {self.end} is empty")
        if self.weekdays is not None and len(set(self.weekdays)) != len(self.weekdays):
            raise ValueError("a weekday is listed twice")
        return self

    def __str__(self) -> str:
        on = [] if self.days == "every_day" else [self.days.replace("_", " ")]
        if self.weekdays is not None:
            on.append(",".join(self.weekdays))
        return f"{self.start} to {self.end}" + (f" ({'; '.join(on)})" if on else "")


FIVE_PRAYERS = (Prayer.FAJR, Prayer.DHUHR, Prayer.ASR, Prayer.MAGHRIB, Prayer.ISHA)


def around_prayers(before_min: int, after_min: int, prayers: Sequence[Prayer] = FIVE_PRAYERS, *,
                   days: DayFilter = "every_day") -> tuple[Window, ...]:
    """One window per prayer, from ``before_min`` minutes before it to ``after_min`` after: a
    prayer quiet profile. Their union is what a :class:`~sika.calendar.schedule.Schedule` answers."""
    if before_min < 0 or after_min < 0 or before_min + after_min == 0:
        raise InvalidWindow("minutes before and after a prayer are positive, and not both zero")
    if max(before_min, after_min) > ANCHOR_OFFSET_MIN_MAX:
        raise InvalidWindow(f"at most {ANCHOR_OFFSET_MIN_MAX} minutes before or after a prayer")
    return tuple(Window(start=Anchor(prayer=prayer, offset_min=-before_min),
                        end=Anchor(prayer=prayer, offset_min=after_min), days=days) for prayer in prayers)


_WINDOWS = TypeAdapter(list[Window])


def parse_window(data: str | dict[str, Any]) -> Window:
    """A window from JSON text or its decoded object; :class:`InvalidWindow` says what is wrong."""
    try:
        if isinstance(data, str):
            return Window.model_validate_json(data)
        return Window.model_validate(data)
    except ValidationError as exc:
        raise InvalidWindow(f"invalid window: {first_error(exc)}") from exc


def parse_windows(data: str | Sequence[dict[str, Any]]) -> tuple[Window, ...]:
    """A list of windows (a quiet profile, a campaign's hours): at most :data:`WINDOWS_MAX`."""
    try:
        windows = _WINDOWS.validate_json(data) if isinstance(data, str) else _WINDOWS.validate_python(data)
    except ValidationError as exc:
        raise InvalidWindow(f"invalid windows: {first_error(exc)}") from exc
    if not 1 <= len(windows) <= WINDOWS_MAX:
        raise InvalidWindow(f"give 1 to {WINDOWS_MAX} windows, not {len(windows)}")
    return tuple(windows)


def windows_json(windows: Window | Sequence[Window]) -> str:
    """The canonical JSON of a window or a list (what :func:`parse_window` reads back)."""
    if isinstance(windows, Window):
        return json.dumps(windows.model_dump(mode="json", exclude_defaults=True))
    return json.dumps([window.model_dump(mode="json", exclude_defaults=True) for window in windows])
