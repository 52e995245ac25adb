"""The five daily prayers (plus sunrise, which ends Fajr's time), how a city computes them, and one
day's times.

Plain types only: :mod:`sika.calendar.clock` computes them (adhanpy), and windows refer to them
("maghrib-10min"). Times are aware datetimes in the city's zone, rounded to the minute as prayer
tables are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

__all__ = ["OFFSET_MIN_MAX", "Madhab", "MethodName", "Prayer", "PrayerMethod", "PrayerTimes"]

# A city's correction to a computed time: a local mosque's habit, a minute of precaution. An hour
# is already far more than any published table differs by; more is a typo.
OFFSET_MIN_MAX = 60


class Prayer(enum.StrEnum):
    """The day's events in order. Sunrise is not a prayer: it ends Fajr's time, and windows use it."""

    FAJR = "fajr"
    SUNRISE = "sunrise"
    DHUHR = "dhuhr"
    ASR = "asr"
    MAGHRIB = "maghrib"
    ISHA = "isha"


# adhanpy's calculation methods, by the names operators type (its enum's names, lower case).
MethodName = Literal[
    "muslim_world_league", "egyptian", "karachi", "umm_al_qura", "dubai", "moon_sighting_committee",
    "north_america", "kuwait", "qatar", "singapore", "uoif",
]
Madhab = Literal["shafi", "hanafi"]  # only Asr differs: shadow once (shafi) or twice (hanafi) as long


class PrayerMethod(BaseModel, frozen=True, extra="forbid"):
    """How one city's prayer times are computed (``SIKA_PRAYER``, keyed by city id).

    The Muslim World League's angles (Fajr 18°, Isha 17°) are the default: the usual choice in West
    Africa. ``fajr_angle``/``isha_angle`` override the method's; ``offsets_min`` move a computed time
    (``{"maghrib": 2}``: two minutes later); ``latitude``/``longitude`` replace the centre of the
    city's service area, for a city whose reference mosque is elsewhere.
    """

    method: MethodName = "muslim_world_league"
    madhab: Madhab = "shafi"
    offsets_min: dict[Prayer, int] = Field(default_factory=dict)
    fajr_angle: float | None = Field(default=None, ge=10, le=25)
    isha_angle: float | None = Field(default=None, ge=10, le=25)
    latitude: float | None = Field(default=None, ge=-65, le=65)  # adhanpy has no polar rule here
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("offsets_min")
    @classmethod
    def _small_offsets(cls, offsets: dict[Prayer, int]) -> dict[Prayer, int]:
        for prayer, minutes in offsets.items():
            if abs(minutes) > OFFSET_MIN_MAX:
                raise ValueError(f"{prayer} offset {minutes} min is beyond ±{OFFSET_MIN_MAX} min")
        return offsets

    @model_validator(mode="after")
    def _both_coordinates(self) -> PrayerMethod:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


@dataclass(frozen=True, slots=True)
class PrayerTimes:
    """One city's prayer times on one local date, in the city's zone."""

    city_id: str
    day: date
    fajr: datetime
    sunrise: datetime
    dhuhr: datetime
    asr: datetime
    maghrib: datetime
    isha: datetime

    def __post_init__(self) -> None:
        times = [self.at(prayer) for prayer in Prayer]
        assert all(t.tzinfo is not None for t in times), "prayer times are aware datetimes"
        assert times == sorted(times), f"{self.city_id} {self.day}: prayers out of order"

    def at(self, prayer: Prayer) -> datetime:
        value: datetime = getattr(self, prayer.value)
        return value

    def as_json(self) -> dict[str, Any]:
        return {"city": self.city_id, "date": self.day.isoformat(),
                **{prayer.value: self.at(prayer).isoformat() for prayer in Prayer}}
