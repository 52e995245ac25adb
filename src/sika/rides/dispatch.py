"""Dispatch policy: who is offered a trip, in what order, and when to look further.

Pure decisions over a :class:`~sika.rides.index.LocationIndex` and a :class:`~sika.rides.geo.Router`,
with no database and no clock of its own, so that the live service and the city simulator run the very
same code:

- :func:`rank` lists the drivers near a pickup, nearest *by pickup ETA* first (straight-line distance
  times a detour factor divided by the city's speed, or a routing engine's answer);
- :class:`Search` walks a trip's dispatch: offers go out in small batches to drivers not asked before,
  the radius widens step by step when nobody is left, and the search ends (no driver found) after the
  widest radius;
- :func:`decide` is the dispatch *decision* itself: given the drivers near a pickup, what each is doing
  (:class:`DriverState`: busy, holding another offer, hours online, fasting) and the city's hours rule,
  which of them get the offer now, or whether the trip should wait for a driver about to be free;
- :func:`assign_batch` assigns all waiting requests to free drivers at once, minimising the total
  pickup time (an assignment problem, solved with scipy's ``linear_sum_assignment``), which lowers the
  average wait compared with serving requests one by one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from sika.rides.cities import City
from sika.rides.geo import Point, Router
from sika.rides.hours import HoursRule
from sika.rides.index import LocationIndex

__all__ = ["Candidate", "Decision", "DriverState", "Search", "TripFacts", "Verdict", "assign_batch", "decide",
           "offerable", "rank", "verdict"]

CANDIDATES_MAX = 50
# The most drivers one search looks at, busy ones included.
_NEAREST_MAX = 5_000
# A pairing slower than this is not worth making: the rider would rather wait for the next round.
_INFEASIBLE = 1e9


@dataclass(frozen=True, slots=True)
class Candidate:
    driver_id: int
    distance_m: float
    eta_s: float


def rank(pickup: Point, *, index: LocationIndex, router: Router, speed_kmh: float, radius_m: float,
         now_s: float, max_age_s: float, exclude: Iterable[int] = (),
         available: Callable[[int], bool] | None = None, limit: int = CANDIDATES_MAX) -> list[Candidate]:
    """Drivers within ``radius_m`` of ``pickup`` whose location is fresh, fastest to arrive first."""
    skip = set(exclude)
    # Busy or already-asked drivers stay in the index: ask for more until enough free ones are found
    # or the index has nobody else within the radius.
    k = limit + len(skip)
    while True:
        near = index.nearest(pickup, k=k, radius_m=radius_m, now_s=now_s, max_age_s=max_age_s)
        found: list[Candidate] = []
        for driver_id, distance_m in near:
            if driver_id in skip or (available is not None and not available(driver_id)):
                continue
            position = index.position(driver_id)
            if position is None:
                continue
            found.append(Candidate(driver_id, distance_m, router.eta_s(position, pickup, speed_kmh)))
        if len(found) >= limit or len(near) < k or k >= _NEAREST_MAX:
            break
        k = min(k * 4, _NEAREST_MAX)
    found.sort(key=lambda c: (c.eta_s, c.driver_id))
    return found[:limit]


@dataclass
class Search:
    """One trip's dispatch: which radius it is at and whom it has asked."""

    radii_m: Sequence[int]
    batch: int
    step: int = 0
    asked: set[int] = field(default_factory=set)
    rounds: int = 0

    @property
    def radius_m(self) -> int:
        return self.radii_m[min(self.step, len(self.radii_m) - 1)]

    @property
    def exhausted(self) -> bool:
        return self.step >= len(self.radii_m)

    def next_offers(self, pickup: Point, *, index: LocationIndex, router: Router, speed_kmh: float,
                    now_s: float, max_age_s: float,
                    available: Callable[[int], bool] | None = None) -> list[Candidate]:
        """The next batch to offer the trip to, widening the radius as needed; [] when exhausted."""
        while not self.exhausted:
            found = rank(pickup, index=index, router=router, speed_kmh=speed_kmh, radius_m=self.radius_m,
                         now_s=now_s, max_age_s=max_age_s, exclude=self.asked, available=available,
                         limit=self.batch)
            if found:
                self.asked.update(c.driver_id for c in found)
                self.rounds += 1
                return found
            self.step += 1
        return []


class Verdict(enum.StrEnum):
    """Why a driver near a pickup is, or is not, offered the trip."""

    OFFER = "offer"
    BUSY = "busy"          # holds a trip
    OFFERED = "offered"    # holds another trip's offer (see :class:`DriverState`)
    RESTING = "resting"    # resting after reaching the hours cap
    CAPPED = "capped"      # the trip would end past the driver's hours cap
    IFTAR = "iftar"        # fasting, and a long trip in the minutes before Maghrib


@dataclass(frozen=True, slots=True)
class DriverState:
    """What dispatch knows of one online driver.

    ``offered``: the driver holds an unanswered offer for another trip. Such a driver is not offered a
    second one: a moto driver reads one request at a time on a phone, a second offer makes both trips wait
    on the same person (only one can win, the other rider waits the full timeout for nothing), and the
    batch goes to drivers who can actually answer. The trip *waits* for that driver rather than failing
    (:attr:`Decision.wait`): the offer is answered or expires within seconds.
    """

    busy: bool = False
    offered: bool = False
    online_s_24: float = 0.0
    resting: bool = False
    fasting: bool = False


@dataclass(frozen=True, slots=True)
class TripFacts:
    """What dispatch knows of the trip: the route, the longest pickup it would ask for, and whether it is
    the guard before Maghrib on a Ramadan day in the trip's city."""

    route_m: float
    route_s: float
    pickup_s_max: float
    before_iftar: bool = False

    @classmethod
    def of(cls, city: City, speed_kmh: float, *, route_m: float, before_iftar: bool = False) -> TripFacts:
        """A trip of ``route_m`` in ``city``: the pickup at the longest is the offer's timeout plus the ride
        from the edge of the widest search radius."""
        speed_ms = speed_kmh / 3.6
        pickup_s_max = city.offer_timeout_s + city.search_radii_m[-1] * city.detour_factor / speed_ms
        return cls(route_m=route_m, route_s=route_m / speed_ms, pickup_s_max=pickup_s_max,
                   before_iftar=before_iftar)


def verdict(state: DriverState, trip: TripFacts, rule: HoursRule) -> Verdict:
    """The one rule both the live service and the simulator apply to each driver near a pickup."""
    if state.busy:
        return Verdict.BUSY
    if state.offered:
        return Verdict.OFFERED
    if state.resting:
        return Verdict.RESTING
    # No offer past the cap: the trip, pickup included (at the longest), must end within it.
    if state.online_s_24 + trip.pickup_s_max + trip.route_s > rule.cap_s(fasting=state.fasting):
        return Verdict.CAPPED
    if state.fasting and trip.before_iftar and trip.route_m > rule.fasting_long_trip_km * 1_000:
        return Verdict.IFTAR
    return Verdict.OFFER


@dataclass(frozen=True, slots=True)
class Decision:
    offers: list[Candidate]
    # Nobody to offer now, but a driver near holds another trip's offer: ask again shortly, do not give up.
    wait: bool = False


StateOf = Callable[[int], DriverState | None]


def offerable(state_of: StateOf | Mapping[int, DriverState], trip: TripFacts, rule: HoursRule
              ) -> Callable[[int], bool]:
    """``driver_id -> bool``: may this driver be offered ``trip``? (None from ``state_of``: no.)"""
    lookup = state_of.get if isinstance(state_of, Mapping) else state_of

    def may_offer(driver_id: int) -> bool:
        state = lookup(driver_id)
        return state is not None and verdict(state, trip, rule) is Verdict.OFFER

    return may_offer


def decide(search: Search, pickup: Point, *, index: LocationIndex, router: Router, speed_kmh: float,
           now_s: float, max_age_s: float, state_of: StateOf | Mapping[int, DriverState], trip: TripFacts,
           rule: HoursRule) -> Decision:
    """Which drivers get the trip's offer now: the next batch of :class:`Search` among those whose
    :func:`verdict` is OFFER (``state_of`` answers None for a driver who cannot take this trip at all:
    offline, another vehicle, the rider). When nobody is left, ``wait`` says whether a driver near only
    holds another offer; the search then stays where it was."""
    lookup = state_of.get if isinstance(state_of, Mapping) else state_of
    may_offer = offerable(lookup, trip, rule)

    def held(driver_id: int) -> bool:
        state = lookup(driver_id)
        return (state is not None and state.offered
                and verdict(DriverState(online_s_24=state.online_s_24, resting=state.resting,
                                        fasting=state.fasting), trip, rule) is Verdict.OFFER)

    step = search.step
    offers = search.next_offers(pickup, index=index, router=router, speed_kmh=speed_kmh, now_s=now_s,
                                max_age_s=max_age_s, available=may_offer)
    if offers:
        return Decision(offers)
    waiting = rank(pickup, index=index, router=router, speed_kmh=speed_kmh, radius_m=search.radii_m[-1],
                   now_s=now_s, max_age_s=max_age_s, exclude=search.asked, available=held, limit=1)
    if waiting:
        search.step = step
    return Decision([], wait=bool(waiting))


def assign_batch(requests: Sequence[tuple[int, Point]], drivers: Sequence[tuple[int, Point]], *,
                 router: Router, speed_kmh: float, max_eta_s: float) -> list[tuple[int, int, float]]:
    """Pair waiting requests with free drivers, minimising the total pickup time.

    Returns (request id, driver id, ETA in seconds) for every pairing faster than ``max_eta_s``; each
    request and each driver appears at most once.
    """
    if not requests or not drivers:
        return []
    # Imported here: scipy.optimize pulls in most of scipy, half a second that every `sika` command
    # (and every worker) would pay at start for a call only a dispatching process makes.
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415

    cost = np.full((len(requests), len(drivers)), _INFEASIBLE)
    for i, (_, pickup) in enumerate(requests):
        for j, (_, position) in enumerate(drivers):
            eta = router.eta_s(position, pickup, speed_kmh)
            if eta <= max_eta_s:
                cost[i, j] = eta
    rows, cols = linear_sum_assignment(cost)
    return [(requests[i][0], drivers[j][0], float(cost[i, j]))
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True) if cost[i, j] < _INFEASIBLE]
