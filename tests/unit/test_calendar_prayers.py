"""Prayer times for Lomé and its neighbours, checked against a second computation written here.

The reference is the NOAA solar calculator's algorithm (Meeus, *Astronomical Algorithms*, low
precision): the sun's declination and the equation of time at the event's instant, then the hour
angle at which its centre reaches an altitude: -0.833° for sunset (refraction and the disc's
radius), -18° for Fajr and -17° for Isha (the Muslim World League's angles). adhanpy rounds to the
minute, so agreement within two minutes is what a printed prayer table would show.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from sika.calendar import Calendar, Prayer, PrayerMethod
from sika.errors import ConfigurationError
from sika.rides.cities import DEFAULT_CITIES

TOLERANCE = timedelta(minutes=2)


def _sun(moment: datetime) -> tuple[float, float]:
    """Declination (radians) and equation of time (minutes) at ``moment`` (UTC)."""
    julian_day = moment.timestamp() / 86_400 + 2_440_587.5
    t = (julian_day - 2_451_545.0) / 36_525  # Julian centuries since J2000.0
    mean_longitude = math.radians((280.46646 + t * (36_000.76983 + t * 0.0003032)) % 360)
    anomaly = math.radians(357.52911 + t * (35_999.05029 - 0.0001537 * t))
    eccentricity = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    center = (math.sin(anomaly) * (1.914602 - t * (0.004817 + 0.000014 * t))
              + math.sin(2 * anomaly) * (0.019993 - 0.000101 * t) + math.sin(3 * anomaly) * 0.000289)
    omega = math.radians(125.04 - 1_934.136 * t)
    apparent_longitude = math.radians(math.degrees(mean_longitude) + center - 0.00569
                                      - 0.00478 * math.sin(omega))
    mean_obliquity = 23 + (26 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60) / 60
    obliquity = math.radians(mean_obliquity + 0.00256 * math.cos(omega))
    declination = math.asin(math.sin(obliquity) * math.sin(apparent_longitude))
    y = math.tan(obliquity / 2) ** 2
    equation_min = 4 * math.degrees(
        y * math.sin(2 * mean_longitude) - 2 * eccentricity * math.sin(anomaly)
        + 4 * eccentricity * y * math.sin(anomaly) * math.cos(2 * mean_longitude)
        - 0.5 * y * y * math.sin(4 * mean_longitude) - 1.25 * eccentricity ** 2 * math.sin(2 * anomaly))
    return declination, equation_min


def reference_time(day: date, latitude: float, longitude: float, altitude_deg: float, *,
                   morning: bool) -> datetime:
    """When the sun's centre crosses ``altitude_deg`` in the morning or the evening of ``day`` (UTC)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = midnight + timedelta(hours=12 - longitude / 15)
    phi = math.radians(latitude)
    for _ in range(4):  # the sun moves little in a few hours: the fixed point is reached fast
        declination, equation_min = _sun(moment)
        cos_hour_angle = ((math.sin(math.radians(altitude_deg)) - math.sin(phi) * math.sin(declination))
                          / (math.cos(phi) * math.cos(declination)))
        hour_angle_deg = math.degrees(math.acos(cos_hour_angle))
        noon_min = 720 - 4 * longitude - equation_min
        minutes = noon_min - 4 * hour_angle_deg if morning else noon_min + 4 * hour_angle_deg
        moment = midnight + timedelta(minutes=minutes)
    return moment


@pytest.fixture(scope="module")
def calendar() -> Calendar:
    return Calendar(DEFAULT_CITIES)


def _assert_close(city: str, day: date, calendar: Calendar) -> None:
    place = calendar.place(city)
    times = calendar.prayer_times(city, day)
    expected = {
        Prayer.FAJR: reference_time(day, place.latitude, place.longitude, -18, morning=True),
        Prayer.SUNRISE: reference_time(day, place.latitude, place.longitude, -0.833, morning=True),
        Prayer.MAGHRIB: reference_time(day, place.latitude, place.longitude, -0.833, morning=False),
        Prayer.ISHA: reference_time(day, place.latitude, place.longitude, -17, morning=False),
    }
    for prayer, reference in expected.items():
        assert abs(times.at(prayer) - reference) <= TOLERANCE, (city, day, prayer, reference)


@pytest.mark.parametrize("day", [
    date(2026, 3, 1),    # the 12th day of Ramadan 1447 in the Umm al-Qura table
    date(2027, 2, 20),   # the 13th of Ramadan 1448
    date(2026, 6, 21),   # the longest day
    date(2026, 12, 21),  # the shortest
    date(2025, 9, 23),
])
def test_lome_fajr_maghrib_and_isha_match_the_solar_reference_within_two_minutes(
        day: date, calendar: Calendar) -> None:
    _assert_close("lome", day, calendar)


def test_every_third_day_of_2026_in_every_city_is_within_two_minutes_of_the_reference(
        calendar: Calendar) -> None:
    for city in calendar.places:
        for n in range(0, 365, 3):
            _assert_close(city, date(2026, 1, 1) + timedelta(days=n), calendar)


def test_lome_maghrib_on_a_ramadan_day_is_printed_in_lome_time(calendar: Calendar) -> None:
    times = calendar.prayer_times("lome", date(2026, 3, 1))
    assert calendar.ramadan_day("lome", date(2026, 3, 1)) == 12
    assert times.maghrib.tzinfo is not None and str(times.maghrib.tzinfo) == "Africa/Lome"
    assert times.maghrib.utcoffset() == timedelta(0)  # Lomé keeps UTC all year, no summer time
    assert times.maghrib.strftime("%H:%M") == "18:07"
    assert times.maghrib.second == 0  # rounded to the minute, as prayer tables are
    assert [times.at(p) for p in Prayer] == sorted(times.at(p) for p in Prayer)


def test_cotonou_times_are_in_west_africa_time_an_hour_ahead(calendar: Calendar) -> None:
    cotonou = calendar.prayer_times("cotonou", date(2026, 3, 1))
    assert cotonou.maghrib.utcoffset() == timedelta(hours=1)
    # Cotonou is a degree east of Lomé: the sun sets there about four minutes earlier.
    lome = calendar.prayer_times("lome", date(2026, 3, 1))
    assert timedelta(minutes=2) <= lome.maghrib - cotonou.maghrib <= timedelta(minutes=7)
    assert cotonou.maghrib.hour == 19  # 18:0x UTC on the city's clock


def test_lome_is_computed_at_lome() -> None:
    place = Calendar(DEFAULT_CITIES).place("lome")
    assert abs(place.latitude - 6.13) < 0.1 and abs(place.longitude - 1.22) < 0.1


def test_a_city_method_moves_the_times_it_names_and_no_other() -> None:
    day = date(2026, 3, 1)
    plain = Calendar(DEFAULT_CITIES).prayer_times("lome", day)
    tuned = Calendar(DEFAULT_CITIES, prayer={"lome": PrayerMethod(offsets_min={Prayer.MAGHRIB: 3})})
    assert tuned.prayer_times("lome", day).maghrib - plain.maghrib == timedelta(minutes=3)
    assert tuned.prayer_times("lome", day).isha == plain.isha
    assert tuned.prayer_times("kara", day) == Calendar(DEFAULT_CITIES).prayer_times("kara", day)


def test_hanafi_asr_is_later_and_egyptian_fajr_earlier() -> None:
    day = date(2026, 3, 1)
    plain = Calendar(DEFAULT_CITIES).prayer_times("lome", day)
    hanafi = Calendar(DEFAULT_CITIES, prayer={"*": PrayerMethod(madhab="hanafi")}).prayer_times("lome", day)
    egyptian = Calendar(DEFAULT_CITIES, prayer={"*": PrayerMethod(method="egyptian")})
    egyptian_times = egyptian.prayer_times("lome", day)
    assert hanafi.asr - plain.asr > timedelta(minutes=30)
    assert (hanafi.fajr, hanafi.maghrib) == (plain.fajr, plain.maghrib)
    # 19.5° below the horizon comes before 18°.
    assert timedelta(minutes=3) <= plain.fajr - egyptian_times.fajr <= timedelta(minutes=10)


def test_a_method_for_an_unknown_city_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Calendar(DEFAULT_CITIES, prayer={"lomé": PrayerMethod()})
    assert caught.value.code == "configuration_error"
    assert "lomé" in caught.value.message


def test_an_offset_beyond_an_hour_is_refused() -> None:
    with pytest.raises(ValueError, match="beyond"):
        PrayerMethod(offsets_min={Prayer.ISHA: 90})


def test_times_are_computed_once_per_city_and_date(calendar: Calendar) -> None:
    first = calendar.prayer_times("bamako", date(2026, 5, 5))
    assert calendar.prayer_times("bamako", date(2026, 5, 5)) is first
    assert calendar.prayer_times("bamako", date(2026, 5, 6)) is not first
