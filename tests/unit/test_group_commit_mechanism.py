"""The one group-commit mechanism (sika.group_commit) with a fake run: bounds, timeouts, errors, keys.

The ledger's and the webhook's own tests (test_group_commit.py, test_whatsapp_group_commit.py) cover
what each builds on it; these pin what both rely on."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from sika.errors import SikaError
from sika.group_commit import GroupCommit, Request
from sika.ledger.errors import LedgerBusy

WAIT_S_MAX = 10


class FakeRun:
    """Answers each payload with itself upper-cased; a payload named in ``holding`` waits for
    ``release`` once it runs, so that a crowd can gather behind it. Records the groups, and the keys
    of the groups running at each moment."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.holding = {"first"}
        self.failure: BaseException | None = None
        self.running: list[set[object]] = []
        self.overlaps: list[set[object]] = []
        self.exits: list[tuple[int, str]] = []
        self.dwell_s = 0.0  # how long each group takes
        self._lock = threading.Lock()

    def __call__(self, group: Sequence[Request[str, str]], lane: int) -> None:
        keys = {key for request in group for key in request.keys or ()}
        with self._lock:
            self.groups.append([request.payload for request in group])
            for other in self.running:
                if other & keys:
                    self.overlaps.append(other & keys)
            self.running.append(keys)
        try:
            if self.holding & {request.payload for request in group}:
                self.started.set()
                assert self.release.wait(WAIT_S_MAX)
            if self.failure is not None:
                raise self.failure
            time.sleep(self.dwell_s)
            for request in group:
                request.result = request.payload.upper()
        finally:
            with self._lock:
                self.running.remove(keys)

    def on_exit(self, lane: int) -> None:
        self.exits.append((lane, threading.current_thread().name))


def mechanism(run: FakeRun, **options: object) -> GroupCommit[str, str]:
    settings: dict[str, object] = {"name": "test-commit", "busy": LedgerBusy, "group_max": 10,
                                   "queued_max": 100, "wait_s": WAIT_S_MAX}
    settings.update(options)
    return GroupCommit(run, **settings)  # type: ignore[arg-type]


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S_MAX
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@pytest.fixture
def run() -> FakeRun:
    return FakeRun()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        yield executor


def held(committer: GroupCommit[str, str], run: FakeRun, pool: ThreadPoolExecutor,
         **options: object) -> Future[str]:
    """A first request that holds the lane until ``run.release`` is set."""
    first = pool.submit(committer.submit, "first", **options)  # type: ignore[arg-type]
    assert run.started.wait(WAIT_S_MAX)
    return first


def test_a_full_queue_refuses_a_request_at_once_with_the_users_error_and_takes_it_once_drained(
        run: FakeRun, pool: ThreadPoolExecutor) -> None:
    committer = mechanism(run, queued_max=3, group_max=3)
    try:
        first = held(committer, run, pool)
        queued = pool.submit(committer.submit, "b", size=3)
        wait_until(lambda: committer.waiting() == 1)

        with pytest.raises(LedgerBusy) as refused:
            committer.submit("c")
        assert isinstance(refused.value, SikaError) and refused.value.code == "ledger_busy"
        assert "3 waiting already, at most 3" in refused.value.message
        run.release.set()
        assert (first.result(WAIT_S_MAX), queued.result(WAIT_S_MAX)) == ("FIRST", "B")
        assert committer.submit("c") == "C"
    finally:
        committer.close()
    assert run.groups == [["first"], ["b"], ["c"]]  # the refused request was never run


def test_a_thread_that_waits_too_long_gets_the_users_error_and_its_request_still_runs(
        run: FakeRun) -> None:
    run.holding = {"slow"}
    committer = mechanism(run, wait_s=0.05)
    try:
        with pytest.raises(LedgerBusy) as late:
            committer.submit("slow")
        assert late.value.code == "ledger_busy" and "within 0.05 s" in late.value.message
        run.release.set()
        assert committer.submit("next") == "NEXT"
    finally:
        committer.close()
    assert run.groups == [["slow"], ["next"]]


def test_a_coroutine_that_waits_too_long_gets_the_users_error(run: FakeRun) -> None:
    run.holding = {"slow"}
    committer = mechanism(run, wait_s=0.05)

    async def scenario() -> None:
        with pytest.raises(LedgerBusy) as late:
            await committer.submit_async("slow")
        assert late.value.code == "ledger_busy"
        run.release.set()
        assert await committer.submit_async("next") == "NEXT"

    try:
        asyncio.run(scenario())
    finally:
        committer.close()


def test_a_failing_group_fails_every_caller_in_it_and_the_next_group_proceeds(
        run: FakeRun, pool: ThreadPoolExecutor) -> None:
    committer = mechanism(run)
    try:
        first = held(committer, run, pool)
        crowd = [pool.submit(committer.submit, name) for name in "bcd"]
        wait_until(lambda: committer.waiting() == 3)
        run.failure = ConnectionError("database went away")
        run.release.set()
        for future in [first, *crowd]:
            assert isinstance(future.exception(WAIT_S_MAX), ConnectionError)
        run.failure = None
        assert committer.submit("e") == "E"
    finally:
        committer.close()
    assert run.groups == [["first"], ["b", "c", "d"], ["e"]]


def test_a_group_holds_at_most_its_maximum_and_a_bigger_request_goes_alone(
        run: FakeRun, pool: ThreadPoolExecutor) -> None:
    committer = mechanism(run, group_max=4)
    try:
        held(committer, run, pool)
        crowd = []
        for position, (name, size) in enumerate((("big", 6), ("b", 2), ("c", 2), ("d", 1)), start=1):
            crowd.append(pool.submit(committer.submit, name, size=size))
            wait_until(lambda n=position: committer.waiting() == n)  # type: ignore[misc]
        run.release.set()
        assert [future.result(WAIT_S_MAX) for future in crowd] == ["BIG", "B", "C", "D"]
    finally:
        committer.close()
    assert run.groups == [["first"], ["big"], ["b", "c"], ["d"]]


def test_conflict_keys_keep_two_groups_off_the_same_key_and_let_others_run_beside(
        run: FakeRun, pool: ThreadPoolExecutor) -> None:
    committer = mechanism(run, lanes=2, group_max=1)
    try:
        first = held(committer, run, pool, keys={1, 2})
        same_key = pool.submit(committer.submit, "shares-2", keys={2, 3})
        wait_until(lambda: committer.waiting() == 1)
        elsewhere = pool.submit(committer.submit, "elsewhere", keys={4})

        assert elsewhere.result(WAIT_S_MAX) == "ELSEWHERE"  # ran beside the group in flight
        assert not same_key.done() and committer.waiting() == 1
        run.release.set()
        assert (first.result(WAIT_S_MAX), same_key.result(WAIT_S_MAX)) == ("FIRST", "SHARES-2")
    finally:
        committer.close()
    assert run.groups == [["first"], ["elsewhere"], ["shares-2"]]
    assert run.overlaps == []


def test_many_callers_on_few_keys_never_run_two_groups_on_one_key_at_once(run: FakeRun) -> None:
    run.release.set()
    run.dwell_s = 0.001
    committer = mechanism(run, lanes=4, group_max=3)
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(committer.submit, f"r{n}", keys={n % 5, (n + 1) % 5})
                       for n in range(400)]
            assert [future.result(WAIT_S_MAX) for future in futures] == [f"R{n}" for n in range(400)]
    finally:
        committer.close()
    assert sum(len(group) for group in run.groups) == 400
    assert run.overlaps == []


def test_threads_and_coroutines_share_a_group(run: FakeRun, pool: ThreadPoolExecutor) -> None:
    committer = mechanism(run)
    try:
        first = held(committer, run, pool)
        thread = pool.submit(committer.submit, "thread")
        wait_until(lambda: committer.waiting() == 1)

        async def coroutine() -> str:
            task = asyncio.create_task(committer.submit_async("coroutine"))
            while committer.waiting() < 2:
                await asyncio.sleep(0.001)
            run.release.set()
            return await asyncio.wait_for(task, WAIT_S_MAX)

        assert asyncio.run(coroutine()) == "COROUTINE"
        assert (first.result(WAIT_S_MAX), thread.result(WAIT_S_MAX)) == ("FIRST", "THREAD")
    finally:
        committer.close()
    assert run.groups == [["first"], ["thread", "coroutine"]]


def test_an_idle_lane_ends_on_its_own_thread_and_the_next_request_starts_it_again(run: FakeRun) -> None:
    run.release.set()
    committer = mechanism(run, idle_s=0.01, on_exit=run.on_exit)
    assert committer.submit("a") == "A"
    wait_until(lambda: run.exits == [(0, "test-commit")])
    assert not any(thread.is_alive() for thread in committer.threads())
    assert committer.submit("b") == "B"
    wait_until(lambda: len(run.exits) == 2)
    assert run.exits == [(0, "test-commit")] * 2 and run.groups == [["a"], ["b"]]


def test_a_lane_whose_release_fails_is_not_lost_and_the_next_request_is_answered(run: FakeRun) -> None:
    run.release.set()

    def failing_exit(lane: int) -> None:
        run.on_exit(lane)
        raise OSError("closing the connection failed")

    committer = mechanism(run, idle_s=0.01, on_exit=failing_exit)
    assert committer.submit("a") == "A"
    wait_until(lambda: len(run.exits) == 1 and not any(t.is_alive() for t in committer.threads()))
    assert committer.submit("b") == "B"  # a new lane starts: the one whose release failed was put back


def test_close_runs_what_waits_then_refuses(run: FakeRun, pool: ThreadPoolExecutor) -> None:
    committer = mechanism(run, on_exit=run.on_exit)
    first = held(committer, run, pool)
    queued = pool.submit(committer.submit, "b")
    wait_until(lambda: committer.waiting() == 1)
    closing = pool.submit(committer.close)
    wait_until(lambda: committer.closed)
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit("late")

    run.release.set()
    closing.result(WAIT_S_MAX)
    assert (first.result(WAIT_S_MAX), queued.result(WAIT_S_MAX)) == ("FIRST", "B")
    assert run.groups == [["first"], ["b"]] and run.exits == [(0, "test-commit")]


def test_after_a_group_of_several_the_lane_lingers_for_as_many_and_after_a_lone_one_never(
        run: FakeRun, pool: ThreadPoolExecutor) -> None:
    committer = mechanism(run, linger_s=WAIT_S_MAX)  # long: only the grouping can end a linger here
    try:
        held(committer, run, pool)
        crowd = [pool.submit(committer.submit, name) for name in "bc"]
        wait_until(lambda: committer.waiting() == 2)
        run.release.set()
        assert [future.result(WAIT_S_MAX) for future in crowd] == ["B", "C"]
        # The two just answered come back one after the other: the lane waits for the second.
        back = [pool.submit(committer.submit, "d")]
        time.sleep(0.05)  # without the linger, d would have gone alone by now
        back.append(pool.submit(committer.submit, "e"))
        assert [future.result(WAIT_S_MAX) for future in back] == ["D", "E"]
    finally:
        committer.close()
    assert run.groups == [["first"], ["b", "c"], ["d", "e"]]
    alone = FakeRun()
    alone.holding = set()
    committer = mechanism(alone, linger_s=WAIT_S_MAX)
    try:
        assert committer.submit("f") == "F"
        started = time.monotonic()
        assert committer.submit("g") == "G"  # after a lone caller: written at once, no linger
        assert time.monotonic() - started < WAIT_S_MAX / 2
    finally:
        committer.close()
    assert alone.groups == [["f"], ["g"]]
