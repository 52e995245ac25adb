"""Whose turn it is to write a SQLite database, among the processes and threads of one machine.

SQLite has one write lock and no queue for it. A writer that finds it taken polls: SQLite's own busy
handler sleeps 1, 2, 5… up to 100 ms between tries, and :func:`sika.db._begin_immediate` 0.2 to 2 ms.
Between a commit and the next poll the lock sits idle while writers sleep, and every failed try costs
a waiter CPU and the GIL. With ``sika serve`` and two workers writing the realistic chat mix, the lock
was held 60 % of a run while the processes spent a quarter of their time waiting for it
(docs/benchmarks.md).

A :class:`WriteTurn` queues writers in the kernel instead: a thread lock for the threads of one
engine, then ``flock`` on a file beside the database (``<database>-writers``) for the processes and
other engines. The holder of the turn takes SQLite's lock at once (unless a writer that does not take
turns holds it: the ``sqlite3`` shell, a migration; then it polls as before), and the next writer
wakes as soon as the turn is given back, after the commit. The turn only orders writers: SQLite's
lock still decides, so a process that skips the turn is safe, merely not queued.

Waiting for the thread lock is bounded by the busy timeout. Waiting for ``flock`` is not (the call has
no timeout): it lasts as long as another process's transaction, which holds SQLite's lock meanwhile
and is bounded by that process's own busy timeout and by what runs in it (never a wait on another
system, see :func:`sika.db.together`). A thread that already holds the turn of a database through one
engine and asks for it through another would wait for itself for ever: that is refused at once, as
"database is locked".
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from typing import Final

__all__ = ["WriteTurn"]

log = logging.getLogger(__name__)

_NO_FILE: Final = -1
# The lock files this thread holds, by path: a second engine's turn on one of them is refused.
_held_here = threading.local()


class WriteTurn:
    """The turn of one engine on one SQLite file. ``take`` before ``BEGIN IMMEDIATE``, ``give_back``
    after the commit or rollback; ``key`` names the holder (its driver connection). A turn that
    cannot be had is SQLite's own ``sqlite3.OperationalError`` "database is locked"."""

    def __init__(self, database_path: str, timeout_s: float) -> None:
        self.path = f"{database_path}-writers"
        self.timeout_s = timeout_s
        self._thread_lock = threading.Lock()
        self._fd = _NO_FILE
        self._fd_pid = 0
        self._holder: int | None = None

    @property
    def held(self) -> bool:
        return self._holder is not None

    def take(self, key: int) -> None:
        held_paths: set[str] = _held_here.__dict__.setdefault("paths", set())
        if self.path in held_paths:
            raise sqlite3.OperationalError(f"database is locked: this thread holds the turn of {self.path}")
        if not self._thread_lock.acquire(timeout=max(self.timeout_s, 0.0)):
            raise sqlite3.OperationalError("database is locked: another thread kept the write turn")
        try:
            fd = self._file()
            if fd != _NO_FILE:
                fcntl.flock(fd, fcntl.LOCK_EX)  # in the kernel, without the GIL
        except BaseException:
            self._thread_lock.release()
            raise
        self._holder = key
        held_paths.add(self.path)

    def give_back(self, key: int) -> None:
        """Give the turn back if ``key`` holds it (a no-op otherwise: every commit and rollback calls)."""
        if self._holder != key:
            return
        self._holder = None
        _held_here.__dict__.setdefault("paths", set()).discard(self.path)
        try:
            if self._fd != _NO_FILE:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _file(self) -> int:
        """The lock file, opened once a process (a forked child must not share its parent's)."""
        if self._fd_pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # a read-only directory: writers poll SQLite's lock, as before
                log.warning("no write turn for %s (%s): writers poll for SQLite's lock", self.path, exc)
                self._fd = _NO_FILE
            self._fd_pid = os.getpid()
        return self._fd
