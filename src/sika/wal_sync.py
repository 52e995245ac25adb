"""A SQLite commit made durable after the write lock is given back, not while it is held.

With ``synchronous=FULL`` SQLite syncs its write-ahead log inside ``COMMIT``, while it holds the
database's single write lock (and our :mod:`sika.write_turn`): every writer of the machine waits
for each commit's ``fdatasync``. With the realistic chat mix a transfer's commit was 0.6 of its
1.5 ms under the lock on this machine's disk, the largest part of the holding that was not CPU
(docs/benchmarks.md).

So SQLite runs with ``synchronous=NORMAL``, which in WAL mode writes the commit to the log without
syncing it (and still syncs the log before each checkpoint, the database after it, and the log's
header when the log is reused: the database stays whole after a power cut). Right after the
commit, with the lock and the turn given back, the committing thread calls :meth:`WalSync.commit`,
which ``fdatasync``\\ s the log file before the commit returns to its caller, while the next writer
already writes. The log is written in order, so the sync covers this commit and every one before
it. A commit that returned is as durable as with ``FULL``.

What differs: between its ``COMMIT`` and the end of its sync (about a millisecond on this machine's
disk, more when syncs queue) a transaction is visible to other connections without being on disk
yet. Anything Sika sends out after a write of its own (a webhook's 200, a WhatsApp answer, a
receipt, a provider's order, an API answer to a write) follows that write's sync, which covers
whatever it read before. A lone read (a balance over the API) could show, in that millisecond
before a power cut, a payment whose own caller had not yet been told it succeeded, and whose retry
then makes it again (PostgreSQL's synchronous standby has the same window at a failover).

A failed sync is final for the process: the commit is visible but maybe not on disk, and after a
failed ``fdatasync`` the kernel may have dropped the log's pages, so that a later sync succeeds
without them. The commit's caller gets the error, and every later write of the process to that
database is refused before it begins (a commit already begun is rolled back) until the process is
restarted, and its health check (``sika.db.ping``, ``/healthz``) says so (PostgreSQL stops for
the same reason). Other processes are not told: each finds out at its own failed sync, if any.

Nothing here opens the database file or its ``-shm`` index: closing any descriptor of a file drops
every POSIX lock the process holds on it, SQLite's included. The log file (``-wal``), which SQLite
never locks, is the only one opened, and its descriptor is kept.

A new log file's name is made durable too: the first sync of each log file a process sees also
syncs the directory (SQLite does that itself at the log's first sync, which ``NORMAL`` defers to
the first checkpoint).

Commits are noticed by SQLAlchemy's ``do_commit`` (:mod:`sika.db`) and by the ledger's own batches
(:mod:`sika.ledger.sqlite_batches`). A transaction syncs if it held the write turn or changed rows
(``total_changes``): a schema change made without the turn (``writing``) would not be synced.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
import weakref
from pathlib import Path

__all__ = ["SyncedConnection", "WalSync"]

log = logging.getLogger(__name__)

# Every WalSync of this process, to reset after a fork; weak, so that a disposed engine's goes.
_instances: weakref.WeakSet[WalSync] = weakref.WeakSet()
# Databases (real paths) a sync of this process failed on, and why: every engine on one refuses.
_broken: dict[str, str] = {}


class SyncedConnection(sqlite3.Connection):
    """A sqlite3 connection that remembers how far its writes were synced (``total_changes`` then):
    a commit that changed nothing since needs no sync."""

    synced_changes = 0
    # Whether this connection's commits leave the sync to us (WAL with synchronous=NORMAL); a
    # connection whose log could not be set up so keeps SQLite's own FULL sync.
    deferred_sync = False


class WalSync:
    """Syncs the write-ahead log of one SQLite database file. See the module's docstring.

    The log stays in place while the sync runs: an open connection holds SQLite's shared lock on the
    database, so no process can be the last to close it and remove the log (every sync is made
    right after a commit, before the connection goes back to the pool)."""

    def __init__(self, database_path: str) -> None:
        path = os.path.realpath(database_path)
        self.path = path
        self._wal = f"{path}-wal"
        self._directory = str(Path(path).parent)
        self._lock = threading.Lock()
        # The log's descriptor and the (device, inode) it is open on, kept: Linux reports a failed
        # background write to every descriptor open when it failed, not to one opened after another
        # had seen the error. One tuple, so that no reader pairs a descriptor with another's inode.
        self._kept: tuple[int, tuple[int, int]] | None = None
        self._retired: list[int] = []  # descriptors of earlier logs, closed at the next change
        _instances.add(self)

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's descriptors share its open file descriptions, and so
        whichever syncs first would take the other's write error. The child opens its own."""
        self._lock = threading.Lock()
        self.close()

    def close(self) -> None:
        """The engine is disposed: its descriptors are closed (the log has no lock of SQLite's)."""
        kept, retired = self._kept, self._retired
        self._kept, self._retired = None, []
        for fd in [*([kept[0]] if kept else []), *retired]:
            with contextlib.suppress(OSError):
                os.close(fd)

    def serves(self, database_file: str) -> bool:
        """Whether this syncs the log of ``database_file``, as SQLite names it (``PRAGMA
        database_list``): a connection whose file is named otherwise keeps SQLite's own sync."""
        return bool(database_file) and os.path.realpath(database_file) == self.path

    @property
    def broken(self) -> str | None:
        """Why a sync of this database failed in this process, if one did: then nothing is written."""
        return _broken.get(self.path)

    def refuse_if_broken(self) -> None:
        """Before a write (and before its commit): refused once a sync of this database failed in
        this process."""
        why = _broken.get(self.path)
        if why is not None:
            raise sqlite3.OperationalError(f"disk I/O error: an earlier sync failed ({why})")

    def commit(self, connection: sqlite3.Connection, *, wrote: bool = False) -> None:
        """Make durable what ``connection`` committed, if it changed anything since its last sync
        (or ``wrote``: a transaction that held the write turn, DDL included, which
        ``total_changes`` does not count). Raises ``sqlite3.OperationalError`` when the disk
        refuses: the commit may then be lost, and its caller must not say it succeeded."""
        if not isinstance(connection, SyncedConnection) or not connection.deferred_sync:
            return  # SQLite synced it inside COMMIT
        changes = connection.total_changes
        if not wrote and changes == connection.synced_changes:
            return
        try:
            self.sync()
        finally:  # synced, or refused for good: either way a later read needs no sync
            connection.synced_changes = changes

    def sync(self) -> None:
        """``fdatasync`` the log: every commit made before this call is on disk when it returns.
        Called right after a commit, whose open connection keeps the log in place."""
        self.refuse_if_broken()
        try:
            fd = self._descriptor()
        except OSError as exc:  # nothing was lost (out of descriptors, say): this commit fails alone
            raise sqlite3.OperationalError(f"disk I/O error: cannot open {self._wal}: {exc}") from exc
        try:
            _fdatasync(fd)
        except OSError as exc:
            raise self._break(f"cannot sync {self._wal}: {exc}") from exc

    def _descriptor(self) -> int:
        """The kept descriptor of the log as it is now: a new one (and the directory synced, so
        that the new file's name is on disk too) when the log file is not the one kept open."""
        now = os.stat(self._wal)  # noqa: PTH116 (each commit: no Path made)
        identity = (now.st_dev, now.st_ino)
        kept = self._kept
        if kept is not None and kept[1] == identity:
            return kept[0]
        with self._lock:
            kept = self._kept
            if kept is not None and kept[1] == identity:
                return kept[0]
            fd = os.open(self._wal, os.O_RDONLY)
            try:
                opened = os.fstat(fd)
                _sync_directory(self._directory)
            except BaseException:
                os.close(fd)
                raise
            for old in self._retired:
                os.close(old)
            self._retired = [kept[0]] if kept is not None else []
            self._kept = (fd, (opened.st_dev, opened.st_ino))
            return fd

    def _break(self, why: str) -> sqlite3.OperationalError:
        if self.path not in _broken:
            _broken[self.path] = why
            log.critical("SQLite's log could not be made durable (%s): this process refuses every "
                         "write to %s from now on; restart it once the disk is sound", why, self.path)
        return sqlite3.OperationalError(f"disk I/O error: {why}")


def _sync_directory(directory: str) -> None:
    """The directory's entries on disk. As SQLite does, a file system that cannot sync a directory
    (or lets it be read by nobody) is let be: the log's own sync is what matters most."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        log.warning("cannot open %s to sync it: %s", directory, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _fdatasync(fd: int) -> None:
    # Not every system has fdatasync (macOS); fsync does as much and more.
    getattr(os, "fdatasync", os.fsync)(fd)


def _reset_after_fork() -> None:
    """In a forked child: no lock of the parent's threads is held here."""
    for wal in list(_instances):
        wal.reset_after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
