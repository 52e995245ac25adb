"""The accounts as this process last wrote or locked them: a guess that saves PostgreSQL reads.

A batch whose accounts are all here can skip reading them: the rules run on these rows, and the
single statement that writes the batch also checks, under the accounts' locks, that every one of
them still holds exactly these values (see ``postgres_batches``). A wrong guess therefore costs a
rolled-back statement, never a wrong result. Bounded: past ``size_max`` the oldest entries go.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable

from sika.ledger.rows import AccountRow

__all__ = ["ACCOUNTS_CACHED_MAX", "AccountCache"]

# About 200 bytes a row: 100,000 accounts are some 20 MB, the busy wallets of a large city.
ACCOUNTS_CACHED_MAX = 100_000


class AccountCache:
    """Account rows by id. Safe to share between threads; never a source of truth."""

    def __init__(self, size_max: int = ACCOUNTS_CACHED_MAX) -> None:
        assert size_max > 0
        self._rows: dict[int, AccountRow] = {}
        self._size_max = size_max
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self, account_ids: Iterable[int]) -> dict[int, AccountRow] | None:
        """The rows of every account asked for, or None if any is missing."""
        found: dict[int, AccountRow] = {}
        rows = self._rows
        for account_id in account_ids:
            row = rows.get(account_id)
            if row is None:
                return None
            found[account_id] = row
        return found

    def store(self, rows: Iterable[AccountRow]) -> None:
        with self._lock:
            for row in rows:
                # Re-inserted at the end, so that the oldest entries are the least recently written.
                self._rows.pop(row[0], None)
                self._rows[row[0]] = row
            excess = len(self._rows) - self._size_max
            if excess > 0:
                for account_id in list(itertools.islice(self._rows, excess)):
                    del self._rows[account_id]

    def forget(self, account_ids: Iterable[int]) -> None:
        with self._lock:
            for account_id in account_ids:
                self._rows.pop(account_id, None)
