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

from sika.arrays import int_array, text_array
from sika.chat.schema import DAY_NS, conversations
from sika.chat.state import _SAVE_MANY_POSTGRES, _SOME_POSTGRES, Conversations, State, batch
from sika.chat.whatsapp.schema import inbox, outbound
from sika.chat.whatsapp.statements import (
    EARLIER_MAX,
    FINISHED_MANY_POSTGRES,
    OLDER_DUE,
    QUEUED_BEFORE,
    QUEUED_BEFORE_POSTGRES,
    SENT_MANY_POSTGRES,
    WAITING,
    WAITING_POSTGRES,
)
from sika.chat.whatsapp.store import queued_before
from sika.db import create_db_engine, plan_once
from sika.ledger.postgres_batches import (
    _OPTIMISTIC_ACCOUNTS,
    _OPTIMISTIC_RESOLVED,
    RESOLVE_PENDING,
    SET_ACCOUNTS,
)
from sika.migration import upgrade
from sika.payments.outbox import _DELIVERED_MANY_POSTGRES
from sika.payments.queue import _claim, claim_due
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
    """The plan of ``statement`` with ``params``, as text (generic: as a kept connection plans it).
    A ``str`` is SQL as psycopg takes it (``%(name)s``), PostgreSQL's only."""
    if isinstance(statement, str):
        values, text_ = params, statement
    else:
        expanded = statement.compile(dialect=engine.dialect).construct_expanded_state(params)
        values, text_ = expanded.parameters, expanded.statement
    if engine.dialect.name == "postgresql":  # $1, $2 … for PREPARE, in the order the names appear
        names: list[str] = []
        sql = re.sub(r"%\((\w+)\)s", lambda m: f"${_number(names, m.group(1))}", text_)
    else:
        names, sql = list(expanded.positiontup or []), text_
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
        plan = _plan(engine, _claim(table, engine.dialect.name)._statement,
                     {"b_now": 10, "b_limit": 2, "b_lease": 20})
        assert f"ix_{table.name}_queued" in plan, plan
    claimed = claim_due(engine, inbox, now_ns=HANDLED * 2, limit=3, lease_s=60)
    assert [row["id"] for row in claimed] == queued[:3]


def test_a_full_claim_refreshes_a_filling_queues_statistics_and_the_claim_walks_in_order(
        engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans without the statistics this refreshes")
    backlog = 2_000
    rows = [{"message_id": f"wamid.b{n}", "msisdn": f"+228900{n % 50:05d}", "kind": "text", "text": "x",
             "payload_json": "{}", "status": "queued", "attempts": 0, "next_attempt_ns": n,
             "received_at_ns": n} for n in range(backlog)]
    with engine.begin() as connection:
        connection.execute(insert(inbox), rows)

    def analyzed() -> bool:  # ANALYZE sets reltuples, -1 before (transactional, unlike pg_stat_*)
        with engine.connect() as connection:
            return bool(connection.execute(text(
                "SELECT reltuples >= 0 FROM pg_class WHERE relname = 'wa_inbox'")).scalar_one())

    # Never analyzed, the table reads as nearly empty: a plan may gather and sort every queued row.
    params = {"b_now": 10**9, "b_limit": 10, "b_lease": 2 * 10**9}
    assert claim_due(engine, inbox, now_ns=-1, limit=10, lease_s=60) == []  # none due: not full
    assert not analyzed()

    claim_due(engine, inbox, now_ns=10**9, limit=10, lease_s=60)  # full: a backlog
    assert analyzed(), "a full claim refreshes the statistics"
    plan = _plan(engine, _claim(inbox, "postgresql")._statement, params)
    assert "Index Scan using ix_wa_inbox_queued on" in plan and "Sort" not in plan, plan
    # and the claimed rows are updated by key, not found again by a scan of the table
    assert "Index Scan using wa_inbox_pkey on" in plan and "Seq Scan" not in plan, plan


def test_a_refresh_that_fails_still_hands_the_claimed_rows_over(engine: Engine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL's claims refresh statistics")
    queued = _fill_inbox(engine)
    # ANALYZE of a table that is not there: an error, logged; the claim is what matters
    monkeypatch.setattr(engine.dialect.identifier_preparer, "format_table", lambda _table: "no_such_table")
    claimed = claim_due(engine, inbox, now_ns=HANDLED * 2, limit=QUEUED, lease_s=60)
    assert [row["id"] for row in claimed] == queued


@pytest.mark.parametrize("generic", [False, True])
def test_a_persons_earlier_queued_messages_are_found_by_the_queued_index(engine: Engine,
                                                                         generic: bool) -> None:
    if generic and engine.dialect.name != "postgresql":
        pytest.skip("generic plans are PostgreSQL's")
    queued = _fill_inbox(engine)
    postgres = engine.dialect.name == "postgresql"
    before = _plan(engine, *_queued_before(postgres, ["+22890000001"], last=10**9, ids=[0]), generic=generic)
    assert "ix_wa_inbox_queued" in before, before
    older = _plan(engine, OLDER_DUE["wa_outbound"]._statement, {"msisdn": "+22890000001", "row_id": 10},
                  generic=generic)
    assert "ix_wa_outbound_queued" in older, older
    waiting = _plan(engine, *_waiting(postgres, ["+22890000001"]), generic=generic)
    assert "ix_wa_outbound_queued" in waiting, waiting
    found = queued_before(engine, inbox, [{"id": 10**8, "msisdn": "+22890000000"},
                                          {"id": 10**9, "msisdn": "+22890000003"}])
    # Each number's one queued message (rows 3,000 and 3,003 of the fill, due at their number).
    assert found == {"+22890000000": [(queued[0], HANDLED)], "+22890000003": [(queued[3], HANDLED + 3)]}


def _queued_before(postgres: bool, numbers: list[str], *, last: int,
                   ids: list[int]) -> tuple[Any, dict[str, Any]]:
    if postgres:
        return (QUEUED_BEFORE_POSTGRES["wa_inbox"]._statement,
                {"numbers": text_array(numbers), "last": last, "ids": int_array(ids)})
    return QUEUED_BEFORE["wa_inbox"]._statement, {"numbers": numbers, "last": last, "ids": ids}


def _waiting(postgres: bool, numbers: list[str]) -> tuple[Any, dict[str, Any]]:
    if postgres:
        return WAITING_POSTGRES._statement, {"numbers": text_array(numbers)}
    return WAITING._statement, {"numbers": numbers}


@pytest.mark.postgres
@pytest.mark.parametrize("generic", [False, True])
def test_a_backlog_is_looked_up_by_key_whatever_the_statistics_say(postgres_url: str, generic: bool) -> None:
    """A fresh database has no column statistics, and a burst outruns them: with none, PostgreSQL
    reads ``status = 'queued'`` and ``channel = …`` as rare, and the statements that join a batch's
    keys on a table walked every queued message (every conversation, every open reservation) at every
    batch. Each now looks a key up by its index, however long the backlog."""
    engine = create_db_engine(postgres_url)
    upgrade(engine)
    try:
        _fill_backlog(engine)
        numbers = ["+22890000001", "+22890000002"]
        ids, pending = int_array([HANDLED + 1, HANDLED + 2]), text_array(["t1", "t2"])
        plans = {
            "before": _plan(engine, *_queued_before(True, numbers, last=10**9, ids=[0]), generic=generic),
            "waiting": _plan(engine, *_waiting(True, numbers), generic=generic),
            "finished": _plan(engine, FINISHED_MANY_POSTGRES._statement, {
                "now": 1, "ids": ids, "leases": int_array([5, 5]), "texts": text_array([None, None]),
                "payloads": text_array([None, None])}, generic=generic),
            "sent": _plan(engine, SENT_MANY_POSTGRES._statement, {
                "now": 1, "ids": ids, "leases": int_array([5, 5]), "wamids": text_array(["a", "b"])},
                generic=generic),
            "delivered": _plan(engine, _DELIVERED_MANY_POSTGRES._statement, {
                "now": 1, "channel": "whatsapp", "ids": ids, "leases": int_array([5, 5]),
                "params": text_array(["{}", "{}"]), "reasons": text_array([None, None])}, generic=generic),
            "conversations": _plan(engine, _SOME_POSTGRES._statement,
                                   {"channel": "whatsapp", "keys": text_array(numbers)}, generic=generic),
            "conversations saved": _plan(engine, _SAVE_MANY_POSTGRES._statement, {
                "channels": text_array(["whatsapp"] * 2), "session_keys": text_array(numbers),
                "msisdns": text_array(numbers), "states": text_array(["{}", "{}"]),
                "updated_at_nss": int_array([1, 2])}, generic=generic),
            "resolve pending": _plan(engine, RESOLVE_PENDING, {"ids": pending, "statuses": pending},
                                     generic=generic),
            "resolved (one statement)": _plan(
                engine, "WITH" + _OPTIMISTIC_RESOLVED + " SELECT count(*) FROM resolved",
                {"rid": pending, "rstatus": pending, "rdebit": int_array([100, 100]),
                 "rcredit": int_array([101, 101]), "ramount": int_array([1, 1]), "now": 1},
                generic=generic),
            "set accounts": _plan(engine, SET_ACCOUNTS, dict.fromkeys(
                ("ids", "dp", "cp", "dpe", "cpe"), int_array([100, 101])), generic=generic),
            "accounts (one statement)": _plan(
                engine, _OPTIMISTIC_ACCOUNTS + " SELECT count(*) FROM updated",
                dict.fromkeys(("ids", "ddp", "dcp", "ddpe", "dcpe", "dneed", "cneed", "dpeak", "cpeak"),
                              int_array([100, 101])), generic=generic),
        }
        by_key = {  # the key each statement must find its rows by, as the plan prints it
            "before": r"\(msisdn\)::text = m\.msisdn", "waiting": r"msisdn = m\.msisdn",
            "finished": r"id = ANY", "sent": r"id = ANY", "delivered": r"id = ANY",
            "conversations": r"\(session_key\)::text = k\.session_key",
            "conversations saved": r"\(session_key\)::text = v\w*\.session_key",
            "resolve pending": r"transfer_id\)::text = ANY",
            "resolved (one statement)": r"transfer_id\)::text = ANY",
            "set accounts": r"id = ANY", "accounts (one statement)": r"id = ANY",
        }
        for name, plan in plans.items():
            # Every scan of a table is by an index, and the batch's key is in that index's condition:
            # no walk of every queued row, of the whole channel, of every open reservation.
            scans = re.findall(r"((?:Bitmap Heap|Index Only|Index|Seq) Scan(?: using \S+)? on "
                               r"(?!unnest|v\b)\S+[^\n]*)\n((?:\s+\S[^\n]*\n?)*?)(?=\s+->|\Z)", plan + "\n")
            assert scans, (name, plan)
            for scan, detail in scans:
                assert "Seq Scan" not in scan, (name, plan)
                conditions = re.findall(r"(?:Index|Recheck) Cond: ([^\n]*)", detail)
                assert any(re.search(by_key[name], cond) for cond in conditions), (name, scan, plan)
        # And what they find: a person's earlier messages, oldest first, at most EARLIER_MAX of them.
        found = queued_before(engine, inbox, [{"id": 10**9, "msisdn": "+22890000001"},
                                              {"id": 10**9 + 1, "msisdn": "+22890000002"}])
        assert [row_id for row_id, _ in found["+22890000001"]] == list(range(1, EARLIER_MAX + 1))
        assert len(found["+22890000002"]) == 6  # ids 3 003, 3 503 …: six of the backlog's number
        with batch(engine, "whatsapp", ["+22890000007", "+22890099999"]) as held:
            assert held.row("+22890000007") is not None and held.row("+22890099999") is None
    finally:
        engine.dispose()


def _fill_backlog(engine: Engine) -> None:
    """Handled messages, then a backlog of queued ones over 500 numbers, one of whom (+22890000001)
    wrote EARLIER_MAX + 50 first; 3,000 conversations; 3,000 accounts and open reservations."""
    first = [{"message_id": f"wamid.first.{n}", "msisdn": "+22890000001", "kind": "text", "text": "x",
              "payload_json": "{}", "status": "queued", "attempts": 0, "next_attempt_ns": n,
              "received_at_ns": n} for n in range(EARLIER_MAX + 50)]
    rows = [{"message_id": f"wamid.{n}", "msisdn": f"+228900{n % 500:05d}", "kind": "text", "text": "x",
             "payload_json": "{}", "status": "done" if n < HANDLED else "queued", "attempts": 0,
             "next_attempt_ns": n, "received_at_ns": n} for n in range(2 * HANDLED)]
    with engine.begin() as connection:
        connection.execute(insert(inbox), first + rows)
        connection.execute(insert(conversations), [
            {"channel": "whatsapp", "session_key": f"+228900{n:05d}", "msisdn": f"+228900{n:05d}",
             "state": "{}", "updated_at_ns": n, "updated_day": 0} for n in range(HANDLED)])
        connection.execute(text(
            "INSERT INTO ledger_accounts (id, currency, kind, flags, debits_posted, credits_posted,"
            " debits_pending, credits_pending, metadata, created_at_ns)"
            " SELECT g, 'XOF', 'customer', 0, 0, 0, 0, 0, '{}', 0 FROM generate_series(100, 3100) g"))
        connection.execute(text(
            "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, code,"
            " flags, pending_id, timeout_s, metadata, created_at_ns)"
            " SELECT 't' || g, 100, 101, 1, 'XOF', 1, 2, NULL, 0, '{}', 0 FROM generate_series(1, 3000) g"))
        connection.execute(text(
            "INSERT INTO ledger_pending (transfer_id, debit_account_id, credit_account_id, amount, status,"
            " expires_at_ns) SELECT 't' || g, 100, 101, 1, 'pending', NULL FROM generate_series(1, 3000) g"))


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
