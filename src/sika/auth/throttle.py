"""Failed logins counted per source (a client address) in fixed windows.

A wallet's own count locks its login after a few wrong PINs; this one stops a single source from
trying many numbers (guessing PINs, or locking other people's logins on purpose), whatever the numbers.
A source over the limit is refused before any PIN is checked, so its tries count against nobody.
Counts live in the database, so that every process of a deployment shares them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sika.auth.schema import login_throttle
from sika.db import writing
from sika.errors import SikaError

__all__ = ["LoginThrottle", "TooManyAttempts"]

_NS_PER_S = 1_000_000_000
# Addresses not limited per source: the machine itself (its operators' tools, or a local proxy that
# passes no client address; uvicorn reads X-Forwarded-For from a proxy on 127.0.0.1). Per-wallet
# locks still hold for them. SIKA_LOGIN_THROTTLE_EXEMPT changes the list.
LOOPBACK = ("127.0.0.1", "::1")
BUCKET_CHARS_MAX = 80


class TooManyAttempts(SikaError):
    code = "too_many_attempts"

    def __init__(self, locked_until_ns: int) -> None:
        super().__init__("too many failed logins from this address: wait before trying again")
        self.locked_until_ns = locked_until_ns


class LoginThrottle:
    def __init__(self, engine: Engine, *, failures_max: int = 10, window_s: int = 900,
                 exempt: Collection[str] = LOOPBACK, clock_ns: Callable[[], int] = time.time_ns) -> None:
        assert failures_max >= 1 and window_s >= 1
        self._engine = engine
        self._exempt = frozenset(exempt)
        self._failures_max = failures_max
        self._window_ns = window_s * _NS_PER_S
        self._clock_ns = clock_ns

    def check(self, source: str) -> None:
        """:class:`TooManyAttempts` while ``source`` has used up its failures in this window."""
        if source in self._exempt:
            return
        now = self._clock_ns()
        with self._engine.connect() as connection:
            row = connection.execute(
                select(login_throttle.c.window_start_ns, login_throttle.c.failures)
                .where(login_throttle.c.bucket == _bucket(source))).first()
        if row is not None and row.window_start_ns + self._window_ns > now and \
                row.failures >= self._failures_max:
            raise TooManyAttempts(row.window_start_ns + self._window_ns)

    def failed(self, source: str) -> None:
        """Count a failure of ``source``: in its window, or in a new one if that one is over."""
        if source in self._exempt:
            return
        now = self._clock_ns()
        bucket = _bucket(source)
        c = login_throttle.c
        with writing(self._engine).begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(dialect.insert(login_throttle).values(
                bucket=bucket, window_start_ns=now, failures=0).on_conflict_do_nothing(
                index_elements=["bucket"]))
            connection.execute(update(login_throttle).where(
                c.bucket == bucket, c.window_start_ns + self._window_ns <= now).values(
                window_start_ns=now, failures=0))
            connection.execute(update(login_throttle).where(c.bucket == bucket).values(
                failures=c.failures + 1))


def _bucket(source: str) -> str:
    return f"login:{source}"[:BUCKET_CHARS_MAX]
