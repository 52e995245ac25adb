"""A conversation's state: the flow and step it is at, the answers so far, the choices on screen.

Stored as JSON in ``chat_conversations`` after every message, so a restart (or another process
answering the next message) carries on where it was. A conversation idle for more than
``IDLE_S`` (5 minutes) starts again from the menu.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from sika.chat.schema import conversations

__all__ = ["IDLE_S", "Conversations", "State"]

IDLE_S = 5 * 60
TRAIL_MAX = 20
STATE_BYTES_MAX = 16_384
_NS = 1_000_000_000


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


class Conversations:
    def __init__(self, engine: Engine, *, clock_ns: Callable[[], int] = time.time_ns,
                 idle_s: int = IDLE_S) -> None:
        self._engine = engine
        self._clock_ns = clock_ns
        self._idle_ns = idle_s * _NS

    def load(self, channel: str, session_key: str) -> State:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(conversations.c.state, conversations.c.updated_at_ns)
                .where(conversations.c.channel == channel, conversations.c.session_key == session_key)
            ).first()
        if row is None or self._clock_ns() - row.updated_at_ns > self._idle_ns:
            language = json.loads(row.state).get("language") if row is not None else None
            return State(language=language)
        stored = json.loads(row.state)
        return State(flow=stored["flow"], step=stored["step"], data=stored["data"], trail=stored["trail"],
                     expect=stored["expect"], language=stored.get("language"),
                     channel=stored.get("channel", {}), fresh=False)

    def save(self, channel: str, session_key: str, msisdn: str, state: State) -> None:
        body = asdict(state)
        body.pop("fresh")
        encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        assert len(encoded.encode()) <= STATE_BYTES_MAX, "a conversation's state stays small"
        values = {"channel": channel, "session_key": session_key, "msisdn": msisdn, "state": encoded,
                  "updated_at_ns": self._clock_ns()}
        with self._engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(conversations).values(values)
            connection.execute(statement.on_conflict_do_update(
                index_elements=["channel", "session_key"],
                set_={"state": statement.excluded.state, "updated_at_ns": statement.excluded.updated_at_ns,
                      "msisdn": statement.excluded.msisdn}))

    def forget_idle(self, *, older_than_s: int = 24 * 3600, limit: int = 1_000) -> int:
        """Drop conversations idle for a day (the job keeps the table small)."""
        cutoff = self._clock_ns() - older_than_s * _NS
        with self._engine.begin() as connection:
            old = select(conversations.c.channel, conversations.c.session_key).where(
                conversations.c.updated_at_ns < cutoff).limit(limit).subquery()
            return int(connection.execute(delete(conversations).where(
                conversations.c.updated_at_ns < cutoff,
                conversations.c.session_key.in_(select(old.c.session_key)))).rowcount)
