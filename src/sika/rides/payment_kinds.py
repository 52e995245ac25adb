"""Rides' kinds of movement, and what they mean to payments: registered on the movement runner at
wiring (:func:`register`, by :class:`sika.rides.billing.Billing`) and on statements
(:func:`show_in`, by :mod:`sika.bootstrap`), so that payments itself knows nothing of rides.

The stored names are the ones rides always used (``ride``, ``ride_cash``, ``driver_payout``): existing
rows, receipts and statements read the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from sika.payments.hooks import KindHooks, Kinds
from sika.payments.movements import Kind, Movement
from sika.payments.statement import Party, Statements
from sika.rides.schema import drivers, trips

__all__ = ["DRIVER_PAYOUT", "RIDE", "RIDE_CASH", "register", "show_in"]

RIDE = Kind("ride")                    # a rider's fare: held from the wallet, or charged to a card
RIDE_CASH = Kind("ride_cash")          # the commission on a fare paid in cash: the driver's debt
DRIVER_PAYOUT = Kind("driver_payout")  # a driver's earnings to the wallet, or the debt from it


class _Fare(KindHooks):
    """A fare: its receipts name the fare (kept in the details at capture, or with a cash commission)."""

    def receipt_amount(self, movement: Movement) -> int:
        return int(movement.details.get("fare", movement.amount))

    def needs_attention(self, movement: Movement) -> bool:
        # A card the processor charged (or may have) for a ride whose movement failed: an operator
        # checks whether the rider paid for nothing.
        return movement.kind is RIDE and movement.provider == "card"


def register(kinds: Kinds) -> None:
    fare = _Fare()
    kinds.register(RIDE, fare)
    kinds.register(RIDE_CASH, fare)


class _Trips:
    """A statement page's rides: the trips they paid for, read in one query."""

    def __init__(self, found: Mapping[str, Any]) -> None:
        self._trips = found
        self.people = {int(t.driver) for t in found.values() if t.driver}

    def other(self, m: Movement, people: Mapping[int, Party]) -> Party | None:
        """A fare's other side is the trip's driver; a payout's is Sika."""
        trip = self._trips.get(str(m.details.get("trip"))) if m.kind is RIDE else None
        return people.get(int(trip.driver)) if trip is not None and trip.driver else None

    def subject(self, m: Movement) -> dict[str, str]:
        trip = self._trips.get(str(m.details.get("trip"))) if m.kind is RIDE else None
        return {"trip_status": str(trip.status)} if trip is not None else {}


class _RidesView:
    def read(self, connection: Connection, batch: Sequence[Movement]) -> _Trips:
        trip_ids = [str(m.details["trip"]) for m in batch if m.kind is RIDE and "trip" in m.details]
        found = {row.id: row for row in connection.execute(
            select(trips.c.id, trips.c.status, drivers.c.customer_id.label("driver"))
            .select_from(trips.outerjoin(drivers, drivers.c.id == trips.c.driver_id))
            .where(trips.c.id.in_(trip_ids)))} if trip_ids else {}
        return _Trips(found)


def show_in(statements: Statements) -> None:
    """How statements show fares (the driver, the trip's status) and payouts (from Sika)."""
    view = _RidesView()
    statements.register(RIDE, view)
    statements.register(DRIVER_PAYOUT, view)
