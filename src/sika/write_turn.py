"""Whose turn it is to write a SQLite database, among the processes and threads of one machine.

SQLite has one write lock and no queue for it. A writer that finds it taken polls: SQLite's own busy
handler sleeps 1, 2, 5… up to 100 ms between tries, and :func:`sika.db._begin_immediate` 0.2 to 2 ms.
Between a commit and the next poll the lock sits idle while writers sleep, and every failed try costs
a waiter CPU and the GIL. With ``sika serve`` and two workers writing the realistic chat mix, the lock
was idle 40 % of a run while the processes spent a quarter of their time waiting for it
(docs/benchmarks.md).

A :class:`WriteTurn` queues writers in the kernel instead: a thread lock for the threads of a process,
then ``flock`` on a file beside the database (``<database>-writers``, which holds no data) for the
processes. The holder takes SQLite's lock at once (unless a writer that takes no turn holds it: the
``sqlite3`` shell, a migration; then it polls as before), and the next writer wakes as soon as the
turn is given back, after the commit. The turn only orders writers: SQLite's lock still decides, so
a process that skips the turn is safe, merely not queued. A process killed while it holds the turn
lets go of it with its file.

``flock`` has no timeout, and a writer must not wait longer than the busy timeout (a stopped process,
a long transaction: the caller answers 503 and tries again, as with SQLite's own lock). So when the
file is taken, a keeper thread (one a file and process, while there is waiting to do) waits in
``flock`` for the writer, who waits for the keeper at most until its deadline; what the keeper gets
after its writer gave up it lets go at once, or hands to the next writer.

A thread that holds the turn of a file and asks for it again (through another engine) would wait for
itself: that is refused at once, as "database is locked".
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from typing import Final

__all__ = ["WriteTurn"]

log = logging.getLogger(__name__)

_NO_FILE: Final = -1
# A keeper with nobody to wait for ends after this long.
KEEPER_IDLE_S = 5.0


def _refused(why: str) -> sqlite3.OperationalError:
    return sqlite3.OperationalError(f"database is locked: {why}")


class _File:
    """What the engines of one process share for one database: the thread lock, the lock file, and
    the keeper's state (guarded by ``state``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.thread_lock = threading.Lock()
        self.holder_thread: int | None = None
        self.state = threading.Condition(threading.Lock())
        self.fd = _NO_FILE
        self.fd_pid = 0
        self.wanted = False  # a writer waits for the keeper
        self.granted = False  # the keeper got the file for it
        self.keeper_waiting = False  # the keeper is in flock
        self.keeper: threading.Thread | None = None

    def file(self) -> int:
        """The lock file, opened once a process (a forked child must not share its parent's)."""
        if self.fd_pid != os.getpid() or self.fd == _NO_FILE:
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # a read-only directory: writers poll SQLite's lock, as before
                if self.fd_pid != os.getpid():
                    log.warning("no write turn for %s (%s): writers poll for SQLite's lock", self.path, exc)
                self.fd = _NO_FILE
            self.fd_pid = os.getpid()
        return self.fd

    def lock(self, fd: int, deadline: float) -> None:
        """``flock`` the file for the calling writer (which holds ``thread_lock``) by ``deadline``."""
        with self.state:
            if not self.keeper_waiting:  # (while it is, a second flock on its file would "succeed")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    pass
            self.wanted = True
            if self.keeper is None:
                self.keeper = threading.Thread(target=self._keep, args=(fd,), name="sika-write-turn",
                                               daemon=True)
                self.keeper.start()
            self.state.notify_all()
            while not self.granted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.wanted = False
                    raise _refused("another process kept the write turn past the busy timeout")
                self.state.wait(remaining)
            self.granted = False
            self.wanted = False

    def _keep(self, fd: int) -> None:
        while True:
            with self.state:
                while not self.wanted or self.granted:
                    if not self.state.wait(KEEPER_IDLE_S) and not self.wanted:
                        self.keeper = None
                        return
                self.keeper_waiting = True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # in the kernel, without the GIL
            except OSError as exc:  # the file was closed under it: nothing to hand over
                log.warning("write turn keeper of %s: %s", self.path, exc)
                with self.state:
                    self.keeper_waiting = False
                    self.keeper = None
                    return
            with self.state:
                self.keeper_waiting = False
                if self.wanted:
                    self.granted = True
                    self.state.notify_all()
                else:  # its writer gave up meanwhile
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file when nobody holds or waits for it (an engine disposed); reopened if
        needed again."""
        if not self.thread_lock.acquire(blocking=False):
            return
        try:
            with self.state:
                if self.keeper is None and self.fd != _NO_FILE and self.fd_pid == os.getpid():
                    os.close(self.fd)
                    self.fd = _NO_FILE
        finally:
            self.thread_lock.release()


# One _File per database file and process, whatever engines use it.
_files: dict[str, _File] = {}
_files_lock = threading.Lock()


class WriteTurn:
    """The turn of one engine on one SQLite file. ``take`` before ``BEGIN IMMEDIATE``, ``give_back``
    after the commit or rollback; ``key`` names the holder (its driver connection). A turn that
    cannot be had within ``timeout_s`` is SQLite's own ``sqlite3.OperationalError`` "database is
    locked"."""

    def __init__(self, database_path: str, timeout_s: float) -> None:
        path = f"{os.path.realpath(database_path)}-writers"  # one file however the URL spells it
        with _files_lock:
            self._file = _files.setdefault(path, _File(path))
        self.path = path
        self.timeout_s = timeout_s
        self._holder: int | None = None

    @property
    def held(self) -> bool:
        return self._holder is not None

    def take(self, key: int) -> None:
        shared = self._file
        if shared.holder_thread == threading.get_ident():
            raise _refused(f"this thread holds the turn of {self.path} already")
        deadline = time.monotonic() + max(self.timeout_s, 0.0)
        if not shared.thread_lock.acquire(timeout=max(self.timeout_s, 0.0)):
            raise _refused("another thread kept the write turn past the busy timeout")
        try:
            fd = shared.file()
            if fd != _NO_FILE:
                shared.lock(fd, deadline)
            shared.holder_thread = threading.get_ident()
            self._holder = key
        except BaseException:
            shared.thread_lock.release()
            raise

    def give_back(self, key: int) -> None:
        """Give the turn back if ``key`` holds it (a no-op otherwise: every commit and rollback calls),
        from whichever thread ends the transaction."""
        if self._holder != key:
            return
        shared = self._file
        self._holder = None
        shared.holder_thread = None
        try:
            if shared.fd != _NO_FILE:
                fcntl.flock(shared.fd, fcntl.LOCK_UN)
        finally:
            shared.thread_lock.release()

    def close(self) -> None:
        """The engine was disposed: its lock file is closed unless in use (and reopened if needed)."""
        self._file.close()
