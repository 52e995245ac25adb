"""The windows a process stored lately (sika.chat.whatsapp.windows): a number that wrote again within
the minute is not written again, anything older or unknown is, and the memory stays bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sika.chat.whatsapp.windows import PRECISION_NS, StoredWindows

MINUTE = PRECISION_NS


def test_a_number_stored_within_the_minute_is_not_due_again() -> None:
    windows = StoredWindows()
    assert windows.due({"+22890000001": 10}) == {"+22890000001": 10}
    windows.stored({"+22890000001": 10})
    assert windows.due({"+22890000001": 10 + MINUTE - 1, "+22890000002": 11}) == {"+22890000002": 11}
    assert windows.due({"+22890000001": 10 + MINUTE}) == {"+22890000001": 10 + MINUTE}


def test_what_was_not_committed_is_not_remembered() -> None:
    windows = StoredWindows()
    due = windows.due({"+22890000001": 10})
    # The transaction rolled back: stored() was never called, so the next message writes again.
    assert windows.due({"+22890000001": 20}) == {"+22890000001": 20}
    assert due == {"+22890000001": 10}


def test_an_older_start_never_moves_the_memory_back() -> None:
    windows = StoredWindows()
    windows.stored({"+22890000001": 5 * MINUTE})
    windows.stored({"+22890000001": MINUTE})
    assert windows.due({"+22890000001": 6 * MINUTE - 1}) == {}


def test_the_least_recently_stored_are_forgotten_first() -> None:
    windows = StoredWindows(kept_max=2)
    windows.stored({"+1": 1})
    windows.stored({"+2": 1})
    windows.stored({"+1": 2})  # +1 is now the most recent
    windows.stored({"+3": 1})
    assert len(windows) == 2
    assert windows.due({"+1": 3, "+2": 3, "+3": 3}) == {"+2": 3}


@given(st.lists(st.tuples(st.sampled_from(["+1", "+2", "+3"]), st.integers(0, 10 * MINUTE)), max_size=40))
def test_a_stored_start_is_never_more_than_the_precision_behind(messages: list[tuple[str, int]]) -> None:
    """Whatever the order the messages come in, what is written lags the latest start by less than
    the precision: the window closes at most a minute early, never late."""
    windows = StoredWindows()
    written: dict[str, int] = {}
    latest: dict[str, int] = {}
    for number, at_ns in messages:
        due = windows.due({number: at_ns})
        for key, value in due.items():
            written[key] = max(written.get(key, value), value)  # the database keeps the greatest
        windows.stored(due)
        latest[number] = max(latest.get(number, at_ns), at_ns)
        assert 0 <= latest[number] - written[number] < MINUTE
