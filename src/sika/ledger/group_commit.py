"""The ledger's group commit: concurrent ``submit`` calls share one database transaction and one fsync.

The mechanism is :mod:`sika.group_commit`'s; what the ledger adds is what a group is. A request is one
caller's transfers, its size their number (a group holds at most ``group_max`` transfers), its
conflict keys the accounts it touches. A group runs as one batch, each request a segment of its own so
that results and linked chains stay per request.

After a commit that answered several callers a lane waits at most half a millisecond for them to
come back, so a lone request pays no added latency and a crowd shares the cost of a commit. With
several lanes (PostgreSQL), groups run side by side: a lane only takes requests whose accounts no
group in flight touches, so groups running together never wait on each other's row locks, and each
sees the accounts as the previous commits left them. A request skipped for that reason keeps its
place; with one lane the order is strictly first come, first served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from sika.group_commit import LANES_MAX, GroupCommit, Request
from sika.ledger.engine import referenced_account_ids
from sika.ledger.errors import LedgerBusy
from sika.ledger.model import Transfer, TransferResult

__all__ = ["LANES_MAX", "QUEUED_MAX", "WAIT_S", "GroupCommitter"]

# run(transfers, segments, lane) -> one result per transfer
RunBatch = Callable[[list[Transfer], list[int], int], list[TransferResult]]
# Transfers that may wait for a lane: dozens of the largest requests (8,190 transfers), a few hundred
# megabytes at worst. Beyond, a request is refused with ledger_busy rather than queued.
QUEUED_MAX = 32 * 8_190
# Longest a caller waits for its group: far above a group's time, retries included, on a healthy
# database. A caller that gives up gets ledger_busy; its transfers may still commit, and a retry with
# the same transfer ids finds them (``exists``) rather than moving money twice.
WAIT_S = 60.0
# Longest a group waits for callers it just answered: a fraction of one commit's fsync.
_LINGER_S_MAX = 0.0005

_Group = Sequence[Request[Sequence[Transfer], list[TransferResult]]]


class GroupCommitter:
    def __init__(
        self,
        run: RunBatch,
        *,
        group_max: int,
        lanes: int = 1,
        on_close: Callable[[int], None] | None = None,
        queued_max: int = QUEUED_MAX,
        wait_s: float = WAIT_S,
    ) -> None:
        self._run = run
        self._group_max = group_max
        self._commit: GroupCommit[Sequence[Transfer], list[TransferResult]] = GroupCommit(
            self._run_group, name="ledger-group-commit", busy=LedgerBusy, group_max=group_max,
            queued_max=max(queued_max, group_max), wait_s=wait_s, lanes=lanes,
            linger_s=_LINGER_S_MAX, on_exit=on_close,
        )

    def submit(self, transfers: Sequence[Transfer]) -> list[TransferResult]:
        if not transfers:
            return []
        if len(transfers) > self._group_max:
            raise ValueError(f"a request holds at most {self._group_max} transfers")
        return self._commit.submit(transfers, size=len(transfers), keys=referenced_account_ids(transfers))

    @property
    def closed(self) -> bool:
        return self._commit.closed

    def waiting(self) -> int:
        """Requests queued and not yet taken by a lane."""
        return self._commit.waiting()

    def threads(self) -> list[threading.Thread]:
        return self._commit.threads()

    def close(self) -> None:
        """Run what is queued, then stop every lane (idempotent)."""
        self._commit.close()

    def _run_group(self, group: _Group, lane: int) -> None:
        """One batch for the group, a segment a request; each request gets its segment's results."""
        transfers = [t for request in group for t in request.payload]
        segments = [request.size for request in group]
        results = self._run(transfers, segments, lane)
        assert len(results) == len(transfers), (len(results), len(transfers))
        start = 0
        for request, length in zip(group, segments, strict=True):
            request.result = results[start : start + length]
            start += length
