"""``sika.db.together``: on SQLite, the writes of a payment's steps share one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from sika.db import begin, connect, create_db_engine, shared, together, writing


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    db = create_db_engine(f"sqlite:///{tmp_path / 'together.db'}")
    with db.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield db
    db.dispose()


def _bodies(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [str(b) for b in connection.execute(text("SELECT body FROM notes ORDER BY id")).scalars()]


def _add(engine: Engine, note_id: int, body: str) -> None:
    with begin(engine) as connection:
        connection.execute(text("INSERT INTO notes (id, body) VALUES (:id, :body)"),
                           {"id": note_id, "body": body})


def test_the_steps_commit_together_and_read_what_was_written(engine: Engine) -> None:
    with together(engine):
        _add(engine, 1, "recorded")
        with connect(engine) as connection:  # the step after sees the one before, not yet committed
            assert connection.execute(text("SELECT count(*) FROM notes")).scalar_one() == 1
        assert _bodies(engine) == []  # another connection does not
        _add(engine, 2, "finished")
    assert _bodies(engine) == ["recorded", "finished"]


def test_an_error_leaving_together_undoes_every_step(engine: Engine) -> None:
    with pytest.raises(RuntimeError), together(engine):
        _add(engine, 1, "recorded")
        raise RuntimeError("the process fails between two steps")
    assert _bodies(engine) == []
    assert shared(engine) is None


def test_a_step_that_fails_is_undone_alone_when_its_error_is_handled(engine: Engine) -> None:
    with together(engine):
        _add(engine, 1, "recorded")
        with pytest.raises(RuntimeError), begin(engine) as connection:
            connection.execute(text("INSERT INTO notes (id, body) VALUES (2, 'half')"))
            raise RuntimeError("the step fails after a write")
        with pytest.raises(Exception, match="UNIQUE"):
            _add(engine, 1, "again")  # a duplicate id, as a retried movement's
        _add(engine, 3, "outcome")
    assert _bodies(engine) == ["recorded", "outcome"]


def test_an_inner_together_joins_the_outer_one(engine: Engine) -> None:
    with together(engine):
        outer = shared(engine)
        with together(engine):
            assert shared(engine) is outer
            _add(engine, 1, "inner")
        assert _bodies(engine) == []  # committed with the outer one only
    assert _bodies(engine) == ["inner"]


def test_another_writer_on_the_same_thread_is_refused_rather_than_waiting_for_itself(engine: Engine) -> None:
    with together(engine), pytest.raises(AssertionError, match="outside the shared transaction"), \
            writing(engine).begin():
        pass


def test_on_postgresql_nothing_is_shared(postgres_url: str) -> None:
    db = create_db_engine(postgres_url)
    try:
        with together(db):
            assert shared(db) is None
    finally:
        db.dispose()


def test_a_postgresql_connection_that_died_while_idle_is_replaced_before_use(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinged only after sitting idle (not at every checkout); a dead one is swapped for a fresh one."""
    import sika.db

    db = create_db_engine(postgres_url, pool_size=1)
    try:
        with db.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = create_db_engine(postgres_url)
        try:
            with admin.begin() as other:  # the server ends that session
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            admin.dispose()
        monkeypatch.setattr(sika.db, "PING_IDLE_S", 0.0)  # every connection counts as idle now
        with db.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        db.dispose()
