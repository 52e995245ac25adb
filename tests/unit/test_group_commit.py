"""The group committer with a fake batch runner: segments, carry-over, failures and shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from sika.ledger.group_commit import GroupCommitter
from sika.ledger.model import Transfer, TransferResult

WAIT_S_MAX = 10


class FakeRun:
    """Records every batch; the first one waits for ``release`` so that a crowd can gather behind it.

    A transfer whose id starts with ``"no"`` gets ``exceeds_credits``, so that every caller can tell
    its own results from its neighbours'.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[int]]] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.failure: BaseException | None = None

    def calls_ids(self) -> list[str]:
        return [i for ids, _ in self.calls for i in ids]

    def __call__(
        self, transfers: list[Transfer], segments: list[int], lane: int = 0
    ) -> list[TransferResult]:
        self.calls.append(([t.id for t in transfers], list(segments)))
        if len(self.calls) == 1:
            self.started.set()
            assert self.release.wait(WAIT_S_MAX)
        if self.failure is not None and len(self.calls) > 1:
            raise self.failure
        return [
            TransferResult.EXCEEDS_CREDITS if t.id.startswith("no") else TransferResult.OK
            for t in transfers
        ]


def request(*ids: str) -> list[Transfer]:
    return [Transfer(id=i, debit_account_id=1, credit_account_id=2, amount=1) for i in ids]


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


def start_crowd(
    committer: GroupCommitter, run: FakeRun, pool: ThreadPoolExecutor,
    requests: Sequence[list[Transfer]],
) -> tuple[Future[list[TransferResult]], list[Future[list[TransferResult]]]]:
    """Submit a first request that holds the writer, then queue ``requests`` behind it in order."""
    first = pool.submit(committer.submit, request("first"))
    assert run.started.wait(WAIT_S_MAX)
    crowd = []
    for position, transfers in enumerate(requests, start=1):
        crowd.append(pool.submit(committer.submit, transfers))
        # The queue is the committer's own; waiting on it keeps the crowd's order deterministic.
        wait_until(lambda n=position: committer.waiting() == n)
    return first, crowd


def test_a_lone_request_runs_as_one_segment(run: FakeRun) -> None:
    run.release.set()
    committer = GroupCommitter(run, group_max=10)
    try:
        assert committer.submit(request("a", "no-b")) == [
            TransferResult.OK, TransferResult.EXCEEDS_CREDITS,
        ]
    finally:
        committer.close()

    assert run.calls == [(["a", "no-b"], [2])]


def test_waiting_requests_share_one_batch_each_as_its_own_segment(
    run: FakeRun, pool: ThreadPoolExecutor
) -> None:
    committer = GroupCommitter(run, group_max=10)
    try:
        first, crowd = start_crowd(
            committer, run, pool, [request("b1", "no-b2"), request("no-c1"), request("d1", "d2")]
        )
        run.release.set()

        assert first.result(WAIT_S_MAX) == [TransferResult.OK]
        assert [f.result(WAIT_S_MAX) for f in crowd] == [
            [TransferResult.OK, TransferResult.EXCEEDS_CREDITS],
            [TransferResult.EXCEEDS_CREDITS],
            [TransferResult.OK, TransferResult.OK],
        ]
    finally:
        committer.close()

    assert run.calls == [
        (["first"], [1]),
        (["b1", "no-b2", "no-c1", "d1", "d2"], [2, 1, 2]),
    ]


def test_a_request_that_would_overfill_the_group_waits_for_the_next_one(
    run: FakeRun, pool: ThreadPoolExecutor
) -> None:
    committer = GroupCommitter(run, group_max=4)
    try:
        first, crowd = start_crowd(
            committer, run, pool,
            [request("b1", "b2", "b3"), request("c1", "c2"), request("d1"), request("e1")],
        )
        run.release.set()

        assert first.result(WAIT_S_MAX) == [TransferResult.OK]
        assert [len(f.result(WAIT_S_MAX)) for f in crowd] == [3, 2, 1, 1]
    finally:
        committer.close()

    assert run.calls == [
        (["first"], [1]),
        (["b1", "b2", "b3"], [3]),
        (["c1", "c2", "d1", "e1"], [2, 1, 1]),
    ]


def test_a_group_fills_up_to_exactly_its_maximum(run: FakeRun, pool: ThreadPoolExecutor) -> None:
    committer = GroupCommitter(run, group_max=3)
    try:
        _, crowd = start_crowd(
            committer, run, pool, [request("b1", "b2"), request("c1"), request("d1")]
        )
        run.release.set()
        for future in crowd:
            future.result(WAIT_S_MAX)
    finally:
        committer.close()

    assert run.calls[1:] == [(["b1", "b2", "c1"], [2, 1]), (["d1"], [1])]


def test_a_failed_batch_raises_in_every_request_of_the_group(
    run: FakeRun, pool: ThreadPoolExecutor
) -> None:
    run.failure = ConnectionError("database went away")
    committer = GroupCommitter(run, group_max=10)
    try:
        first, crowd = start_crowd(committer, run, pool, [request("b"), request("c", "d")])
        run.release.set()

        assert first.result(WAIT_S_MAX) == [TransferResult.OK]
        for future in crowd:
            assert isinstance(future.exception(WAIT_S_MAX), ConnectionError)
        run.failure = None
        assert committer.submit(request("e")) == [TransferResult.OK]
    finally:
        committer.close()


def test_an_empty_request_returns_at_once_without_a_batch(run: FakeRun) -> None:
    committer = GroupCommitter(run, group_max=10)
    try:
        assert committer.submit([]) == []
    finally:
        committer.close()

    assert run.calls == []


def test_a_request_larger_than_a_group_is_refused(run: FakeRun) -> None:
    committer = GroupCommitter(run, group_max=2)
    try:
        with pytest.raises(ValueError, match="at most"):
            committer.submit(request("a", "b", "c"))
    finally:
        committer.close()

    assert run.calls == []


def test_close_stops_the_writer_thread(run: FakeRun) -> None:
    run.release.set()
    committer = GroupCommitter(run, group_max=10)
    committer.submit(request("a"))
    threads = committer.threads()
    assert threads and all(thread.is_alive() for thread in threads)

    committer.close()
    committer.close()

    # This committer's own thread: other tests' ledgers may still have theirs running.
    assert not any(thread.is_alive() for thread in threads)
    with pytest.raises(RuntimeError):
        committer.submit(request("b"))


def test_close_lets_the_requests_queued_before_it_finish(
    run: FakeRun, pool: ThreadPoolExecutor
) -> None:
    committer = GroupCommitter(run, group_max=10)
    first, crowd = start_crowd(committer, run, pool, [request("b"), request("no-c")])
    closing = pool.submit(committer.close)
    wait_until(lambda: committer.closed)

    run.release.set()
    closing.result(WAIT_S_MAX)

    assert first.result(WAIT_S_MAX) == [TransferResult.OK]
    assert [f.result(WAIT_S_MAX) for f in crowd] == [
        [TransferResult.OK], [TransferResult.EXCEEDS_CREDITS],
    ]
    assert run.calls[1:] == [(["b", "no-c"], [1, 1])]


def test_requests_racing_with_close_are_each_answered_rather_than_left_waiting(
    run: FakeRun,
) -> None:
    run.release.set()
    committer = GroupCommitter(run, group_max=10, lanes=2)
    answers: list[object] = []
    start_line = threading.Barrier(9)

    def submit(index: int) -> None:
        start_line.wait()
        for attempt in range(50):
            try:
                answers.append(committer.submit(request(f"r{index}-{attempt}")))
            except RuntimeError as exc:
                answers.append(exc)
                return

    # Daemon threads: if a request is never answered, they must not hold the test run open.
    submitters = [threading.Thread(target=submit, args=(i,), daemon=True) for i in range(8)]
    for thread in submitters:
        thread.start()
    start_line.wait()
    time.sleep(0.01)
    committer.close()
    for thread in submitters:
        thread.join(timeout=WAIT_S_MAX)
        assert not thread.is_alive(), "a request was left waiting"
    # Either answer is sound: refused because the committer closed, or run. Silence is not.
    refused = [a for a in answers if isinstance(a, RuntimeError)]
    assert len(refused) <= 8
    assert all(a == [TransferResult.OK] for a in answers if not isinstance(a, RuntimeError))
    assert len(answers) - len(refused) == len(run.calls_ids())


def between(tid: str, debit: int, credit: int) -> list[Transfer]:
    return [Transfer(id=tid, debit_account_id=debit, credit_account_id=credit, amount=1)]


def test_with_two_lanes_a_request_on_other_accounts_runs_beside_a_group_in_flight(
    run: FakeRun, pool: ThreadPoolExecutor
) -> None:
    committer = GroupCommitter(run, group_max=10, lanes=2)
    try:
        first = pool.submit(committer.submit, between("first", 1, 2))
        assert run.started.wait(WAIT_S_MAX)
        same_account = pool.submit(committer.submit, between("shares-1", 1, 3))
        wait_until(lambda: committer.waiting() == 1)
        elsewhere = pool.submit(committer.submit, between("elsewhere", 4, 5))

        assert elsewhere.result(WAIT_S_MAX) == [TransferResult.OK]
        assert not same_account.done(), "it ran while a group on its account was in flight"
        assert committer.waiting() == 1
        run.release.set()
        assert first.result(WAIT_S_MAX) == [TransferResult.OK]
        assert same_account.result(WAIT_S_MAX) == [TransferResult.OK]
    finally:
        committer.close()

    assert [ids for ids, _ in run.calls] == [["first"], ["elsewhere"], ["shares-1"]]


def test_a_request_kept_back_by_a_busy_account_goes_before_later_ones(
    run: FakeRun, pool: ThreadPoolExecutor
) -> None:
    committer = GroupCommitter(run, group_max=1, lanes=2)
    try:
        first = pool.submit(committer.submit, between("first", 1, 2))
        assert run.started.wait(WAIT_S_MAX)
        kept = pool.submit(committer.submit, between("kept", 2, 3))
        wait_until(lambda: committer.waiting() == 1)
        later = pool.submit(committer.submit, between("later", 2, 5))
        wait_until(lambda: committer.waiting() == 2)
        run.release.set()
        for future in (first, kept, later):
            assert future.result(WAIT_S_MAX) == [TransferResult.OK]
    finally:
        committer.close()

    assert [ids for ids, _ in run.calls] == [["first"], ["kept"], ["later"]]
