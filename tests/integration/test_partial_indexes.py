"""The indexes over open rows only (migrations 0020 and 0021), on SQLite and PostgreSQL: the statements
that need them reach them (a plan that walks every handled row would grow with thirty days of
messages), they still find what they must, and a conversation's save within a day rewrites its row in
place on PostgreSQL."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from psycopg import sql as pg_sql
from sqlalchemy import Engine, insert, select, text

from sika.chat.schema import DAY_NS, conversations
from sika.chat.state import Conversations, State, batch
from sika.chat.whatsapp.schema import inbox, outbound
from sika.chat.whatsapp.statements import OLDER_DUE, QUEUED_BEFORE, WAITING
from sika.db import create_db_engine, plan_once
from sika.migration import upgrade
from sika.payments.queue import _make_claim, claim_due
from sika.payments.schema import callbacks, outbox

HANDLED = 3_000
QUEUED = 5


def _fill_inbox(engine: Engine) -> list[int]:
    rows = [{"message_id": f"wamid.{n}", "msisdn": f"+228900{n % 50:05d}", "kind": "text", "text": "x",
             "payload_json": "{}", "status": "done" if n < HANDLED else "queued", "attempts": 0,
             "next_attempt_ns": n, "received_at_ns": n} for n in range(HANDLED + QUEUED)]
    with engine.begin() as connection:
        connection.execute(insert(inbox), rows)
        return [row.id for row in connection.execute(
            select(inbox.c.id).where(inbox.c.status == "queued").order_by(inbox.c.id))]


def _plan(engine: Engine, statement: Any, params: dict[str, Any], *, generic: bool = False) -> str:
    """The plan of ``statement`` with ``params``, as text (generic: as a kept connection plans it)."""
    expanded = statement.compile(dialect=engine.dialect).construct_expanded_state(params)
    values = expanded.parameters
    if engine.dialect.name == "postgresql":  # $1, $2 … for PREPARE, in the order the names appear
        names: list[str] = []
        sql = re.sub(r"%\((\w+)\)s", lambda m: f"${_number(names, m.group(1))}", expanded.statement)
    else:
        names, sql = list(expanded.positiontup or []), expanded.statement
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        if engine.dialect.name == "sqlite":
            return "\n".join(row[3] for row in driver.execute(f"EXPLAIN QUERY PLAN {sql}",
                                                               [values[name] for name in names]))
        if generic:
            plan_once(driver)
        driver.execute(f"PREPARE probe AS {sql}")
        try:  # EXPLAIN takes no parameters: the values as literals
            literals = pg_sql.SQL(", ").join(pg_sql.Literal(values[name]) for name in names)
            rows = driver.execute(pg_sql.SQL("EXPLAIN EXECUTE probe({})").format(literals)).fetchall()
        finally:
            driver.execute("DEALLOCATE probe")
            driver.execute("RESET ALL")
        return "\n".join(row[0] for row in rows)


def _number(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name) + 1


def test_a_claim_walks_the_queued_rows_only_and_takes_the_oldest(engine: Engine) -> None:
    queued = _fill_inbox(engine)
    for table in (inbox, outbound, outbox, callbacks):
        plan = _plan(engine, _make_claim(table)._statement, {"b_now": 10, "b_limit": 2, "b_lease": 20})
        assert f"ix_{table.name}_queued" in plan, plan
    claimed = claim_due(engine, inbox, now_ns=HANDLED * 2, limit=3, lease_s=60)
    assert [row["id"] for row in claimed] == queued[:3]


@pytest.mark.parametrize("generic", [False, True])
def test_a_persons_earlier_queued_messages_are_found_by_the_queued_index(engine: Engine,
                                                                         generic: bool) -> None:
    if generic and engine.dialect.name != "postgresql":
        pytest.skip("generic plans are PostgreSQL's")
    _fill_inbox(engine)
    before = _plan(engine, QUEUED_BEFORE["wa_inbox"]._statement,
                   {"numbers": ["+22890000001"], "last": 10**9, "ids": [0]}, generic=generic)
    assert "ix_wa_inbox_queued" in before, before
    older = _plan(engine, OLDER_DUE["wa_outbound"]._statement, {"msisdn": "+22890000001", "row_id": 10},
                  generic=generic)
    assert "ix_wa_outbound_queued" in older, older
    waiting = _plan(engine, WAITING._statement, {"numbers": ["+22890000001"]}, generic=generic)
    assert "ix_wa_outbound_queued" in waiting, waiting
    with engine.connect() as connection:
        found = QUEUED_BEFORE["wa_inbox"].all(connection, {"numbers": ["+22890000000", "+22890000003"],
                                                           "last": 10**9, "ids": [0]})
    assert [row.msisdn for row in found] == ["+22890000000", "+22890000003"]


def test_idle_conversations_are_forgotten_by_their_day_and_time(engine: Engine) -> None:
    now = [100 * DAY_NS + 5]
    kept = Conversations(engine, clock_ns=lambda: now[0])
    kept.save("whatsapp", "+22890000001", "+22890000001", State(language="fr"))
    now[0] += DAY_NS // 2
    kept.save("whatsapp", "+22890000002", "+22890000002", State(language="en"))
    now[0] += DAY_NS // 2 + 10  # the first is a day and 10 ns old, the second half a day
    assert kept.forget_idle(older_than_s=DAY_NS // 1_000_000_000) == 1
    with engine.connect() as connection:
        rows = connection.execute(select(conversations.c.session_key, conversations.c.updated_day)).all()
    assert rows == [("+22890000002", 100)]


@pytest.mark.postgres
def test_a_conversation_saved_again_the_same_day_is_rewritten_in_place(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url)
    upgrade(engine)
    now = [100 * DAY_NS]
    kept = Conversations(engine, clock_ns=lambda: now[0])
    keys = [f"+2289000{n:04d}" for n in range(3)]
    for turn in range(4):
        now[0] += 1_000
        with batch(engine, "whatsapp", keys) as held:
            for key in keys:
                kept.save("whatsapp", key, key, State(language="fr", data={"turn": turn}))
            with engine.begin() as connection:
                held.write(connection)
    engine.dispose()  # the writers' statistics are sent as their sessions end
    reader = create_db_engine(postgres_url)
    try:
        counts = None
        for _ in range(100):  # until the ended sessions' counts have arrived
            with reader.connect() as connection:
                connection.execute(text("SELECT pg_stat_clear_snapshot()"))
                counts = tuple(connection.execute(text(
                    "SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                    " WHERE relname = 'chat_conversations'")).one())
            if counts == (3, 9, 9):
                break
            time.sleep(0.05)
        # Inserted once, then updated in place three times each: never locked first as an upsert
        # locks, never given new index entries.
        assert counts == (3, 9, 9)
        with reader.connect() as connection:
            states = connection.execute(select(conversations.c.state)).scalars().all()
        assert all('"turn":3' in state.replace(" ", "") for state in states)
    finally:
        reader.dispose()
