"""A conversation's state: the flow and step it is at, the answers so far, the choices on screen.

Stored as JSON in ``chat_conversations`` after every message, so a restart (or another process
answering the next message) carries on where it was. A conversation idle for more than
``IDLE_S`` (5 minutes) starts again from the menu.

A channel that handles messages in batches (WhatsApp's inbox) opens a :class:`Batch` with
:func:`batch`: within it, on that thread, the conversations of the batch's numbers are read in one
query, a save stays in memory (the next load sees it), and the channel writes every save with
:meth:`Batch.write` in the transaction that marks the messages handled: a conversation moves on only
together with the record that its message was answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, select, text
from sqlalchemy.dialects import sqlite

from sika import jsoncodec
from sika.arrays import int_array, text_array
from sika.chat.schema import DAY_NS, conversations, day_of
from sika.prepared import Prepared

__all__ = ["IDLE_S", "Batch", "Conversations", "State", "batch", "held"]

IDLE_S = 5 * 60
TRAIL_MAX = 20
STATE_BYTES_MAX = 16_384
# Conversations one batch reads at once (and so at most the messages of a batch).
BATCH_KEYS_MAX = 1_000
_NS = 1_000_000_000

# A stored conversation: its state as JSON, and when it was saved.
_Row = tuple[str, int]


@dataclass(slots=True)
class State:
    flow: str = "menu"
    step: str = "menu"
    data: dict[str, Any] = field(default_factory=dict)
    # Where "back" goes: the steps answered before this one, oldest first.
    trail: list[list[str]] = field(default_factory=list)
    # The choice ids on the last screen, in order: "2" means expect[1].
    expect: list[str] = field(default_factory=list)
    language: str | None = None
    # What a channel keeps across the whole session, whatever the flow (USSD: the last screen).
    channel: dict[str, Any] = field(default_factory=dict)
    fresh: bool = True  # not stored: True when this message starts a new conversation

    def go(self, flow: str, step: str) -> None:
        self.trail.append([self.flow, self.step])
        del self.trail[:-TRAIL_MAX]
        self.flow, self.step = flow, step

    def back(self) -> bool:
        if not self.trail:
            return False
        self.flow, self.step = self.trail.pop()
        return True

    def reset(self, flow: str = "menu", step: str = "menu") -> None:
        self.flow, self.step, self.data, self.trail, self.expect = flow, step, {}, [], []


# What is stored of a State: every field but ``fresh``.
_STORED = tuple(f.name for f in fields(State) if f.name != "fresh")


class Conversations:
    def __init__(self, engine: Engine, *, clock_ns: Callable[[], int] = time.time_ns,
                 idle_s: int = IDLE_S) -> None:
        self._engine = engine
        self._clock_ns = clock_ns
        self._idle_ns = idle_s * _NS

    def load(self, channel: str, session_key: str) -> State:
        current = self._batch(channel)
        row = current.row(session_key) if current is not None else _NOT_HELD
        if row is _NOT_HELD:
            found = _ONE.first(self._engine, {"channel": channel, "key": session_key})
            row = (found.state, found.updated_at_ns) if found is not None else None
        assert row is not _NOT_HELD
        if row is None or self._clock_ns() - row[1] > self._idle_ns:
            language = jsoncodec.loads(row[0]).get("language") if row is not None else None
            return State(language=language)
        stored = jsoncodec.loads(row[0])
        return State(flow=stored["flow"], step=stored["step"], data=stored["data"], trail=stored["trail"],
                     expect=stored["expect"], language=stored.get("language"),
                     channel=stored.get("channel", {}), fresh=False)

    def save(self, channel: str, session_key: str, msisdn: str, state: State) -> None:
        # By hand rather than dataclasses.asdict, which deep-copies: this runs for every message.
        body = {name: getattr(state, name) for name in _STORED}
        encoded = jsoncodec.dumps(body)
        assert len(encoded.encode()) <= STATE_BYTES_MAX, "a conversation's state stays small"
        now_ns = self._clock_ns()
        values = {"channel": channel, "session_key": session_key, "msisdn": msisdn, "state": encoded,
                  "updated_at_ns": now_ns, "updated_day": day_of(now_ns)}
        current = self._batch(channel)
        if current is not None and current.holds(session_key):
            current.keep(values)
            return
        with self._engine.begin() as connection:
            _upsert(connection, [values])

    def _batch(self, channel: str) -> Batch | None:
        current = _current.get()
        if current is None or current.engine is not self._engine or current.channel != channel:
            return None
        return current

    def forget_idle(self, *, older_than_s: int = 24 * 3600, limit: int = 1_000) -> int:
        """Drop conversations idle for a day (the job keeps the table small)."""
        cutoff = self._clock_ns() - older_than_s * _NS
        idle = (conversations.c.updated_day <= day_of(cutoff), conversations.c.updated_at_ns < cutoff)
        with self._engine.begin() as connection:
            old = (select(conversations.c.channel, conversations.c.session_key)
                   .where(*idle).limit(limit).subquery())
            return int(connection.execute(delete(conversations).where(
                *idle, conversations.c.session_key.in_(select(old.c.session_key)))).rowcount)


_NOT_HELD: Any = object()
_current: ContextVar[Batch | None] = ContextVar("sika_chat_state_batch", default=None)


class Batch:
    """The conversations of one batch of messages on one channel: read at once, written at once."""

    def __init__(self, engine: Engine, channel: str, session_keys: Iterable[str]) -> None:
        self.engine = engine
        self.channel = channel
        keys = sorted(set(session_keys))
        assert len(keys) <= BATCH_KEYS_MAX, len(keys)
        self._rows: dict[str, _Row | None] = dict.fromkeys(keys)
        self._unsaved: dict[str, dict[str, Any]] = {}
        # Other writes of a conversation's turn (see later), by session key, then by name.
        self._later: dict[str, dict[str, Callable[[Connection, list[str]], object]]] = {}
        if keys:
            found = (_SOME_POSTGRES.all(engine, {"channel": channel, "keys": text_array(keys)})
                     if engine.dialect.name == "postgresql"
                     else _SOME.all(engine, {"channel": channel, "keys": keys}))
            for key, state, updated_at_ns in found:
                self._rows[key] = (state, updated_at_ns)

    def holds(self, session_key: str) -> bool:
        return session_key in self._rows

    def row(self, session_key: str) -> _Row | None:
        """The conversation as last saved in this batch or stored before it; ``_NOT_HELD`` for a key
        outside the batch."""
        return self._rows.get(session_key, _NOT_HELD)

    def keep(self, values: dict[str, Any]) -> None:
        assert values["channel"] == self.channel and values["session_key"] in self._rows
        self._rows[values["session_key"]] = (values["state"], values["updated_at_ns"])
        self._unsaved[values["session_key"]] = values

    def later(self, session_key: str, name: str, write: Callable[[Connection, list[str]], object]) -> None:
        """Another write of this conversation's turn (a consent question marked asked), run in the
        transaction of :meth:`write`, with the saves: it lands only with the record that the message
        was answered, without a transaction (and a commit to wait for) of its own. The writes of one
        ``name`` go together, as one call of ``write`` with the keys of every conversation that asked
        for it (one statement a batch rather than one a conversation); every ``write`` of a name
        must be the same."""
        assert session_key in self._rows, session_key
        self._later.setdefault(session_key, {})[name] = write

    def pending(self, session_key: str, name: str) -> bool:
        """Whether a write named ``name`` waits for :meth:`write` for this conversation."""
        return name in self._later.get(session_key, {})

    @property
    def unsaved(self) -> int:
        return len(self._unsaved) + sum(len(writes) for writes in self._later.values())

    def write(self, connection: Connection) -> int:
        """Write the saves and other writes kept since the last write, in the caller's transaction;
        how many saves."""
        rows = [self._unsaved[key] for key in sorted(self._unsaved)]  # one order for every writer
        if rows:
            _upsert(connection, rows)
        together: dict[str, tuple[Callable[[Connection, list[str]], object], list[str]]] = {}
        for key in sorted(self._later):
            for name, write in self._later[key].items():
                first, keys = together.setdefault(name, (write, []))
                if first != write:  # one call writes them all: a second writer would be skipped
                    raise ValueError(f"two writers of {name!r} in one batch")
                keys.append(key)
        for name in sorted(together):
            write, keys = together[name]
            write(connection, keys)
        self._unsaved.clear()
        self._later.clear()
        return len(rows)

    def snapshot(self, session_key: str) -> tuple[Any, dict[str, Any] | None, dict[str, Any]]:
        """Where a conversation stands in this batch, for :meth:`restore`."""
        return (self._rows.get(session_key, _NOT_HELD), self._unsaved.get(session_key),
                dict(self._later.get(session_key, {})))

    def restore(self, session_key: str, snapshot: tuple[Any, dict[str, Any] | None, dict[str, Any]]) -> None:
        """Undo what was kept for a conversation since :meth:`snapshot` (its message failed)."""
        row, unsaved, later = snapshot
        self._later.pop(session_key, None)
        if later:
            self._later[session_key] = later
        if row is _NOT_HELD:
            self._rows.pop(session_key, None)
        else:
            self._rows[session_key] = row
        if unsaved is None:
            self._unsaved.pop(session_key, None)
        else:
            self._unsaved[session_key] = unsaved

    def forget(self, session_keys: Iterable[str]) -> None:
        """Drop what this batch holds for these keys (their saves were not written): the next load
        reads the database again."""
        for key in session_keys:
            self._unsaved.pop(key, None)
            self._later.pop(key, None)
            self._rows.pop(key, None)


def held() -> Batch | None:
    """The batch this thread handles messages in, if any."""
    return _current.get()


@contextmanager
def batch(engine: Engine, channel: str, session_keys: Iterable[str]) -> Iterator[Batch]:
    """Hold these conversations for a batch, on this thread; saves not written by the end are lost."""
    held = Batch(engine, channel, session_keys)
    token = _current.set(held)
    try:
        yield held
    finally:
        _current.reset(token)


def _upsert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if connection.dialect.name == "postgresql":
        # One statement for a batch's saves (executemany runs one a row on the server), the rows as
        # arrays; their session keys differ, so no row is saved twice.
        params = {f"{key}s": text_array([row[key] for row in rows]) for key in _TEXT_COLUMNS}
        _SAVE_MANY_POSTGRES.execute(connection, params | {
            "updated_at_nss": int_array([row["updated_at_ns"] for row in rows])})
        return
    _UPSERT_SQLITE.execute_many(connection, rows)


def _upsert_sqlite() -> Prepared:
    statement = sqlite.insert(conversations).values(
        {key: bindparam(key) for key in ("channel", "session_key", "msisdn", "state", "updated_at_ns",
                                         "updated_day")})
    return Prepared(statement.on_conflict_do_update(
        index_elements=["channel", "session_key"],
        set_={"state": statement.excluded.state, "updated_at_ns": statement.excluded.updated_at_ns,
              "updated_day": statement.excluded.updated_day, "msisdn": statement.excluded.msisdn}))


# The hot statements, made once: a conversation is read and saved at every message.
_ONE = Prepared(select(conversations.c.state, conversations.c.updated_at_ns).where(
    conversations.c.channel == bindparam("channel"), conversations.c.session_key == bindparam("key")))
_SOME = Prepared(select(
    conversations.c.session_key, conversations.c.state, conversations.c.updated_at_ns
).where(
    conversations.c.channel == bindparam("channel"),
    conversations.c.session_key.in_(bindparam("keys", expanding=True))))
# PostgreSQL: one probe of the primary key a conversation (a LATERAL subquery with a LIMIT is never
# flattened into the outer query: it runs once a key). As a join, a plan made while the table had no
# statistics yet (a fresh database, and so every benchmark) took ``channel = …`` for rare, walked every
# conversation of the channel and kept the batch's: a million rows a batch at a million customers
# (docs/scaling.md).
_SOME_POSTGRES = Prepared(text(
    "SELECT k.session_key, s.state, s.updated_at_ns FROM unnest(CAST(:keys AS TEXT[])) AS k(session_key)"
    " CROSS JOIN LATERAL (SELECT c.state, c.updated_at_ns FROM chat_conversations c"
    " WHERE c.channel = CAST(:channel AS VARCHAR) AND c.session_key = k.session_key LIMIT 1) AS s"))
_UPSERT_SQLITE = _upsert_sqlite()
_TEXT_COLUMNS = ("channel", "session_key", "msisdn", "state")
# PostgreSQL: the conversations that exist are updated, the others inserted (the day as
# sika.chat.schema.day_of counts it, DAY_NS written out). An upsert of an existing
# row locks it (a record in the log) before it updates it (another); an update is one.
_SAVE_MANY_POSTGRES = Prepared(text(
    "WITH v AS (SELECT * FROM unnest(CAST(:channels AS TEXT[]), CAST(:session_keys AS TEXT[]),"
    " CAST(:msisdns AS TEXT[]), CAST(:states AS TEXT[]), CAST(:updated_at_nss AS BIGINT[]))"
    " AS v(channel, session_key, msisdn, state, at)),"
    " saved AS (UPDATE chat_conversations c SET state = v.state, updated_at_ns = v.at,"
    " updated_day = v.at / 86400000000000, msisdn = v.msisdn FROM v"
    " WHERE c.channel = v.channel AND c.session_key = v.session_key RETURNING c.channel, c.session_key)"
    " INSERT INTO chat_conversations (channel, session_key, msisdn, state, updated_at_ns, updated_day)"
    " SELECT v.channel, v.session_key, v.msisdn, v.state, v.at, v.at / 86400000000000 FROM v"
    " WHERE NOT EXISTS (SELECT 1 FROM saved s WHERE s.channel = v.channel AND s.session_key = v.session_key)"
    " ON CONFLICT (channel, session_key) DO UPDATE SET state = excluded.state,"
    " updated_at_ns = excluded.updated_at_ns, updated_day = excluded.updated_day, msisdn = excluded.msisdn"))
assert DAY_NS == 86_400_000_000_000
