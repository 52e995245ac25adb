"""What riders and drivers are told about a trip: messages queued in the outbox, by kind and parameters.

The sentences themselves live in the chat catalogs (the outbox's sender renders ``kind`` in the
person's language); here only who is told what, and when. A message is queued in its own transaction
after the change it reports, except a driver's offer, queued in the offer's own transaction
(:meth:`Notices.offer`) so that no offer exists without its message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, select

from sika.payments.outbox import enqueue
from sika.rides.records import Trip
from sika.rides.schema import drivers
from sika.wallet import Customers

__all__ = ["Notices"]


class Notices:
    def __init__(self, engine: Engine, customers: Customers, *, clock_ns: Callable[[], int]) -> None:
        self._engine = engine
        self._customers = customers
        self._clock_ns = clock_ns

    def rider(self, trip: Trip, kind: str, params: dict[str, Any], *, once: bool = False) -> None:
        """``once``: a message a trip has one of (its end): a second try of the same step queues nothing."""
        now = self._clock_ns()
        with self._engine.begin() as connection:
            enqueue(
                connection,
                dedupe_key=f"{trip.id}:{kind}" if once else f"{trip.id}:{kind}:{trip.status}:{now}",
                msisdn=trip.rider_msisdn,
                kind=kind,
                now_ns=now,
                params={"trip": trip.id, **params},
            )

    def driver(self, trip: Trip, driver_id: int, kind: str, params: dict[str, Any], *,
               once: bool = False) -> None:
        now = self._clock_ns()
        # Read before the write transaction: on SQLite a transaction that reads first cannot wait for
        # the write lock another connection holds.
        with self._engine.connect() as connection:
            msisdn = self.driver_msisdn(connection, driver_id)
        with self._engine.begin() as connection:
            enqueue(
                connection,
                dedupe_key=f"{trip.id}:{kind}:driver" if once else f"{trip.id}:{kind}:driver:{now}",
                msisdn=msisdn,
                kind=kind,
                now_ns=now,
                params={"trip": trip.id, **params},
            )

    def offer(self, connection: Connection, trip: Trip, driver_id: int, eta_s: float, now: int) -> None:
        """The driver's ``ride_offer``, queued in ``connection`` (the transaction that writes the offer)."""
        enqueue(
            connection,
            dedupe_key=f"{trip.id}:offer:{driver_id}",
            msisdn=self.driver_msisdn(connection, driver_id),
            kind="ride_offer",
            now_ns=now,
            params={
                "trip": trip.id,
                "eta_min": max(1, round(eta_s / 60)),
                "amount": trip.quoted_fare,
                "payment": trip.payment_method,
            },
        )

    def driver_msisdn(self, connection: Any, driver_id: int) -> str:
        """The driver's number, through the wallet's service (rides keep off the wallet's tables)."""
        customer_id = connection.execute(
            select(drivers.c.customer_id).where(drivers.c.id == driver_id)
        ).scalar_one()
        return self._customers.by_id(int(customer_id)).msisdn
