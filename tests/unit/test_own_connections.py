"""``sika.own_connections.kept_connections``: a thread's PostgreSQL reads and lone writes through a
connection of its own, kept in autocommit out of the pool, that sees every commit, survives losing
its server once, and is closed by its thread alone: on the way out, or after its engine's
disposal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, bindparam, insert, select, text

from sika.db import begin, create_db_engine
from sika.own_connections import kept_connections
from sika.prepared import Prepared

metadata = MetaData()
notes = Table("kept_notes", metadata, Column("id", BigInteger, primary_key=True, autoincrement=False),
              Column("body", String(40), nullable=False))
_PID = Prepared(text("SELECT pg_backend_pid() AS pid"))
_COUNT = Prepared(text("SELECT count(*) AS n FROM kept_notes"))
_ADD_ALONE = Prepared(insert(notes).values(id=bindparam("b_id"), body=bindparam("b_body")))
_BY_ID = Prepared(select(notes.c.body).where(notes.c.id == bindparam("b_id")))
_ALIVE = "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    db = create_db_engine(postgres_url, pool_size=2)
    metadata.create_all(db)
    yield db
    db.dispose()


def _alive(engine: Engine, pid: int) -> bool:
    with engine.connect() as connection:
        return bool(connection.execute(text(_ALIVE), {"pid": pid}).scalar())


def _gone(engine: Engine, pid: int) -> bool:
    """Whether the backend ``pid`` has left (a closed connection's backend exits a moment later)."""
    for _ in range(250):
        if not _alive(engine, pid):
            return True
        time.sleep(0.02)
    return False


def test_a_thread_reads_and_writes_alone_on_one_connection_of_its_own(engine: Engine) -> None:
    pool = engine.pool
    with kept_connections():
        pids = {_PID.scalar(engine) for _ in range(5)}
        assert _ADD_ALONE.execute_alone(engine, {"b_id": 1, "b_body": "kept"}) == 1
        with begin(engine) as connection:  # a transaction of the pool's, committed elsewhere
            connection.execute(insert(notes).values(id=2, body="pooled"))
        assert _COUNT.scalar(engine) == 2  # seen at once: autocommit holds no snapshot
        assert _BY_ID.scalar(engine, {"b_id": 1}) == "kept"
        pid = _PID.scalar(engine)
        assert pids == {pid} and pool.checkedout() == 0  # always the same, none taken from the pool
        assert _alive(engine, pid)
    assert _gone(engine, pid)  # closed on the way out
    assert _PID.scalar(engine) != pid  # outside: the pool's again


def test_each_thread_keeps_its_own(engine: Engine) -> None:
    seen: list[int] = []

    def read() -> None:
        with kept_connections():
            seen.extend(_PID.scalar(engine) for _ in range(3))

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6 and len(set(seen)) == 2


def test_a_lost_connection_fails_one_statement_and_the_next_opens_another(engine: Engine) -> None:
    with kept_connections():
        pid = _PID.scalar(engine)
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert _gone(engine, pid)
        with pytest.raises(Exception, match=r"(?i)terminat|closed|connection"):
            _PID.scalar(engine)
        again = _PID.scalar(engine)
        assert again != pid and _COUNT.scalar(engine) == 0


def test_one_idle_for_a_while_is_pinged_and_replaced_if_it_died(engine: Engine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sika.own_connections.PING_IDLE_S", 0.0)  # every use counts as after a while
    with kept_connections():
        pid = _PID.scalar(engine)
        assert _PID.scalar(engine) == pid  # a ping that answers keeps it
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert _gone(engine, pid)
        assert _PID.scalar(engine) != pid  # the ping found it dead: no statement failed


def test_after_the_engine_is_disposed_the_thread_closes_its_old_one_and_opens_another(engine: Engine) -> None:
    with kept_connections():
        pid = _PID.scalar(engine)
        engine.dispose()  # another thread's doing: it leaves this thread's connection alone ...
        assert _alive(engine, pid)
        assert _PID.scalar(engine) != pid  # ... which this thread closes at its next statement
        assert _gone(engine, pid)


def test_kept_connections_do_not_nest() -> None:
    with kept_connections(), pytest.raises(AssertionError, match="nest"), kept_connections():
        pass


_PLANNING = Prepared(text("SELECT current_setting('plan_cache_mode') AS mode,"
                          " current_setting('enable_seqscan') AS seqscan"))


def test_a_kept_connection_plans_once_and_by_index_and_the_pools_do_not(engine: Engine) -> None:
    with kept_connections():
        row = _PLANNING.first(engine)
        assert row is not None and (row.mode, row.seqscan) == ("force_generic_plan", "off")
        for b_id in range(1, 8):  # prepared by psycopg after five runs, then one generic plan
            assert _BY_ID.scalar(engine, {"b_id": b_id}) is None
    row = _PLANNING.first(engine)  # a pooled connection: its settings were never changed
    assert row is not None and (row.mode, row.seqscan) == ("force_custom_plan", "on")


def test_a_statement_planned_each_run_goes_through_the_pool_even_on_a_kept_thread(engine: Engine) -> None:
    planned_each_run = Prepared(_PLANNING._statement, planned_each_run=True)
    with kept_connections():
        kept_pid = _PID.scalar(engine)
        row = planned_each_run.first(engine)
        assert row is not None and (row.mode, row.seqscan) == ("force_custom_plan", "on")
        assert _PID.scalar(engine) == kept_pid  # the thread's own connection is kept all the same


def test_a_queues_claim_is_planned_with_its_values() -> None:
    from sika.chat.whatsapp.schema import inbox, outbound
    from sika.payments.queue import _claim
    from sika.payments.schema import callbacks, outbox

    assert all(_claim(table, dialect)._planned_each_run for table in (inbox, outbound, outbox, callbacks)
               for dialect in ("postgresql", "sqlite"))
