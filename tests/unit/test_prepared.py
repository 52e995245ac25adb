"""``sika.prepared.Prepared``: a statement run through the driver answers as SQLAlchemy would, on
SQLite and PostgreSQL: the same rows, types, errors and transactions."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.pool import QueuePool

from sika.db import begin, create_db_engine, together
from sika.own_connections import kept_by_pool, kept_connections
from sika.prepared import Prepared

metadata = MetaData()
people = Table(
    "people", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(40), nullable=False),
    Column("vip", Boolean, nullable=False),
    Column("city", String(20), nullable=True),
)

_BY_ID_SELECT = select(people).where(people.c.id == bindparam("b_id"))
_BY_ID = Prepared(_BY_ID_SELECT)
_IN = Prepared(select(people.c.id, people.c.name.label("who")).where(
    people.c.id.in_(bindparam("ids", expanding=True)), people.c.city.in_(["Lomé", "Kara"])
).order_by(people.c.id))
_NOT_IN = Prepared(select(people.c.id).where(
    people.c.name.in_(bindparam("names", expanding=True)),
    people.c.id.not_in(bindparam("ids", expanding=True)),
).order_by(people.c.id))
_TEXT_IN = Prepared(text("SELECT id FROM people WHERE city IN :cities ORDER BY id")
                    .bindparams(bindparam("cities", expanding=True, type_=String())))
_LOWER_NOT_IN = Prepared(text("SELECT id FROM people WHERE name not  in :names ORDER BY id")
                         .bindparams(bindparam("names", expanding=True, type_=String())))
_CHAR_IN = Prepared(text("SELECT id FROM people WHERE city IN :cities ORDER BY id")
                    .bindparams(bindparam("cities", expanding=True, type_=CHAR(5))))
_UNTYPED_IN = Prepared(text("SELECT id FROM people WHERE id IN :ids ORDER BY id")
                       .bindparams(bindparam("ids", expanding=True)))
_ADD = Prepared(insert(people).values({k: bindparam(k) for k in ("id", "name", "vip", "city")}))
_MOVE = Prepared(update(people).where(people.c.id == bindparam("b_id")).values(city=bindparam("b_city")))
_COUNT = Prepared(text("SELECT count(*) AS n, max(id) AS top FROM people"))
_UNNAMED = Prepared(text("SELECT count(*), max(id) FROM people"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'prepared.db'}" if request.param == "sqlite" \
        else request.getfixturevalue("postgres_url")
    db = create_db_engine(url)
    metadata.create_all(db)
    yield db
    db.dispose()


def _add(engine: Engine, *rows: tuple[int, str, bool, str | None]) -> None:
    with begin(engine) as connection:
        _ADD.execute_many(connection, [dict(zip(("id", "name", "vip", "city"), row, strict=True))
                                       for row in rows])


def test_a_row_reads_by_name_position_and_mapping_with_its_types(engine: Engine) -> None:
    _add(engine, (1, "Ama Mensah", True, "Lomé"))
    row = _BY_ID.first(engine, {"b_id": 1})
    assert row is not None
    assert (row.id, row.name, row.vip, row.city) == (1, "Ama Mensah", True, "Lomé")
    assert row.vip is True  # SQLite stores 1: the column's type converts it, as through SQLAlchemy
    assert row[1] == "Ama Mensah" and row._mapping["city"] == "Lomé"
    with engine.connect() as connection:
        assert tuple(connection.execute(_BY_ID_SELECT, {"b_id": 1}).one()) == tuple(row)
    assert _BY_ID.first(engine, {"b_id": 2}) is None
    assert _BY_ID.scalar(engine, {"b_id": 1}) == 1


def test_expanding_and_literal_lists_and_labels(engine: Engine) -> None:
    _add(engine, (1, "Ama", False, "Lomé"), (2, "Kofi", False, "Kara"), (3, "Yao", False, "Sokodé"))
    rows = _IN.all(engine, {"ids": [3, 2, 1]})
    assert [(r.id, r.who) for r in rows] == [(1, "Ama"), (2, "Kofi")]  # Yao's city is not in the list
    assert [r.id for r in _IN.all(engine, {"ids": [2]})] == [2]
    counted = _COUNT.first(engine)
    assert counted is not None and (counted.n, counted.top) == (3, 3)  # text(): names from the cursor
    assert tuple(_UNNAMED.first(engine) or ()) == (3, 3)  # names unfit for attributes: by position
    # Named from the first result, then the same each time (the cursor's description is not read again)
    again = _COUNT.all(engine)
    assert [(r.n, r.top) for r in again] == [(3, 3)] and type(again[0]) is type(counted)
    assert tuple(_UNNAMED.all(engine)[0]) == (3, 3)


def test_in_and_not_in_answer_as_sqlalchemy_does_whatever_the_number_of_values(engine: Engine) -> None:
    _add(engine, (1, "Ama", False, "Lomé"), (2, "Kofi", False, "Kara"), (3, "Yao", False, None))
    cases = [(["Ama", "Kofi", "Yao"], [2]), (["Yao"], [1, 2]), (["Ama", "Kofi"], list(range(3, 300)))]
    for names, ids in cases:
        with engine.connect() as connection:
            expected = connection.execute(_NOT_IN._statement, {"names": names, "ids": ids}).scalars().all()
        assert [r.id for r in _NOT_IN.all(engine, {"names": names, "ids": ids})] == expected
    assert [r.id for r in _NOT_IN.all(engine, {"names": ["Ama", "Kofi", "Yao"], "ids": [2]})] == [1, 3]
    # A NULL among the values: nothing is "not in" a list holding an unknown, as in SQL's NOT IN.
    assert _NOT_IN.all(engine, {"names": ["Ama"], "ids": [None]}) == []
    assert [r.id for r in _TEXT_IN.all(engine, {"cities": ["Kara", "Lomé"]})] == [1, 2]
    assert [r.id for r in _UNTYPED_IN.all(engine, {"ids": [3, 1]})] == [1, 3]  # no type: spelled out
    assert [r.id for r in _LOWER_NOT_IN.all(engine, {"names": ["Kofi"]})] == [1, 3]  # as written by hand
    # Values an array's literal must quote: each found as itself, none taken for another
    odd = ['A "quoted", {braced} \\ name', "NULL", "", "Ɛfua, Lomé}"]
    _add(engine, *((10 + i, name, False, None) for i, name in enumerate(odd)))
    for i, name in enumerate(odd):
        assert [r.id for r in _NOT_IN.all(engine, {"names": [name], "ids": [0]})] == [10 + i]
    assert [r.id for r in _NOT_IN.all(engine, {"names": odd, "ids": [11]})] == [10, 12, 13]


def test_on_postgresql_a_list_is_one_array_parameter_and_the_text_never_changes(postgres_url: str) -> None:
    """The values go as one array (``= ANY``, ``<> ALL``): one text for any number of values, which the
    driver splits once and the server prepares once, where each count of values was a text of its own."""
    engine = create_db_engine(postgres_url, pool_size=1)
    metadata.create_all(engine)
    heard: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        heard.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        for count in (1, 2, 50, 500):
            _NOT_IN.all(engine, {"names": [f"n{i}" for i in range(count)], "ids": list(range(count))})
            _TEXT_IN.all(engine, {"cities": ["Lomé"] * count})
    finally:
        event.remove(engine, "before_cursor_execute", listen)
        engine.dispose()
    texts = {statement for statement, _ in heard}
    assert len(texts) == 2
    assert any("name = ANY (" in t and "id <> ALL (" in t for t in texts)
    assert any("city = ANY (" in t for t in texts)
    assert all(len(parameters) <= 2 for _, parameters in heard)  # the lists, one parameter each
    # ... while an untyped list, or one whose type has a length to keep (CHAR(5) would cut an array's
    # values), is still spelled out, one placeholder a value
    assert "IN (" in _UNTYPED_IN._plan(engine.dialect).sql
    assert "IN (" in _CHAR_IN._plan(engine.dialect).sql
    assert "<> ALL (" in _LOWER_NOT_IN._plan(engine.dialect).sql


def test_a_missing_parameter_is_refused_before_the_driver(engine: Engine) -> None:
    with pytest.raises(KeyError, match="b_id"):
        _BY_ID.first(engine, {})


def test_driver_errors_come_out_as_sqlalchemy_s_and_undo_the_transaction(engine: Engine) -> None:
    _add(engine, (1, "Ama", False, None))
    with pytest.raises(IntegrityError):
        _add(engine, (2, "Kofi", False, None), (1, "Ama again", False, None))
    assert _COUNT.scalar(engine) == 1  # Kofi's row went with the failed transaction


def test_writes_are_the_caller_s_transaction_and_rowcounts_are_counted(engine: Engine) -> None:
    _add(engine, (1, "Ama", False, None), (2, "Kofi", False, None))
    with pytest.raises(RuntimeError), begin(engine) as connection:
        assert _MOVE.execute(connection, {"b_id": 1, "b_city": "Kara"}) == 1
        raise RuntimeError("the step fails")
    row = _BY_ID.first(engine, {"b_id": 1})
    assert row is not None and row.city is None
    with begin(engine) as connection:
        assert _MOVE.execute_many(connection, [{"b_id": 1, "b_city": "Kara"}, {"b_id": 2, "b_city": "Lomé"},
                                               {"b_id": 9, "b_city": "Lomé"}]) == 2
        assert _MOVE.execute(connection, {"b_id": 9, "b_city": "Lomé"}) == 0


def test_inside_together_a_read_sees_the_writes_not_yet_committed(engine: Engine) -> None:
    with together(engine):
        _add(engine, (1, "Ama", False, None))
        assert _COUNT.scalar(engine) == 1  # on SQLite, the shared transaction's connection
    assert _COUNT.scalar(engine) == 1


def test_listeners_of_sqlalchemy_statements_hear_these_too(engine: Engine) -> None:
    heard: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        heard.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        _BY_ID.first(engine, {"b_id": 1})
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len(heard) == 1 and "FROM people" in heard[0]


def test_lists_up_to_the_callers_limits_and_an_empty_list_refused(engine: Engine) -> None:
    _add(engine, (1, "Ama", False, "Lomé"))
    many = list(range(1, 8_191))  # as many as the ledger reads at once
    assert [r.id for r in _IN.all(engine, {"ids": many})] == [1]
    with pytest.raises(ValueError, match="0 values"):
        _IN.all(engine, {"ids": []})
    with pytest.raises(ValueError, match="0 values"):
        _UNTYPED_IN.all(engine, {"ids": []})


def test_a_write_outside_a_transaction_is_refused(engine: Engine) -> None:
    with engine.connect() as connection, pytest.raises(AssertionError, match="inside a transaction"):
        _MOVE.execute(connection, {"b_id": 1, "b_city": "Kara"})


def test_after_a_restart_of_postgresql_one_read_fails_not_one_a_pooled_connection(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url, pool_size=4)
    admin = create_db_engine(postgres_url, pool_size=1)
    metadata.create_all(engine)
    raws = [engine.raw_connection() for _ in range(4)]  # four connections waiting in the pool
    for raw in raws:
        raw.close()
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                " WHERE pid <> pg_backend_pid() AND datname = current_database()"))
    failed = 0
    for _ in range(4):
        try:
            _COUNT.scalar(engine)
        except DBAPIError as exc:
            assert exc.connection_invalidated
            failed += 1
    assert failed == 1  # as through SQLAlchemy: the first failure drops every older connection
    engine.dispose()
    admin.dispose()


def test_a_postgresql_read_on_the_engine_is_one_statement_on_the_wire(postgres_url: str,
                                                                      tmp_path: Path) -> None:
    engine = create_db_engine(postgres_url, pool_size=1)
    metadata.create_all(engine)
    _add(engine, (1, "Ama", True, "Lomé"))
    raw = engine.raw_connection()  # the pool's connection, which the reads below take again
    driver = raw.dbapi_connection
    raw.close()
    wire = tmp_path / "wire.txt"
    with wire.open("w") as out:
        driver.pgconn.trace(out.fileno())
        row = _BY_ID.first(engine, {"b_id": 1})
        driver.pgconn.untrace()
    assert row is not None and row.name == "Ama"
    sent = [line for line in wire.read_text().splitlines() if "\tF\t" in line]  # what the client sent
    assert any("people" in line for line in sent), sent
    assert not any("BEGIN" in line or "ROLLBACK" in line for line in sent), sent
    # Taken back as it was: writes on it are transactions again, undone by an error.
    assert driver.autocommit is False
    with pytest.raises(RuntimeError), begin(engine) as connection:
        _MOVE.execute(connection, {"b_id": 1, "b_city": "Kara"})
        raise RuntimeError
    assert _BY_ID.first(engine, {"b_id": 1}).city == "Lomé"
    # A read that fails hands the connection back as it was too.
    with pytest.raises(DBAPIError):
        Prepared(text("SELECT * FROM no_such_table")).all(engine)
    assert driver.autocommit is False
    with pytest.raises(RuntimeError), begin(engine) as connection:
        _MOVE.execute(connection, {"b_id": 1, "b_city": "Kara"})
        raise RuntimeError
    assert _BY_ID.first(engine, {"b_id": 1}).city == "Lomé"
    engine.dispose()
    # Connections taken in autocommit are handed back in autocommit.
    always = create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=QueuePool, pool_size=1)
    assert _BY_ID.first(always, {"b_id": 1}).name == "Ama"
    raw = always.raw_connection()
    assert raw.dbapi_connection.autocommit is True
    raw.close()
    always.dispose()


def test_sqlite_reads_use_a_connection_of_the_thread_s_own_that_sees_each_commit(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'reads.db'}", pool_size=1)
    metadata.create_all(engine)
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    assert _COUNT.scalar(engine) == 0
    assert pool.checkedout() == 0  # no place of the pool held between reads
    _add(engine, (1, "Ama", False, None))  # committed by a pooled connection
    assert _COUNT.scalar(engine) == 1  # the kept connection reads it: no transaction of its own lingers
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(_COUNT.scalar(engine)))
    reader.start()
    reader.join()
    assert seen == [1] and pool.checkedout() == 0
    engine.dispose()


def test_disposing_the_engine_closes_the_readers_so_the_database_is_whole_in_its_file(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'whole.db'}", pool_size=1)
    metadata.create_all(engine)
    _add(engine, (1, "Ama", False, None))
    assert _COUNT.scalar(engine) == 1  # this thread now keeps a reader
    engine.dispose()  # the last connection closes: SQLite checkpoints the WAL into the file and drops it
    # (whole.db-writers is the writers' queue, sika.write_turn: no data, kept for other processes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole.db", "whole.db-writers"]
    assert _COUNT.scalar(engine) == 1  # reading again opens a reader on the new pool
    engine.dispose()


def test_a_write_alone_commits_by_itself_and_counts_its_rows(engine: Engine) -> None:
    _add(engine, (1, "Ama", False, None))
    assert _MOVE.execute_alone(engine, {"b_id": 1, "b_city": "Kara"}) == 1
    assert _MOVE.execute_alone(engine, {"b_id": 9, "b_city": "Kara"}) == 0
    assert _BY_ID.first(engine, {"b_id": 1}).city == "Kara"  # committed: another connection sees it
    with pytest.raises(IntegrityError):
        _ADD.execute_alone(engine, {"id": 1, "name": "Ama again", "vip": False, "city": None})
    with pytest.raises(RuntimeError), together(engine):  # inside together: a step of its transaction
        _MOVE.execute_alone(engine, {"b_id": 1, "b_city": "Lomé"})
        raise RuntimeError("the payment fails")
    expected = "Kara" if engine.dialect.name == "sqlite" else "Lomé"  # together joins only on SQLite
    assert _BY_ID.first(engine, {"b_id": 1}).city == expected


def test_a_write_alone_returning_rows_answers_them_all(engine: Engine) -> None:
    for row in [(1, "Ama", False, None), (2, "Kofi", False, None), (3, "Yawa", True, None)]:
        _add(engine, row)
    moved = Prepared(update(people).where(people.c.vip == bindparam("b_vip"))
                     .values(city=bindparam("b_city")).returning(people.c.id, people.c.city))
    rows = moved.all_alone(engine, {"b_vip": False, "b_city": "Kara"})
    assert sorted((row.id, row.city) for row in rows) == [(1, "Kara"), (2, "Kara")]
    assert moved.all_alone(engine, {"b_vip": None, "b_city": "Kara"}) == []
    assert _BY_ID.first(engine, {"b_id": 2}).city == "Kara"  # committed
    with pytest.raises(RuntimeError), together(engine):
        moved.all_alone(engine, {"b_vip": True, "b_city": "Lomé"})
        raise RuntimeError("the payment fails")
    expected = None if engine.dialect.name == "sqlite" else "Lomé"  # together joins only on SQLite
    assert _BY_ID.first(engine, {"b_id": 3}).city == expected


def test_a_postgresql_write_alone_is_one_statement_on_the_wire(postgres_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(postgres_url, pool_size=1)
    metadata.create_all(engine)
    _add(engine, (1, "Ama", True, "Lomé"))
    raw = engine.raw_connection()
    driver = raw.dbapi_connection
    raw.close()
    wire = tmp_path / "wire.txt"
    with wire.open("w") as out:
        driver.pgconn.trace(out.fileno())
        assert _MOVE.execute_alone(engine, {"b_id": 1, "b_city": "Kara"}) == 1
        driver.pgconn.untrace()
    sent = [line for line in wire.read_text().splitlines() if "\tF\t" in line]
    assert any("UPDATE people" in line for line in sent), sent
    assert not any("BEGIN" in line or "COMMIT" in line for line in sent), sent
    assert driver.autocommit is False  # handed back as taken
    engine.dispose()


_BY_NAME = Prepared(select(people.c.id).where(people.c.name == bindparam("who")))


def test_on_postgresql_reads_in_autocommit_go_straight_to_libpq_and_outlive_deallocate_all(
        postgres_url: str) -> None:
    """A statement whose parameters are typed in its SQL, on a connection idle in autocommit, goes to
    libpq without psycopg's cursor (sika.libpq_statements): prepared by name on a thread's kept
    connection, unnamed on a pooled one; inside a transaction, through the cursor. psycopg's
    ``DEALLOCATE ALL`` (after a ``ROLLBACK`` it ran) takes our prepared statements with its own: the
    next read prepares its statement again and answers."""
    engine = create_db_engine(postgres_url, pool_size=1)
    metadata.create_all(engine)
    _add(engine, (1, "Ama", True, "Lomé"))
    assert _BY_ID._plan(engine.dialect).direct is not None
    assert _UNTYPED_IN._plan(engine.dialect).direct is None  # its text changes with the values
    cursors: list[Any] = []

    def listen(_conn: Any, cursor: Any, *_args: Any) -> None:
        cursors.append(cursor)

    def ours(driver: Any) -> list[str]:
        with driver.cursor() as cursor:
            cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE '\\_sika\\_%' ORDER BY 1")
            return [row[0] for row in cursor.fetchall()]

    event.listen(engine, "before_cursor_execute", listen)
    try:
        assert _BY_ID.first(engine, {"b_id": 1}).name == "Ama"  # pooled: unnamed
        assert cursors == [None]  # no cursor: straight to libpq
        raw = engine.raw_connection()
        assert ours(raw.dbapi_connection) == []
        raw.close()
        with kept_connections():
            assert _BY_ID.first(engine, {"b_id": 1}).name == "Ama"
            kept = kept_by_pool()
            assert kept is not None
            driver = kept[engine.pool].driver
            [name] = ours(driver)
            with driver.cursor() as cursor:
                cursor.execute("DEALLOCATE ALL")
            assert ours(driver) == []
            assert _BY_ID.first(engine, {"b_id": 1}).name == "Ama"  # prepared again, on this connection
            assert _BY_ID.first(engine, {"b_id": 2}) is None
            [again] = ours(driver)
            assert again != name
        assert cursors.count(None) == 4
        with begin(engine) as connection:
            assert _BY_ID.first(connection, {"b_id": 1}).name == "Ama"
        assert cursors[-1] is not None  # in the transaction: the cursor
    finally:
        event.remove(engine, "before_cursor_execute", listen)
        engine.dispose()


def test_a_connection_lost_without_a_word_is_operational_as_through_the_cursor() -> None:
    """libpq's result for a server gone without an error code has no SQLSTATE (psycopg would make it a
    bare DatabaseError): it is an OperationalError, which Sika answers 503 and a payment runs again."""
    from psycopg import pq

    from sika.libpq_statements import _checked

    class _Result:
        status = pq.ExecStatus.FATAL_ERROR
        error_message = b"server closed the connection unexpectedly"

        def error_field(self, _field: Any) -> None:
            return None

    class _Conn:
        status = pq.ConnStatus.BAD

    class _Driver:
        pgconn = _Conn()

    with pytest.raises(psycopg.OperationalError, match="server closed"):
        _checked(_Result(), _Driver())


def test_a_connection_s_prepared_statements_go_with_it(postgres_url: str) -> None:
    from sika.libpq_statements import _sessions, direct_statement, run

    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    driver = psycopg.connect(url, autocommit=True)
    direct = direct_statement("SELECT %(x)s::BIGINT + 1")
    assert direct is not None
    assert run(driver, direct, [b"41"], named=True).fetchall() == [(42,)]
    assert len(_sessions) >= 1
    gone = weakref.ref(driver)
    driver.close()
    del driver
    gc.collect()
    assert gone() is None


def test_a_string_with_a_nul_is_refused_by_postgresql_never_cut_short(postgres_url: str) -> None:
    """libpq would take "Ama\\0x" as "Ama" and find Ama: such a value goes through the cursor, which
    refuses it, as every other value of a type it adapts itself."""
    engine = create_db_engine(postgres_url, pool_size=1)
    metadata.create_all(engine)
    _add(engine, (1, "Ama", True, "Lomé"))
    try:
        assert [r.id for r in _BY_NAME.all(engine, {"who": "Ama"})] == [1]
        with pytest.raises(DataError):
            _BY_NAME.all(engine, {"who": "Ama\x00x"})
        assert [r.id for r in _BY_NAME.all(engine, {"who": "Ama"})] == [1]  # the connection still serves
    finally:
        engine.dispose()
