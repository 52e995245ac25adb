"""What the SQLite locking tests share: a writer on a thread of its own (test_write_turn, test_wal_sync)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, text

from sika.db import writing


def write_in_thread(engine: Engine, value: int) -> tuple[threading.Thread, threading.Event]:
    """Insert ``value`` into ``t`` on a new thread; the event is set once its commit returned."""
    done = threading.Event()

    def write() -> None:
        with writing(engine).begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})
        done.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread, done
