"""Recovery and what reconciliation looks at: movements a crash left ``processing``, finished once they
are older than the grace period (a job), and the movements an operator should see (``sika
reconcile``, the console).
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from sika.payments.movements import Movement, Status, movement_from_row
from sika.payments.schema import movements
from sika.payments.settlement import Movements

__all__ = ["PAGE_LIMIT_MAX", "SWEEP_MAX", "Recovery"]

PAGE_LIMIT_MAX = 200
SWEEP_MAX = 100


class Recovery:
    def __init__(self, engine: Engine, movements: Movements) -> None:
        self._engine = engine
        self._movements = movements

    def stuck(self, *, limit: int = PAGE_LIMIT_MAX) -> list[Movement]:
        """What reconciliation looks at: pending past its deadline, processing past the grace,
        provider successes after a void, provider payments our limits refused, and failed ones their
        kind says need an operator (a card charged for a ride, say)."""
        now = self._movements.now_ns()
        with self._engine.connect() as connection:
            rows = list(connection.execute(
                select(movements).where(
                    ((movements.c.status == Status.PENDING) & (movements.c.deadline_ns < now))
                    | ((movements.c.status == Status.PROCESSING)
                       & (movements.c.updated_at_ns < now - self._movements.grace_ns))
                ).order_by(movements.c.created_at_ns).limit(limit)).mappings())
            rows += list(connection.execute(
                select(movements).where(movements.c.status == Status.FAILED,
                                        movements.c.provider.is_not(None))
                .order_by(movements.c.created_at_ns.desc()).limit(limit * 5)).mappings())
        found = [movement_from_row(row) for row in rows]
        kinds = self._movements.kinds
        return [m for m in found if m.status is not Status.FAILED
                or "late_outcome" in m.details or m.details.get("refund_required")
                or kinds.of(m.kind).needs_attention(m)][:limit]

    def recover(self, limit: int = SWEEP_MAX) -> int:
        """Finish movements left ``processing`` by a crash, once they are older than the grace."""
        cutoff = self._movements.now_ns() - self._movements.grace_ns
        with self._engine.connect() as connection:
            ids = connection.execute(
                select(movements.c.id).where(movements.c.status == Status.PROCESSING,
                                             movements.c.updated_at_ns < cutoff)
                .order_by(movements.c.updated_at_ns).limit(limit)
            ).scalars().all()
        for found in ids:
            self._movements.finish(self._movements.get(found))
        return len(ids)
