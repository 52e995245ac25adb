"""The trip state machine, in one place.

::

    requested ──assign──────────> driver_assigned ──arrive──> driver_arrived ──start──> in_progress
        │                              │   ▲                      │   ▲                       │
        │                              │   └──driver_cancel───────┘   │                       complete
        │                              └──driver_cancel──> requested ─┘                       ▼
        ├──no_driver──> no_driver_found                                                  completed
        └──cancel (rider or system) from requested, driver_assigned or driver_arrived ──> cancelled

A driver who cancels does not end the trip: it goes back to ``requested`` and the search resumes
(the driver's cancellation is counted). A rider who cancels more than the city's
``late_cancel_after_s`` after a driver was assigned pays the late-cancellation fee. A trip in progress
is finished, never cancelled: the fare covers what was ridden.
"""

from __future__ import annotations

import enum

from sika.errors import SikaError

__all__ = ["Event", "IllegalTransition", "TripStatus", "next_status"]


class TripStatus(enum.StrEnum):
    REQUESTED = "requested"
    DRIVER_ASSIGNED = "driver_assigned"
    DRIVER_ARRIVED = "driver_arrived"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_DRIVER_FOUND = "no_driver_found"

    @property
    def final(self) -> bool:
        return self in (TripStatus.COMPLETED, TripStatus.CANCELLED, TripStatus.NO_DRIVER_FOUND)


class Event(enum.StrEnum):
    ASSIGN = "assign"
    ARRIVE = "arrive"
    START = "start"
    COMPLETE = "complete"
    CANCEL = "cancel"
    DRIVER_CANCEL = "driver_cancel"
    NO_DRIVER = "no_driver"


class IllegalTransition(SikaError):
    code = "illegal_transition"


_S, _E = TripStatus, Event
TRANSITIONS: dict[tuple[TripStatus, Event], TripStatus] = {
    (_S.REQUESTED, _E.ASSIGN): _S.DRIVER_ASSIGNED,
    (_S.REQUESTED, _E.NO_DRIVER): _S.NO_DRIVER_FOUND,
    (_S.REQUESTED, _E.CANCEL): _S.CANCELLED,
    (_S.DRIVER_ASSIGNED, _E.ARRIVE): _S.DRIVER_ARRIVED,
    (_S.DRIVER_ASSIGNED, _E.DRIVER_CANCEL): _S.REQUESTED,
    (_S.DRIVER_ASSIGNED, _E.CANCEL): _S.CANCELLED,
    (_S.DRIVER_ARRIVED, _E.START): _S.IN_PROGRESS,
    (_S.DRIVER_ARRIVED, _E.DRIVER_CANCEL): _S.REQUESTED,
    (_S.DRIVER_ARRIVED, _E.CANCEL): _S.CANCELLED,
    (_S.IN_PROGRESS, _E.COMPLETE): _S.COMPLETED,
}


def next_status(current: TripStatus | str, event: Event) -> TripStatus:
    """Where ``event`` takes a trip in ``current``, or :class:`IllegalTransition`."""
    status = TripStatus(current)
    found = TRANSITIONS.get((status, event))
    if found is None:
        raise IllegalTransition(f"a trip that is {status} cannot {event.replace('_', ' ')}")
    return found
