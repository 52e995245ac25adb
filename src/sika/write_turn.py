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

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
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
        self._fresh()

    def _fresh(self) -> None:
        self.thread_lock = threading.Lock()
        self.holder_thread: int | None = None
        self.state = threading.Condition(threading.Lock())
        self.fd = _NO_FILE
        self.fd_pid = 0
        self.wanted = False  # a writer waits for the keeper
        self.granted = False  # the keeper got the file for it
        self.keeper_waiting = False  # the keeper is in flock
        self.keeper: threading.Thread | None = None
        self.closing = False  # an engine was disposed while the keeper ran: it closes the file
        self.broken = False  # flock failed on this file (a file system without locks): no turns

    def _without_turns(self, exc: OSError) -> None:
        log.warning("no write turn for %s (%s): writers poll for SQLite's lock", self.path, exc)

    def reset_after_fork(self) -> None:
        """In a forked child: nothing of the parent's threads, locks or file is ours."""
        if self.fd != _NO_FILE:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self._fresh()

    def file(self) -> int:
        """The lock file, opened once a process (a forked child must not share its parent's)."""
        if self.broken:
            return _NO_FILE
        if self.fd_pid != os.getpid() or self.fd == _NO_FILE:
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # a read-only directory: writers poll SQLite's lock, as before
                self._without_turns(exc)
                self.fd = _NO_FILE
                self.broken = True  # not tried again on every write
            self.fd_pid = os.getpid()
        return self.fd

    def lock(self, fd: int, deadline: float) -> bool:
        """``flock`` the file for the calling writer (which holds ``thread_lock``) by ``deadline``; False
        when locks do not work on this file (the writer goes on without a turn, as before them)."""
        with self.state:
            if not self.keeper_waiting:  # (while it is, a second flock on its file would "succeed")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    pass
                except OSError as exc:  # no locks on this file system (ENOLCK): writers go on without
                    self._without_turns(exc)
                    self.broken = True
                    return False
            self.wanted = True
            try:
                if self.keeper is None:
                    keeper = threading.Thread(target=self._keep, args=(fd,), name="sika-write-turn",
                                              daemon=True)
                    keeper.start()
                    self.keeper = keeper
                self.state.notify_all()
                while not self.granted and not self.broken:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _refused("another process kept the write turn past the busy timeout")
                    self.state.wait(remaining)
            except BaseException:  # the deadline, or an interruption: what the keeper got is let go
                if self.granted:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    self.granted = False
                self.wanted = False
                raise
            self.wanted = False
            if self.broken:
                return False
            self.granted = False
            return True

    def _keep(self, fd: int) -> None:
        while True:
            with self.state:
                while not self.wanted or self.granted:
                    if not self.state.wait(KEEPER_IDLE_S) and not self.wanted:
                        self._keeper_ends(fd)
                        return
                self.keeper_waiting = True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # in the kernel, without the GIL
            except OSError as exc:  # no locks on this file system: writers go on without turns
                self._without_turns(exc)
                with self.state:
                    self.keeper_waiting = False
                    self.broken = True
                    self.keeper = None
                    self.state.notify_all()
                    return
            with self.state:
                self.keeper_waiting = False
                if self.wanted:
                    self.granted = True
                    self.state.notify_all()
                else:  # its writer gave up meanwhile
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _keeper_ends(self, fd: int) -> None:
        """The keeper's last act (under ``state``): the file closed if an engine was disposed meanwhile."""
        self.keeper = None
        if self.closing and self.thread_lock.acquire(blocking=False):
            try:
                if self.fd == fd and self.fd_pid == os.getpid():
                    os.close(fd)
                    self.fd = _NO_FILE
                self.closing = False
            finally:
                self.thread_lock.release()

    def close(self) -> None:
        """Close the lock file when nobody holds or waits for it (an engine disposed); reopened if
        needed again."""
        if not self.thread_lock.acquire(blocking=False):
            return
        try:
            with self.state:
                if self.keeper is not None:
                    self.closing = True  # the keeper closes it when it ends
                elif self.fd != _NO_FILE and self.fd_pid == os.getpid():
                    os.close(self.fd)
                    self.fd = _NO_FILE
        finally:
            self.thread_lock.release()


# One _File per database file and process, whatever engines use it.
_files: dict[str, _File] = {}
_files_lock = threading.Lock()
_turns: weakref.WeakSet[WriteTurn] = weakref.WeakSet()


def _reset_after_fork() -> None:
    global _files_lock  # noqa: PLW0603 (the parent's lock may have been held by one of its threads)
    _files_lock = threading.Lock()
    for shared in _files.values():
        shared.reset_after_fork()
    for turn in _turns:
        turn.reset_after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)


class WriteTurn:
    """The turn of one engine on one SQLite file. ``take`` before ``BEGIN IMMEDIATE``, ``give_back``
    after the commit or rollback; ``key`` names the holder (its driver connection). A turn that
    cannot be had within ``timeout_s`` is SQLite's own ``sqlite3.OperationalError`` "database is
    locked"."""

    def __init__(self, database_path: str, timeout_s: float) -> None:
        path = f"{os.path.realpath(database_path)}-writers"  # one file however the URL spells it
        with _files_lock:
            shared = _files.get(path)
            if shared is None:
                shared = _files[path] = _File(path)
        self._file = shared
        self.timeout_s = timeout_s
        self._holder: int | None = None
        self._flocked = False
        self._holder_lock = threading.Lock()  # commit and close may race to give one turn back
        _turns.add(self)

    def reset_after_fork(self) -> None:
        self._holder = None
        self._holder_lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._holder is not None

    def holds(self, key: int) -> bool:
        return self._holder == key

    def take(self, key: int) -> None:
        shared = self._file
        if shared.holder_thread == threading.get_ident():
            raise _refused(f"this thread holds the turn of {shared.path} already")
        deadline = time.monotonic() + max(self.timeout_s, 0.0)
        if not shared.thread_lock.acquire(timeout=max(self.timeout_s, 0.0)):
            raise _refused("another thread kept the write turn past the busy timeout")
        fd, flocked = _NO_FILE, False
        try:
            fd = shared.file()
            if fd != _NO_FILE:
                flocked = shared.lock(fd, deadline)
            shared.holder_thread = threading.get_ident()
            self._flocked = flocked
            self._holder = key
        except BaseException:
            if flocked:
                fcntl.flock(fd, fcntl.LOCK_UN)
            shared.thread_lock.release()
            raise

    def give_back(self, key: int) -> None:
        """Give the turn back if ``key`` holds it (a no-op otherwise: every commit and rollback calls),
        from whichever thread ends the transaction."""
        with self._holder_lock:
            if self._holder != key:
                return
            self._holder = None
        shared = self._file
        shared.holder_thread = None
        try:
            if self._flocked:
                fcntl.flock(shared.fd, fcntl.LOCK_UN)
        finally:
            shared.thread_lock.release()

    def close(self) -> None:
        """The engine was disposed: its lock file is closed unless in use (and reopened if needed)."""
        self._file.close()
