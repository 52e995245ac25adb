"""One bill, paid once: a claim per biller, reference and period, in the database.

A postpaid bill (TdE water: the biller's quote names its ``period``) may be paid once. Before its
money is held, the purchase inserts a claim keyed by (biller, reference, period); the key is the
arbiter, so that two requests in two processes cannot both pay it. The claim stands while its
movement is pending or completed; it is taken over by a new payment when its movement failed, or
when no movement was ever written for it (a crash between the claim and the movement) and it is
older than ``stale_s``. Prepaid products (CEET tokens, airtime, bundles, Canal+ renewals) name no
period and are not claimed: buying twice is what a customer may mean.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from sika.db import begin, connect
from sika.errors import SikaError
from sika.payments.movements import Status
from sika.payments.schema import bill_claims

__all__ = ["PERIOD_CHARS_MAX", "BillAlreadyPaid", "BillClaims"]

PERIOD_CHARS_MAX = 40
_NS = 1_000_000_000
# Longer than any request that writes its movement right after its claim.
STALE_S = 120
_TRIES_MAX = 3


class BillAlreadyPaid(SikaError):
    """This bill is paid, or being paid, by another payment."""

    code = "bill_already_paid"


class BillClaims:
    def __init__(self, engine: Engine, status_of: Callable[[str], Status | None], *,
                 clock_ns: Callable[[], int] = time.time_ns, stale_s: int = STALE_S) -> None:
        self._engine = engine
        self._status_of = status_of
        self._clock_ns = clock_ns
        self._stale_ns = stale_s * _NS

    def claim(self, provider: str, reference: str, period: str, movement_id: str, amount: int) -> None:
        """Claim the bill for ``movement_id``, or raise :class:`BillAlreadyPaid`."""
        assert 0 < len(period) <= PERIOD_CHARS_MAX, period
        key = (bill_claims.c.provider == provider) & (bill_claims.c.reference == reference) \
            & (bill_claims.c.period == period)
        for _ in range(_TRIES_MAX):  # a claim released between our insert and our read: insert again
            now = self._clock_ns()
            try:
                with begin(self._engine) as connection:
                    connection.execute(insert(bill_claims).values(
                        provider=provider, reference=reference, period=period, movement_id=movement_id,
                        amount=amount, created_at_ns=now))
                return
            except IntegrityError:
                pass
            with connect(self._engine) as connection:
                row = connection.execute(select(bill_claims).where(key)).mappings().first()
            if row is None:
                continue
            holder = str(row["movement_id"])
            if holder == movement_id:
                return
            status = self._status_of(holder)
            abandoned = status is None and row["created_at_ns"] < now - self._stale_ns
            if status is not Status.FAILED and not abandoned:
                break
            with begin(self._engine) as connection:
                taken = connection.execute(
                    update(bill_claims).where(key, bill_claims.c.movement_id == holder)
                    .values(movement_id=movement_id, amount=amount, created_at_ns=now)).rowcount
            if taken:
                return
        raise BillAlreadyPaid(f"this bill ({period}) is paid or being paid already")

    def release(self, movement_id: str) -> None:
        """The movement failed: its bill may be paid again."""
        with begin(self._engine) as connection:
            connection.execute(delete(bill_claims).where(bill_claims.c.movement_id == movement_id))
