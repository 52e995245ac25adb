"""Leases: a job that must run in one process at a time (the ride dispatcher, the expiry sweeps, the
pruning) runs where its lease is held.

A process *holds* a lease by taking it when it is free or expired, and keeps it by taking it again
before it expires; a process that stops or dies loses it within its time to live, and another takes
over. The lease lives in Redis (``SIKA_REDIS_URL``: one ``SET NX PX`` key a job, taken and renewed by
a script that checks the holder) or else in the database (``worker_leases``: one conditional upsert),
never in a process's memory. A lease is a matter of efficiency and of one dispatcher at a time, not of
correctness: every job is safe to run twice (see ``sika.workers.runner``).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
from sqlalchemy import Engine, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from sika.coordination.schema import leases as table
from sika.errors import SikaError
from sika.prepared import Prepared

__all__ = ["DatabaseLeases", "LeaseError", "Leases", "RedisLeases", "holder_name", "leases_for"]

NAME_CHARS_MAX = 64
TTL_S_MAX = 3_600.0
_NS = 1_000_000_000


class LeaseError(SikaError):
    code = "lease_unavailable"


class Leases(Protocol):
    def hold(self, name: str, ttl_s: float) -> bool:
        """Take or renew lease ``name`` for ``ttl_s`` seconds; whether this process holds it now."""

    def release(self, name: str) -> None:
        """Give lease ``name`` up if this process holds it."""


def holder_name() -> str:
    """This process, as lease holders are named: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


def _checked(name: str, ttl_s: float) -> None:
    assert 0 < len(name) <= NAME_CHARS_MAX and name.isprintable(), name
    assert 0 < ttl_s <= TTL_S_MAX, ttl_s


def _holds(dialect: Any) -> Prepared:
    """Take the lease when free or expired, renew it when ours; RETURNING a row when held."""
    insert = dialect.insert(table).values(
        name=bindparam("name"), holder=bindparam("holder"), expires_at_ns=bindparam("expires_at_ns"))
    return Prepared(insert.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": insert.excluded.holder, "expires_at_ns": insert.excluded.expires_at_ns},
        where=(table.c.holder == insert.excluded.holder) | (table.c.expires_at_ns < bindparam("now")),
    ).returning(table.c.holder))


# Built once: every worker holds or renews its jobs' leases several times a second.
_HOLDS = {"postgresql": _holds(postgresql), "sqlite": _holds(sqlite)}


class DatabaseLeases:
    """Leases in ``worker_leases``: taken by an upsert that only overwrites an expired row or our own."""

    def __init__(self, engine: Engine, *, holder: str | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self.holder = holder or holder_name()
        self._clock_ns = clock_ns

    def hold(self, name: str, ttl_s: float) -> bool:
        _checked(name, ttl_s)
        now = self._clock_ns()
        values = {"name": name, "holder": self.holder, "expires_at_ns": now + int(ttl_s * _NS), "now": now}
        with self._engine.begin() as connection:
            return _HOLDS[connection.dialect.name].first(connection, values) is not None

    def release(self, name: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(table).where(table.c.name == name, table.c.holder == self.holder))


# Taken when free, renewed when ours; 1 if we hold it now.
_HOLD = """
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLeases:
    """Leases as Redis keys ``<prefix><name>`` holding the holder's name, with a time to live."""

    def __init__(self, redis_url: str, *, prefix: str = "sika:lease:", holder: str | None = None,
                 timeout_s: float = 5.0) -> None:
        self._client: redis.Redis = redis.Redis.from_url(
            redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._prefix = prefix
        self.holder = holder or holder_name()
        self._hold = self._client.register_script(_HOLD)
        self._release = self._client.register_script(_RELEASE)

    def hold(self, name: str, ttl_s: float) -> bool:
        _checked(name, ttl_s)
        try:
            return bool(self._hold(keys=[self._prefix + name], args=[self.holder, int(ttl_s * 1000)]))
        except redis.RedisError as exc:
            raise LeaseError(f"Redis is unreachable for lease {name}: {exc}") from exc

    def release(self, name: str) -> None:
        try:
            self._release(keys=[self._prefix + name], args=[self.holder])
        except redis.RedisError as exc:
            raise LeaseError(f"Redis is unreachable for lease {name}: {exc}") from exc

    def close(self) -> None:
        self._client.close()


def leases_for(redis_url: str | None, engine: Engine) -> DatabaseLeases | RedisLeases:
    """Redis's leases when it is configured, else the database's."""
    return RedisLeases(redis_url) if redis_url else DatabaseLeases(engine)
