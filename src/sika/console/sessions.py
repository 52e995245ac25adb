"""Console sessions: a random token in an HttpOnly cookie, its SHA-256 digest in the database.

A session ends at logout, after ``IDLE_S`` without a request, and ``ABSOLUTE_S`` after login whatever
happens. Each carries its own CSRF token (the synchronizer-token pattern): every form and every htmx
request sends it back, and a request that changes something without it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from sika.console.operators import Role
from sika.console.schema import sessions

__all__ = ["ABSOLUTE_S", "IDLE_S", "ConsoleSession", "ConsoleSessions", "Principal"]

IDLE_S = 30 * 60
ABSOLUTE_S = 12 * 3600
TOKEN_CHARS_MAX = 128
# last_seen is written at most this often: a page's htmx polling must not write on every request.
_TOUCH_EVERY_NS = 30 * 1_000_000_000
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who acts: ``operator:<id>`` or ``apikey:<id>``, a name to show, a role."""

    actor: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    principal: Principal
    csrf_token: str
    language: str
    expires_at_ns: int

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf_token.encode(), (sent or "").encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, engine: Engine, *, clock_ns: Callable[[], int] = time.time_ns,
                 idle_s: int = IDLE_S, absolute_s: int = ABSOLUTE_S) -> None:
        self._engine = engine
        self._clock_ns = clock_ns
        self._idle_ns = idle_s * _NS
        self._absolute_ns = absolute_s * _NS

    def open(self, principal: Principal, language: str) -> tuple[str, ConsoleSession]:
        """A new session: the cookie's token (shown once, never stored) and the session."""
        token = secrets.token_urlsafe(32)
        now = self._clock_ns()
        session = ConsoleSession(principal=principal, csrf_token=secrets.token_urlsafe(32),
                                 language=language, expires_at_ns=now + self._absolute_ns)
        with self._engine.begin() as connection:
            # Ended sessions are swept as new ones open: the table stays small without a job.
            connection.execute(delete(sessions).where(
                (sessions.c.expires_at_ns <= now) | (sessions.c.last_seen_ns <= now - self._idle_ns)))
            connection.execute(insert(sessions).values(
                token_digest=_digest(token), actor=principal.actor, actor_name=principal.name,
                role=str(principal.role), csrf_token=session.csrf_token, language=language,
                created_at_ns=now, last_seen_ns=now, expires_at_ns=session.expires_at_ns))
        return token, session

    def find(self, token: str | None) -> ConsoleSession | None:
        """The live session behind a cookie's token, or None (unknown, idle too long, too old)."""
        if not token or len(token) > TOKEN_CHARS_MAX:
            return None
        now = self._clock_ns()
        key = _digest(token)
        with self._engine.connect() as connection:
            row = connection.execute(
                select(sessions).where(sessions.c.token_digest == key)).mappings().first()
        if row is None:
            return None
        if row["expires_at_ns"] <= now or row["last_seen_ns"] <= now - self._idle_ns:
            self.close(token)
            return None
        if now - row["last_seen_ns"] >= _TOUCH_EVERY_NS:
            self._update(key, last_seen_ns=now)
        return ConsoleSession(
            principal=Principal(actor=row["actor"], name=row["actor_name"], role=Role(row["role"])),
            csrf_token=row["csrf_token"], language=row["language"], expires_at_ns=row["expires_at_ns"])

    def set_language(self, token: str, language: str) -> None:
        self._update(_digest(token), language=language)

    def close(self, token: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(sessions).where(sessions.c.token_digest == _digest(token)))

    def close_all(self, actor: str) -> int:
        """End every session of an actor (a disabled operator, a revoked key)."""
        with self._engine.begin() as connection:
            return int(connection.execute(delete(sessions).where(sessions.c.actor == actor)).rowcount)

    def _update(self, key: str, **values: Any) -> None:
        with self._engine.begin() as connection:
            connection.execute(update(sessions).where(sessions.c.token_digest == key).values(**values))
