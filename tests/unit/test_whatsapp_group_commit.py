"""The webhook's group commit with fake writes: coroutines and threads share one transaction, each is
answered only once it is committed, and a failed write reaches every caller it concerns."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from sika import group_commit as mechanism
from sika.api.statuses import status_of
from sika.chat.messages import Inbound, InboundKind
from sika.chat.whatsapp.group_commit import GroupCommit, InboxBusy, Notification
from sika.chat.whatsapp.store import Received
from sika.chat.whatsapp.webhook import StatusUpdate

WAIT_S_MAX = 10
T = TypeVar("T")


class FakeStore:
    """Records each write; the first one waits for ``release`` so that a crowd can gather behind it.

    A message whose id starts with ``"old"`` was stored before (not new), so that every caller can
    tell its own results from its neighbours'."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.statuses: list[tuple[list[str], int]] = []
        self.events: list[str] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.failure: BaseException | None = None
        self.status_failure: BaseException | None = None

    def write(self, received: Sequence[Received]) -> list[bool]:
        self.writes.append([item.inbound.message_id for item in received])
        if len(self.writes) == 1:
            self.started.set()
            assert self.release.wait(WAIT_S_MAX)
        if self.failure is not None:
            raise self.failure
        self.events.append("commit")
        return [not item.inbound.message_id.startswith("old") for item in received]

    def apply_statuses(self, statuses: Sequence[StatusUpdate], now_ns: int) -> int:
        self.statuses.append(([status.message_id for status in statuses], now_ns))
        if self.status_failure is not None:
            raise self.status_failure
        return len(statuses)


def received(*ids: str) -> list[Received]:
    return [Received(Inbound("whatsapp", "+22890112233", InboundKind.TEXT, message_id, "bonjour"),
                     sent_at_ns=1, now_ns=2) for message_id in ids]


def status(wamid: str) -> StatusUpdate:
    return StatusUpdate(wamid, "+22890112233", "delivered", 1_700_000_000)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S_MAX
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


async def settle(tasks: Sequence[asyncio.Task[T]]) -> list[T | BaseException]:
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT_S_MAX)


async def queued(committer: GroupCommit, count: int) -> None:
    """Let the event loop run until ``count`` requests wait behind the write in progress."""
    deadline = time.monotonic() + WAIT_S_MAX
    while committer.waiting() < count:
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)


@pytest.fixture
def fake() -> FakeStore:
    return FakeStore()


@pytest.fixture
def committer(fake: FakeStore) -> GroupCommit:
    return GroupCommit(fake.write, fake.apply_statuses, messages_max=10)


def test_a_lone_coroutine_is_written_at_once(fake: FakeStore, committer: GroupCommit) -> None:
    fake.release.set()
    assert asyncio.run(committer.commit_async(received("a", "old-b"), now_ns=5)) == [True, False]
    assert fake.writes == [["a", "old-b"]]


def test_concurrent_coroutines_share_one_transaction_and_are_answered_only_after_its_commit(
        fake: FakeStore, committer: GroupCommit) -> None:
    async def scenario() -> None:
        first = asyncio.create_task(committer.commit_async(received("first"), now_ns=5))
        await asyncio.to_thread(fake.started.wait, WAIT_S_MAX)
        crowd = [asyncio.create_task(committer.commit_async(items, now_ns=5))
                 for items in (received("b1", "old-b2"), received("old-c"), received("d1", "d2"))]
        await queued(committer, 3)
        await asyncio.sleep(0.05)
        # Nobody is answered while the first write has not committed.
        assert not any(task.done() for task in [first, *crowd]) and fake.events == []
        fake.release.set()
        assert await settle([first]) == [[True]]
        assert await settle(crowd) == [[True, False], [False], [True, True]]

    asyncio.run(scenario())
    assert fake.writes == [["first"], ["b1", "old-b2", "old-c", "d1", "d2"]]
    assert fake.events == ["commit", "commit"]


def test_a_failed_write_reaches_every_caller_of_its_group_and_the_next_group_is_written(
        fake: FakeStore, committer: GroupCommit) -> None:
    async def scenario() -> None:
        first = asyncio.create_task(committer.commit_async(received("first"), now_ns=5))
        await asyncio.to_thread(fake.started.wait, WAIT_S_MAX)
        crowd = [asyncio.create_task(committer.commit_async(received(name), now_ns=5)) for name in "bcd"]
        await queued(committer, 3)
        fake.failure = ConnectionError("database went away")
        fake.release.set()
        outcomes = await settle([first, *crowd])
        assert all(isinstance(outcome, ConnectionError) for outcome in outcomes), outcomes
        fake.failure = None
        assert await committer.commit_async(received("e"), now_ns=5) == [True]

    asyncio.run(scenario())
    assert fake.writes == [["first"], ["b", "c", "d"], ["e"]]


def test_threads_and_coroutines_share_a_group(fake: FakeStore, committer: GroupCommit) -> None:
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(committer.commit, received("first"), now_ns=5)
        assert fake.started.wait(WAIT_S_MAX)
        thread = pool.submit(committer.commit, received("t1", "old-t2"), now_ns=5)
        wait_until(lambda: committer.waiting() == 1)

        async def coroutine() -> list[bool]:
            task = asyncio.create_task(committer.commit_async(received("old-c1"), now_ns=5))
            await queued(committer, 2)
            fake.release.set()
            return await asyncio.wait_for(task, WAIT_S_MAX)

        assert asyncio.run(coroutine()) == [False]
        assert first.result(WAIT_S_MAX) == [True]
        assert thread.result(WAIT_S_MAX) == [True, False]
    assert fake.writes == [["first"], ["t1", "old-t2", "old-c1"]]


def test_a_request_that_would_overfill_the_group_waits_for_the_next_one(
        fake: FakeStore, committer: GroupCommit) -> None:
    async def scenario() -> None:
        first = asyncio.create_task(committer.commit_async(received("first"), now_ns=5))
        await asyncio.to_thread(fake.started.wait, WAIT_S_MAX)
        crowd = [asyncio.create_task(committer.commit_async(received(*[f"{name}{n}" for n in range(size)]),
                                                            now_ns=5))
                 for name, size in (("b", 6), ("c", 5), ("d", 4))]
        await queued(committer, 3)
        fake.release.set()
        await settle([first, *crowd])

    asyncio.run(scenario())
    assert [len(write) for write in fake.writes] == [1, 6, 9]


def test_statuses_are_applied_after_the_messages_of_their_notification_with_its_time(
        fake: FakeStore, committer: GroupCommit) -> None:
    fake.release.set()

    async def scenario() -> list[list[bool] | BaseException]:
        return await settle([
            asyncio.create_task(committer.commit_async(received("m1"), [status("w1")], now_ns=7)),
            asyncio.create_task(committer.commit_async((), [status("w2"), status("w3")], now_ns=8)),
        ])

    assert asyncio.run(scenario()) == [[True], []]
    # In order, after the messages; one call a group, timed by its latest notification.
    assert [wamid for wamids, _ in fake.statuses for wamid in wamids] == ["w1", "w2", "w3"]
    assert fake.statuses[-1][1] == 8 and fake.events[0] == "commit"


def test_the_statuses_of_a_group_are_applied_in_one_transaction(fake: FakeStore,
                                                                committer: GroupCommit) -> None:
    async def scenario() -> None:
        first = asyncio.create_task(committer.commit_async(received("first"), now_ns=5))
        await asyncio.to_thread(fake.started.wait, WAIT_S_MAX)
        crowd = [asyncio.create_task(
            committer.commit_async(received(f"m{n}"), [status(f"w{n}")], now_ns=6 + n)) for n in range(3)]
        crowd.append(asyncio.create_task(committer.commit_async((), [status("w9")], now_ns=6)))
        await queued(committer, 4)
        fake.release.set()
        await settle([first, *crowd])

    asyncio.run(scenario())
    assert fake.writes == [["first"], ["m0", "m1", "m2"]]
    assert fake.statuses == [(["w0", "w1", "w2", "w9"], 8)]


def test_a_failed_status_update_reaches_only_callers_with_statuses(fake: FakeStore,
                                                                   committer: GroupCommit) -> None:
    fake.release.set()
    fake.status_failure = ConnectionError("database went away")

    async def scenario() -> list[list[bool] | BaseException]:
        return await settle([
            asyncio.create_task(committer.commit_async(received("m1"), now_ns=7)),
            asyncio.create_task(committer.commit_async(received("m2"), [status("w1")], now_ns=7)),
        ])

    first, second = asyncio.run(scenario())
    assert first == [True] and isinstance(second, ConnectionError)


def test_the_statuses_of_a_notification_whose_messages_failed_are_not_applied(
        fake: FakeStore, committer: GroupCommit) -> None:
    fake.release.set()
    fake.failure = ConnectionError("database went away")
    with pytest.raises(ConnectionError):
        committer.commit(received("m1"), [status("w1")], now_ns=7)
    assert fake.statuses == []
    assert committer.commit((), [status("w2")], now_ns=8) == []  # statuses alone need no messages
    assert fake.statuses == [(["w2"], 8)]


def test_a_caller_that_gives_up_does_not_stop_the_writer(fake: FakeStore, committer: GroupCommit) -> None:
    async def scenario() -> None:
        first = asyncio.create_task(committer.commit_async(received("first"), now_ns=5))
        await asyncio.to_thread(fake.started.wait, WAIT_S_MAX)
        impatient = asyncio.create_task(committer.commit_async(received("gone"), now_ns=5))
        await queued(committer, 1)
        impatient.cancel()
        fake.release.set()
        assert await settle([first]) == [[True]]
        # Its messages are stored all the same (Meta delivers again; the message id keeps it once).
        # (Waited for: else the loop may queue the next caller before the writer gathers again.)
        await asyncio.to_thread(wait_until, lambda: len(fake.writes) == 2)
        assert await committer.commit_async(received("next"), now_ns=5) == [True]

    asyncio.run(scenario())
    assert fake.writes == [["first"], ["gone"], ["next"]]


def test_callers_of_a_closed_event_loop_are_skipped(fake: FakeStore, committer: GroupCommit) -> None:
    fake.release.set()
    loop = asyncio.new_event_loop()
    orphan: asyncio.Future[None] = loop.create_future()
    loop.close()

    committer._commit.enqueue(mechanism.Request(Notification(received("orphan"), (), 5), orphan))
    wait_until(lambda: fake.writes == [["orphan"]] and committer.waiting() == 0)
    assert committer.commit(received("next"), now_ns=5) == [True]
    assert fake.writes == [["orphan"], ["next"]]


def test_the_writer_thread_ends_once_idle_and_the_next_caller_starts_another(fake: FakeStore) -> None:
    fake.release.set()
    committer = GroupCommit(fake.write, fake.apply_statuses, idle_s=0.01)

    def writers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "whatsapp-inbox" and t.is_alive()]

    assert committer.commit(received("a"), now_ns=5) == [True]
    wait_until(lambda: not writers())
    assert asyncio.run(committer.commit_async(received("b"), now_ns=5)) == [True]
    assert committer.commit(received("c"), now_ns=5) == [True]
    assert fake.writes == [["a"], ["b"], ["c"]]


def test_a_writer_that_dies_refuses_its_callers_and_the_next_caller_starts_another(
        fake: FakeStore, committer: GroupCommit, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    fake.release.set()
    wake = mechanism._wake
    calls = []

    def wake_once_broken(group: Sequence[object], *, guarded: bool = False) -> None:
        calls.append(len(group))
        if len(calls) == 1:
            raise MemoryError("no memory to wake the callers")
        wake(group, guarded=guarded)  # type: ignore[arg-type]

    monkeypatch.setattr(mechanism, "_wake", wake_once_broken)
    with pytest.raises(MemoryError):
        committer.commit(received("m1"), now_ns=5)
    assert committer.commit(received("m2"), now_ns=6) == [True]  # a new writer
    assert fake.writes == [["m1"], ["m2"]] and "writer stopped" in caplog.text


def test_a_full_queue_refuses_a_notification_at_once_and_takes_it_once_the_writer_caught_up(
        fake: FakeStore) -> None:
    committer = GroupCommit(fake.write, fake.apply_statuses, messages_max=2, queued_max=3)

    async def scenario() -> None:
        first = asyncio.create_task(committer.commit_async(received("first"), now_ns=5))
        await asyncio.to_thread(fake.started.wait, WAIT_S_MAX)
        waiting = asyncio.create_task(committer.commit_async(received("b", "c"), [status("w")], now_ns=5))
        await queued(committer, 1)  # three writes wait: the queue is full
        with pytest.raises(InboxBusy) as refused:
            await committer.commit_async(received("d"), now_ns=5)
        assert refused.value.code == "whatsapp_inbox_busy" and status_of(refused.value) == 503
        with pytest.raises(InboxBusy):
            committer.commit((), [status("x")], now_ns=5)  # a thread is refused alike, statuses too
        fake.release.set()
        assert await settle([first, waiting]) == [[True], [True, True]]
        assert await committer.commit_async(received("d"), now_ns=5) == [True]  # Meta's redelivery

    asyncio.run(scenario())
    assert fake.writes == [["first"], ["b", "c"], ["d"]]
    assert [wamids for wamids, _ in fake.statuses] == [["w"]]  # the refused status was never applied


def test_a_notification_bigger_than_the_queue_is_taken_when_nothing_waits(fake: FakeStore) -> None:
    fake.release.set()
    committer = GroupCommit(fake.write, fake.apply_statuses, messages_max=2, queued_max=2)
    assert committer.commit(received("a", "b", "c"), now_ns=5) == [True, True, True]


def test_a_thread_waits_for_its_group_no_longer_than_the_limit_and_the_write_still_lands(
        fake: FakeStore) -> None:
    committer = GroupCommit(fake.write, fake.apply_statuses, wait_s=0.05)
    with pytest.raises(InboxBusy) as late:
        committer.commit(received("slow"), now_ns=5)  # the write is held until released below
    assert late.value.code == "whatsapp_inbox_busy" and "within 0.05 s" in late.value.message
    fake.release.set()
    wait_until(lambda: fake.events == ["commit"])
    assert committer.commit(received("old-slow"), now_ns=5) == [False]  # the redelivery finds it stored
    assert fake.writes == [["slow"], ["old-slow"]]


def test_a_coroutine_waits_for_its_group_no_longer_than_the_limit(fake: FakeStore) -> None:
    committer = GroupCommit(fake.write, fake.apply_statuses, wait_s=0.05)

    async def scenario() -> None:
        with pytest.raises(InboxBusy):
            await committer.commit_async(received("slow"), now_ns=5)
        fake.release.set()
        assert await committer.commit_async(received("next"), now_ns=5) == [True]

    asyncio.run(scenario())
    assert fake.writes == [["slow"], ["next"]]
