"""Property: ``next_change`` and ``contains`` tell the same story, for any windows, city and instant.

If ``contains(t)`` is open, the next change closes the union: everything from t to it is open and
the change itself is closed; if shut, the next change opens it. Cities include two with summer time
(Madrid; Casablanca, which leaves UTC+1 during Ramadan) so that zone changes are crossed too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calendar_support import calendar_with_summer_time
from hypothesis import given, settings
from hypothesis import strategies as st

from sika.calendar import Anchor, Prayer, Window, windows_json
from sika.calendar.windows import ANCHOR_OFFSET_MIN_MAX, WEEKDAYS, parse_windows

CALENDAR = calendar_with_summer_time()
CITIES = ["lome", "cotonou", "bamako", "casablanca", "madrid"]

fixed = st.builds(Anchor, minute=st.integers(0, 24 * 60))
relative = st.builds(Anchor, prayer=st.sampled_from(list(Prayer)),
                     offset_min=st.integers(-ANCHOR_OFFSET_MIN_MAX, ANCHOR_OFFSET_MIN_MAX))
# Mostly small offsets, as windows are written; sometimes anything.
usual = st.builds(Anchor, prayer=st.sampled_from(list(Prayer)), offset_min=st.integers(-60, 60))
anchors = st.one_of(fixed, usual, relative)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start, end = draw(anchors), draw(anchors)
    if start == end:
        end = Anchor(minute=(start.minute + 1) % 1441) if start.minute is not None else Anchor(minute=0)
    weekdays = draw(st.one_of(st.none(), st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7,
                                                  unique=True).map(tuple)))
    days = draw(st.sampled_from(["every_day", "ramadan", "outside_ramadan"]))
    return Window(start=start, end=end, days=days, weekdays=weekdays)


instants = st.datetimes(min_value=datetime(2025, 6, 1), max_value=datetime(2028, 6, 1),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(st.lists(windows(), min_size=1, max_size=3), st.sampled_from(CITIES), instants,
       st.lists(st.floats(0, 1, exclude_max=True), min_size=3, max_size=3))
def test_next_change_is_where_contains_changes(chosen: list[Window], city: str, instant: datetime,
                                               fractions: list[float]) -> None:
    schedule = CALENDAR.schedule(chosen, city)
    inside = schedule.contains(instant)
    change = schedule.next_change(instant)
    if change is None:  # nothing changes within the horizon: spot checks over a month agree
        for fraction in fractions:
            assert schedule.contains(instant + timedelta(days=30 * fraction)) == inside
        return
    assert change.at > instant
    assert change.opens == (not inside)
    assert schedule.contains(change.at) == change.opens
    assert schedule.contains(change.at - timedelta(microseconds=1)) == inside
    span_us = (change.at - instant) // timedelta(microseconds=1)
    for fraction in fractions:  # whole microseconds: timedelta * float rounds up to the edge itself
        assert schedule.contains(instant + timedelta(microseconds=int(span_us * fraction))) == inside
    edges = {str(w.start) for w in chosen} if change.opens else {str(w.end) for w in chosen}
    assert str(change.anchor) in edges
    assert change.at.tzinfo == schedule.place.zone


@settings(max_examples=200, deadline=None)
@given(st.lists(windows(), min_size=1, max_size=4))
def test_windows_survive_their_json(chosen: list[Window]) -> None:
    assert parse_windows(windows_json(chosen)) == tuple(chosen)
