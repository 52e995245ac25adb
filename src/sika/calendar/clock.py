"""Prayer times from adhanpy, cached per (city, date): the one module that imports adhanpy.

adhanpy computes from the sun's position (Meeus' formulae) for a date's solar day at given
coordinates and returns UTC datetimes rounded to the minute; this adapter turns a :class:`Place` and
its :class:`PrayerMethod` into its parameters and the result into :class:`PrayerTimes` in the city's
zone. A computation costs about 0.1 ms, a cached answer a dictionary lookup: windows evaluated on
every payment only ever pay the lookup.
"""

from __future__ import annotations

import threading
from datetime import date, datetime

from adhanpy.calculation.CalculationMethod import CalculationMethod
from adhanpy.calculation.CalculationParameters import CalculationParameters
from adhanpy.calculation.Madhab import Madhab
from adhanpy.calculation.PrayerAdjustments import PrayerAdjustments
from adhanpy.PrayerTimes import PrayerTimes as AdhanTimes

from sika.calendar.errors import PrayerTimesUnavailable
from sika.calendar.places import Place
from sika.calendar.prayers import Prayer, PrayerMethod, PrayerTimes

__all__ = ["CACHE_DAYS_MAX", "PrayerClock", "compute_prayer_times"]

# Cached (city, date) pairs: five cities for two years, with room to spare. Past it the oldest half goes.
CACHE_DAYS_MAX = 8_192


def _parameters(method: PrayerMethod) -> CalculationParameters:
    offsets = {prayer.value: minutes for prayer, minutes in method.offsets_min.items()}
    parameters = CalculationParameters(method=CalculationMethod[method.method.upper()],
                                       adjustments=PrayerAdjustments(**offsets))
    parameters.madhab = Madhab.HANAFI if method.madhab == "hanafi" else Madhab.SHAFI
    if method.fajr_angle is not None:
        parameters.fajr_angle = method.fajr_angle
    if method.isha_angle is not None:
        parameters.isha_angle = method.isha_angle
    return parameters


def compute_prayer_times(place: Place, day: date) -> PrayerTimes:
    """Compute (no cache) the prayer times of ``place`` on the local date ``day``."""
    try:
        # adhanpy reads the date's year, month and day only; its results are UTC instants.
        adhan = AdhanTimes((place.latitude, place.longitude), datetime(day.year, day.month, day.day),
                           calculation_parameters=_parameters(place.method), time_zone=place.zone)
    except (RuntimeError, ValueError, OverflowError) as exc:
        raise PrayerTimesUnavailable(f"no prayer times for {place.name} on {day}: the sun does not "
                                     "reach the method's angles") from exc
    times = {prayer: getattr(adhan, prayer.value) for prayer in Prayer}
    return PrayerTimes(city_id=place.id, day=day, **{p.value: t for p, t in times.items()})


class PrayerClock:
    """Prayer times per (city, local date), computed once and kept (bounded, thread-safe)."""

    def __init__(self, *, cache_max: int = CACHE_DAYS_MAX) -> None:
        assert cache_max >= 2
        self._cache_max = cache_max
        self._cache: dict[tuple[str, int], PrayerTimes] = {}
        self._lock = threading.Lock()

    def times(self, place: Place, day: date) -> PrayerTimes:
        key = (place.id, day.toordinal())
        found = self._cache.get(key)
        if found is not None:
            return found
        computed = compute_prayer_times(place, day)
        with self._lock:
            if len(self._cache) >= self._cache_max:
                # Dicts keep insertion order: drop the older half at once rather than one per miss.
                for old in list(self._cache)[: self._cache_max // 2]:
                    del self._cache[old]
            self._cache[key] = computed
        return computed
