"""Writers on SQLite take the write lock at BEGIN, waiting for it in short steps, at most the timeout."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from sika.db import create_db_engine, writing


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    built = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}", busy_timeout_ms=300)
    with built.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    yield built
    built.dispose()


def hold_lock(path: str, seconds: float, held: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        other.execute("COMMIT")
    finally:
        other.close()


def test_a_writer_waits_for_the_lock_and_gets_it_soon_after_it_is_freed(engine: Engine) -> None:
    held = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(engine.url.database, 0.05, held))
    holder.start()
    assert held.wait(5)
    started = time.monotonic()
    with writing(engine).begin() as connection:
        waited_s = time.monotonic() - started
        connection.execute(text("INSERT INTO t VALUES (1)"))
    holder.join()
    # It waited for the holder, in steps of at most a few milliseconds (SQLite's own handler may
    # sleep up to 100 ms at a time); the bound is loose so that a busy machine does not fail it.
    assert 0.04 <= waited_s < 0.3
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 1


def test_a_writer_gives_up_after_the_busy_timeout_and_the_connection_still_works(engine: Engine) -> None:
    held = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(engine.url.database, 0.6, held))
    holder.start()
    assert held.wait(5)
    # The driver's error, wrapped as SQLAlchemy wraps it elsewhere.
    with pytest.raises(OperationalError, match="locked"), \
            writing(engine).begin():
        pass
    holder.join()
    with writing(engine).begin() as connection:  # the busy timeout was put back: it works again
        connection.execute(text("INSERT INTO t VALUES (2)"))
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 300


def test_on_other_databases_writing_is_the_engine_itself() -> None:
    engine = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert writing(engine) is engine
    engine.dispose()
