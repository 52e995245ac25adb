"""The audit log: every console action, who did it, when, from where, and how it ended.

Rows are only ever inserted. Logins (refused ones too), logouts, proposals, approvals, rejections and
operational actions all land here; reading pages does not (that would drown the actions).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from sika.console.schema import audit

__all__ = ["Audit", "AuditEntry", "Outcome"]

PAGE_MAX = 200
DETAIL_CHARS_MAX = 2_000
Outcome = str  # "ok", "refused" or "failed"
_OUTCOMES = ("ok", "refused", "failed")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at_ns: int
    actor: str
    actor_name: str
    action: str
    target: str
    outcome: str
    address: str
    detail: dict[str, Any]


class Audit:
    def __init__(self, engine: Engine, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._clock_ns = clock_ns

    def record(self, *, actor: str, actor_name: str, action: str, outcome: Outcome, target: str = "",
               address: str = "", detail: dict[str, Any] | None = None) -> None:
        assert outcome in _OUTCOMES, outcome
        text = json.dumps(detail or {}, separators=(",", ":"), default=str)
        if len(text) > DETAIL_CHARS_MAX:
            text = json.dumps({"truncated": text[:DETAIL_CHARS_MAX - 40]})
        with self._engine.begin() as connection:
            connection.execute(insert(audit).values(
                at_ns=self._clock_ns(), actor=actor[:40], actor_name=actor_name[:80], action=action[:40],
                target=target[:120], outcome=outcome, address=address[:64], detail=text))

    def latest(self, *, limit: int = 50, before_id: int | None = None, actor: str | None = None,
               target: str | None = None) -> list[AuditEntry]:
        assert 0 < limit <= PAGE_MAX
        query = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(audit.c.id < before_id)
        if actor:
            query = query.where(audit.c.actor == actor)
        if target:
            query = query.where(audit.c.target == target)
        with self._engine.connect() as connection:
            return [AuditEntry(id=r["id"], at_ns=r["at_ns"], actor=r["actor"], actor_name=r["actor_name"],
                               action=r["action"], target=r["target"], outcome=r["outcome"],
                               address=r["address"], detail=json.loads(r["detail"]))
                    for r in connection.execute(query).mappings()]
