"""How long stored answers to ``Idempotency-Key`` requests are kept.

The HTTP side (:mod:`sika.api.idempotency`) claims keys and stores answers; this module, free of any
web framework, forgets old ones, so a ``sika worker`` process that prunes them never loads FastAPI.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, select, tuple_

from sika.auth.schema import idempotency
from sika.db import writing

__all__ = ["PRUNE_BATCH_MAX", "prune"]

PRUNE_BATCH_MAX = 1_000


def prune(engine: Engine, *, ttl_s: int, limit: int = PRUNE_BATCH_MAX) -> int:
    """Forget answered keys older than ``ttl_s``, ``limit`` at a time. A key reused after that runs
    again, and finds the movement its id derives from: it still moves the money once."""
    assert 0 < limit <= PRUNE_BATCH_MAX, limit
    cutoff = time.time_ns() - ttl_s * 1_000_000_000
    with writing(engine).begin() as connection:
        old = (select(idempotency.c.scope, idempotency.c.key)
               .where(idempotency.c.created_at_ns < cutoff, idempotency.c.status.is_not(None))
               .limit(limit).subquery())
        return int(connection.execute(delete(idempotency).where(
            tuple_(idempotency.c.scope, idempotency.c.key).in_(select(old.c.scope, old.c.key)))).rowcount)
