"""A SQLite commit is synced to disk after the write lock is given back, before it returns (sika.wal_sync)."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlite_writers import write_in_thread

import sika.wal_sync as wal_sync_module
from sika.bench import databases
from sika.bench.databases import is_durable
from sika.db import create_db_engine, ping, wal_sync, write_turn, writing
from sika.ledger import AccountKind, Ledger, Transfer, TransferResult
from sika.migration import upgrade
from sika.wal_sync import SyncedConnection, WalSync

WAIT_S = 10


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "s.db"


@pytest.fixture
def engine(path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=5_000)
    with writing(engine).begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    yield engine
    engine.dispose()


class Syncs:
    """Every fdatasync of the module: which file, and whether the write turn was held meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self.turn = write_turn(engine)
        self.files: list[str] = []
        self.turn_held: list[bool] = []
        self.release: threading.Event | None = None  # when set up, a sync waits for it
        self.entered = threading.Event()
        self._fdatasync = os.fdatasync  # the real one, patched over below

    def fdatasync(self, fd: int) -> None:
        self.files.append(str(Path(f"/proc/self/fd/{fd}").readlink()))
        assert self.turn is not None
        self.turn_held.append(self.turn.held)
        self.entered.set()
        if self.release is not None:
            assert self.release.wait(WAIT_S)
        self._fdatasync(fd)


@pytest.fixture
def syncs(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Syncs:
    recorder = Syncs(engine)
    monkeypatch.setattr(wal_sync_module.os, "fdatasync", recorder.fdatasync, raising=True)
    return recorder


def test_connections_leave_the_sync_to_sika_and_the_database_counts_as_durable(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        driver = connection.connection.dbapi_connection
        assert isinstance(driver, SyncedConnection) and driver.deferred_sync
    monkeypatch.setattr(databases, "_in_memory_filesystem", lambda _path: False)  # a tmpfs /tmp too
    assert is_durable(engine)


def test_a_write_is_synced_once_after_the_turn_is_given_back(engine: Engine, syncs: Syncs,
                                                             path: Path) -> None:
    with writing(engine).begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        assert syncs.files == []  # nothing before the commit
    assert syncs.files == [f"{path}-wal"]
    assert syncs.turn_held == [False]


def test_a_read_needs_no_sync_and_a_write_without_the_turn_gets_one(engine: Engine, syncs: Syncs) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT count(*) FROM t")).scalar()
    with engine.begin() as connection:
        connection.execute(text("SELECT count(*) FROM t")).scalar()
    assert syncs.files == []
    # A deferred BEGIN that writes (a migration, a writer that skipped writing()): synced all the same.
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (2)"))
    assert len(syncs.files) == 1


def test_the_next_writer_commits_while_the_first_one_waits_for_the_disk(engine: Engine, syncs: Syncs) -> None:
    syncs.release = threading.Event()  # every sync waits for it

    first, first_done = write_in_thread(engine, 1)
    assert syncs.entered.wait(WAIT_S)  # the first commit is in its sync, and has not returned
    assert not first_done.is_set()
    # Another writer gets the turn and the lock meanwhile, and commits.
    second, second_done = write_in_thread(engine, 2)
    assert _wait_for(lambda: len(syncs.files) == 2)  # the second committed and reached its sync
    assert not first_done.is_set()
    syncs.release.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert first_done.is_set() and second_done.is_set()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2


def test_a_disk_that_refuses_the_sync_fails_the_commit_and_every_later_write(
        engine: Engine, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(wal_sync_module.os, "fdatasync", refuse)
    with pytest.raises((OperationalError, sqlite3.OperationalError), match="disk I/O error"), \
            writing(engine).begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    monkeypatch.undo()
    # The row was committed before the sync failed: others may see it, yet it may not be on disk.
    # After a failed fdatasync the kernel may have dropped the log's pages, and a later sync would
    # succeed without them: this process trusts no sync again and refuses every write.
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 1
    for _ in range(2):
        with pytest.raises((OperationalError, sqlite3.OperationalError), match="an earlier sync failed"), \
                writing(engine).begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (2)"))
    with pytest.raises((OperationalError, sqlite3.OperationalError), match="an earlier sync failed"), \
            engine.begin() as connection:  # a write without the turn: rolled back, not committed
        connection.execute(text("INSERT INTO t VALUES (2)"))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 1  # none of them written
    with engine.begin() as connection:  # reads go on, on any of the pool's connections
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 1
    assert not ping(engine)  # the process says it is unwell, to be restarted
    upgrade_refused = Ledger(engine)
    try:
        with pytest.raises(sqlite3.OperationalError, match="an earlier sync failed"):
            upgrade_refused.create_transfers([Transfer(id="t9", debit_account_id=1, credit_account_id=2,
                                                       amount=5, code=1)])
    finally:
        upgrade_refused.close()
    # Another engine of this process on the same file refuses too; the turn was given back each
    # time, so another process (here: once the failure is forgotten, as a restart does) writes.
    other = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=5_000)
    try:
        with pytest.raises((OperationalError, sqlite3.OperationalError), match="an earlier sync failed"), \
                writing(other).begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (4)"))
        monkeypatch.setattr(wal_sync_module, "_broken", {})
        with writing(other).begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (4)"))
    finally:
        other.dispose()


def test_the_log_s_directory_is_synced_once_for_each_log_file(path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    directories: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        directories.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(wal_sync_module.os, "fsync", fsync)
    engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=5_000)
    for value in range(3):
        with writing(engine).begin() as connection:
            if value == 0:
                connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})
    assert len(directories) == 1
    wal = wal_sync(engine)
    assert wal is not None and wal._kept is not None
    first = wal._kept[0]
    try:
        for round_ in range(2):
            # The last connection closed: SQLite checkpointed the log and removed it. The next is a
            # new file, whose name the directory must keep, and whose descriptor is kept instead.
            engine.pool.dispose()
            assert not Path(f"{path}-wal").exists()
            with writing(engine).begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (9)"))
            assert len(directories) == 2 + round_
            assert wal._kept is not None
            assert Path(f"/proc/self/fd/{wal._kept[0]}").readlink() == Path(f"{path}-wal")
        try:  # the first log's descriptor was retired, then closed at the next change
            target: Path | None = Path(f"/proc/self/fd/{first}").readlink()
        except FileNotFoundError:
            target = None
        assert target != Path(f"{path}-wal (deleted)")
    finally:
        engine.dispose()


def test_schema_changes_are_synced_though_they_change_no_row(engine: Engine, syncs: Syncs) -> None:
    with writing(engine).begin() as connection:
        connection.execute(text("CREATE TABLE u (y INTEGER)"))
    assert len(syncs.files) == 1


def test_a_ledger_batch_is_synced_after_its_turn_is_given_back(syncs: Syncs, engine: Engine) -> None:
    upgrade(engine)
    ledger = Ledger(engine)
    try:
        bank = ledger.create_account(currency="XOF", kind=AccountKind.SUSPENSE)
        wallet = ledger.create_account(currency="XOF", kind=AccountKind.CUSTOMER_WALLET)
        before = len(syncs.files)
        assert ledger.submit([Transfer(id="t1", debit_account_id=bank.id, credit_account_id=wallet.id,
                                       amount=5, code=1)]) == [TransferResult.OK]
        assert len(syncs.files) == before + 1
        assert syncs.turn_held[-1] is False
    finally:
        ledger.close()


def _wait_for(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def test_a_connection_to_a_file_named_otherwise_keeps_sqlite_s_own_sync(path: Path, tmp_path: Path) -> None:
    wal = WalSync(str(path))
    assert wal.serves(str(path))
    assert wal.serves(str(tmp_path / "." / "s.db"))
    assert not wal.serves(str(tmp_path / "other.db"))
    assert not wal.serves("")  # a temporary or in-memory database


def _write_rows(path: str, start: int, count: int) -> None:
    """A writer process: ``count`` commits of one row each, a read after each."""
    engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=20_000)
    try:
        for value in range(start, start + count):
            with writing(engine).begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})
            with engine.connect() as connection:
                connection.execute(text("SELECT count(*) FROM t")).scalar()
    finally:
        engine.dispose()


def test_writers_of_several_processes_leave_a_sound_database(path: Path, engine: Engine) -> None:
    """Commits and syncs of three processes side by side. Nothing of ours may break
    SQLite's locks between processes (closing any descriptor of a file SQLite locks would: a first
    try that read the -shm index corrupted the database within seconds); every row is there."""
    rows = 300
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_write_rows, args=(str(path), 10_000 * n, rows)) for n in (1, 2)]
    for writer in writers:
        writer.start()
    _write_rows(str(path), 0, rows)
    for writer in writers:
        writer.join(120)
    assert [writer.exitcode for writer in writers] == [0, 0]
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 3 * rows


def test_a_connection_whose_file_is_not_the_synced_one_keeps_sqlite_s_full_sync(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WalSync, "serves", lambda _self, _file: False)
    engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=5_000)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            driver = connection.connection.dbapi_connection
            assert isinstance(driver, SyncedConnection) and not driver.deferred_sync
    finally:
        engine.dispose()


_TRY_DMS_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)  # the -shm's DMS byte (120 + 8)
except OSError:
    print("held")
else:
    print("free")
"""


def test_sqlite_s_own_locks_survive_our_commits_syncs_and_checkpoints(engine: Engine, path: Path) -> None:
    """Every open connection holds a shared lock on the -shm's DMS byte for other processes to see.
    Closing any descriptor of that file in this process would drop it (POSIX locks are per process
    and file), and other processes would then reset or reuse the log under our feet."""
    for value in range(60):  # commits and their syncs
        with writing(engine).begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})
    with engine.connect() as connection:  # an open connection of ours
        connection.execute(text("SELECT count(*) FROM t")).scalar()
        seen = subprocess.run([sys.executable, "-c", _TRY_DMS_LOCK, f"{path}-shm"], capture_output=True,
                              text=True, check=True, timeout=60).stdout.strip()
    assert seen == "held"
