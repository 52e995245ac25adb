"""Writers on SQLite wait for their turn in the kernel (sika.write_turn) instead of polling its lock."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlite_writers import write_in_thread

from sika.db import create_db_engine, write_turn, writing
from sika.ledger import AccountKind, Ledger, Transfer, TransferResult
from sika.migration import upgrade

WAIT_S = 10


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "w.db"


@pytest.fixture
def engines(path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one file: what two processes are to each other."""
    first = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=2_000)
    second = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=2_000)
    with first.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    yield first, second
    first.dispose()
    second.dispose()


def locked_tries(engine: Engine) -> list[str]:
    """The BEGIN IMMEDIATE statements the connections of ``engine`` send from now on."""
    sent: list[str] = []

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.set_trace_callback(
            lambda statement: sent.append(statement) if statement == "BEGIN IMMEDIATE" else None)

    return sent


def rows(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT x FROM t ORDER BY x"))]


def test_a_writer_of_another_process_waits_for_the_turn_without_trying_the_lock(
        engines: tuple[Engine, Engine]) -> None:
    first, second = engines
    tries = locked_tries(second)
    with writing(first).begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        thread, done = write_in_thread(second, 2)
        assert not done.wait(0.2)  # queued behind the holder
        assert tries == []  # in the kernel: not one BEGIN IMMEDIATE tried while the lock was taken
    thread.join(WAIT_S)
    assert done.is_set()
    assert tries == ["BEGIN IMMEDIATE"]  # once, when its turn came, and it got the lock at once
    assert rows(first) == [1, 2]


@pytest.mark.parametrize("ending", ["rollback", "error"])
def test_the_turn_is_given_back_when_a_transaction_is_undone(engines: tuple[Engine, Engine],
                                                             ending: str) -> None:
    first, second = engines
    if ending == "rollback":
        with writing(first).connect() as connection:
            transaction = connection.begin()
            connection.execute(text("INSERT INTO t VALUES (1)"))
            transaction.rollback()
    else:
        with pytest.raises(ZeroDivisionError), writing(first).begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            _ = 1 / 0
    thread, done = write_in_thread(second, 2)
    thread.join(WAIT_S)
    assert done.is_set()
    assert rows(second) == [2]


def test_a_holder_in_another_process_is_waited_for(engines: tuple[Engine, Engine], path: Path) -> None:
    first, _ = engines
    other = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT)  # another open file: another process
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        thread, done = write_in_thread(first, 3)
        assert not done.wait(0.2)
        fcntl.flock(other, fcntl.LOCK_UN)
        thread.join(WAIT_S)
        assert done.is_set()
    finally:
        os.close(other)
    assert rows(first) == [3]


def test_a_thread_asking_for_a_turn_it_holds_through_another_engine_is_refused_at_once(
        engines: tuple[Engine, Engine]) -> None:
    first, second = engines
    with writing(first).begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(OperationalError, match="locked"), writing(second).begin():
            pass  # waiting would have been for ever: it waits for itself
    with writing(second).begin() as connection:  # the turn was given back all the same
        connection.execute(text("INSERT INTO t VALUES (2)"))
    assert rows(first) == [1, 2]


def test_another_thread_waits_at_most_the_busy_timeout(path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=200)
    outcome: list[BaseException | None] = []
    try:
        with writing(engine).begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))

            def write() -> None:
                try:
                    with writing(engine).begin():
                        pass
                except OperationalError as exc:
                    outcome.append(exc)
                else:
                    outcome.append(None)

            thread = threading.Thread(target=write)
            thread.start()
            thread.join(WAIT_S)
        assert len(outcome) == 1 and isinstance(outcome[0], OperationalError)
        assert "locked" in str(outcome[0])
    finally:
        engine.dispose()


def test_the_ledgers_own_transactions_take_the_turn(engines: tuple[Engine, Engine]) -> None:
    first, second = engines
    upgrade(second)
    tries = locked_tries(second)
    ledger = Ledger(second)
    try:
        bank = ledger.create_account(currency="XOF", kind=AccountKind.SUSPENSE)
        wallet = ledger.create_account(currency="XOF", kind=AccountKind.CUSTOMER_WALLET)
        results: list[list[TransferResult]] = []
        with writing(first).begin():
            thread = threading.Thread(target=lambda: results.append(ledger.submit([Transfer(
                id="t1", debit_account_id=bank.id, credit_account_id=wallet.id, amount=5, code=1)])),
                daemon=True)
            thread.start()
            thread.join(0.2)
            assert results == []
            assert "BEGIN IMMEDIATE" not in tries  # its own BEGIN IMMEDIATE waits for the turn
        thread.join(WAIT_S)
        assert results == [[TransferResult.OK]]
    finally:
        ledger.close()


def test_on_other_databases_there_is_no_turn() -> None:
    engine = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert write_turn(engine) is None
    engine.dispose()


def test_a_writer_waits_for_another_process_at_most_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=300)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    other = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT)  # a process that keeps its turn
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        for _ in range(2):  # the second time, the keeper from the first is still waiting in flock
            with pytest.raises(OperationalError, match="locked"), writing(engine).begin():
                pass
        fcntl.flock(other, fcntl.LOCK_UN)
        for value in (1, 2):  # the keeper hands the file over, then the writers take it themselves
            with writing(engine).begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})
        assert rows(engine) == [1, 2]
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and nobody kept it
    finally:
        os.close(other)
        engine.dispose()


def test_a_transaction_ended_by_another_thread_gives_the_turn_back_to_all(
        engines: tuple[Engine, Engine]) -> None:
    first, second = engines
    connection = writing(first).connect()
    connection.begin()
    connection.execute(text("INSERT INTO t VALUES (1)"))
    closer = threading.Thread(target=connection.close)  # rolls back: the garbage collector's case
    closer.start()
    closer.join(WAIT_S)
    with writing(first).begin() as again:  # this thread is not taken for a holder any more
        again.execute(text("INSERT INTO t VALUES (2)"))
    with writing(second).begin() as other:
        other.execute(text("INSERT INTO t VALUES (3)"))
    assert rows(first) == [2, 3]


def test_one_file_however_its_path_is_spelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = create_db_engine("sqlite:///w.db", busy_timeout_ms=2_000)
    absolute = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}", busy_timeout_ms=2_000)
    try:
        with writing(relative).begin(), pytest.raises(OperationalError, match="holds the turn"), \
                writing(absolute).begin():
            pass
    finally:
        relative.dispose()
        absolute.dispose()


def test_disposing_an_engine_closes_its_lock_file(tmp_path: Path) -> None:
    def open_files() -> int:
        return sum(1 for _ in Path("/proc/self/fd").iterdir())

    before = open_files()
    for n in range(20):
        engine = create_db_engine(f"sqlite:///{tmp_path / f'd{n}.db'}")
        with writing(engine).begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        engine.dispose()
    assert open_files() <= before + 2  # (readers closed with their threads, not one file an engine)


def test_the_turn_of_a_writing_engine_is_its_engines(path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{path}")
    assert write_turn(writing(engine)) is write_turn(engine) is not None
    engine.dispose()


def test_a_keeper_that_could_not_start_is_started_the_next_time(path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_db_engine(f"sqlite:///{path}", busy_timeout_ms=5_000)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    started = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name == "sika-write-turn":
            raise RuntimeError("can't start new thread")
        started(thread)

    other = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        monkeypatch.setattr(threading.Thread, "start", start)
        with pytest.raises(RuntimeError), writing(engine).begin():
            pass
        monkeypatch.undo()
        thread, done = write_in_thread(engine, 1)
        assert not done.wait(0.2)
        fcntl.flock(other, fcntl.LOCK_UN)
        thread.join(WAIT_S)
        assert done.is_set()  # handed over by a new keeper, long before the busy timeout
    finally:
        os.close(other)
        engine.dispose()
    assert rows(engine) == [1]


def test_writers_of_two_processes_and_their_threads_all_get_their_turn(
        engines: tuple[Engine, Engine]) -> None:
    first, second = engines
    errors: list[BaseException] = []

    def write(engine: Engine, base: int) -> None:
        try:
            for n in range(40):
                with writing(engine).begin() as connection:
                    connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": base + n})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(engine, 1000 * i))
               for i, engine in enumerate([first, second] * 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(rows(first)) == sorted(1000 * i + n for i in range(6) for n in range(40))


def test_without_a_lock_file_writers_go_on_polling_the_lock(path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{path}")
    Path(f"{path}-writers").mkdir()  # the lock file cannot be opened
    try:
        for value in (1, 2):
            with writing(engine).begin() as connection:
                if value == 1:
                    connection.execute(text("CREATE TABLE t (x INTEGER)"))
                connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})
        assert rows(engine) == [1, 2]
    finally:
        engine.dispose()
