"""A city's moto-taxi service as a discrete-event simulation (SimPy), dispatched by the real code.

One run: ``drivers`` drivers start online at random points of the city's service area; riders ask for
trips as a Poisson process that follows a day's profile (:mod:`sika.rides.demand`) for ``hours``
hours from a local ``start_hour``; each request is dispatched by :func:`sika.rides.dispatch.decide` (the
very decision the live service takes: who may be offered a trip, given who is busy, who holds another
offer, their hours and fasting mode) over an :class:`~sika.rides.index.H3Index`, and moves through
:func:`sika.rides.trips.next_status`, so that an illegal transition fails the run. After the last
request the simulation runs on until every request is resolved; driver-time is counted over the
``hours`` only.

The day is a working day or a Ramadan day (``profile``); with ``fatigue`` on the drivers follow the
city's hours rule (:mod:`sika.rides.simulation_fleet`).

Dispatch policies:

- ``greedy``: each request gets a :class:`~sika.rides.dispatch.Search`; offers go out in batches of
  ``city.offer_batch`` to ranked candidates; each offered driver accepts with ``accept_probability``
  after a response delay drawn in [``response_s_min``, ``response_s_max``] (below the offer timeout)
  or lets the offer lapse; the first acceptance wins and the other offers lapse; with no acceptance
  the search goes on when the timeout passes (next batch, then a wider radius); when the only drivers
  near hold another trip's offer, the request waits ``batch_interval_s`` (a dispatch tick) and asks
  again, as the live service does. When the search is
  exhausted, the rider retries a minute later with probability ``retry_probability``, or gives up
  (``no_driver``). A retry is what it is in the live service, a new booking: a new search from the
  nearest ring, among every driver near (those who let the first search's offers lapse included).
- ``batch``: every ``batch_interval_s`` seconds, :func:`~sika.rides.dispatch.assign_batch` pairs all
  waiting requests with the free drivers ranked within the widest search radius of any of them; each
  paired driver accepts with the same probability and delay; an offer that lapses returns the request
  to the pool, and that driver is not paired with it again.

Riders cancel (``patience``) when no driver has been assigned after a patience drawn in
[``patience_s_min``, ``patience_s_max``] (checked between offers: an offer in flight is answered).

States:

- a driver is *offline*, *free* (in the index, offered trips), *offered* (holds one offer: the decision
  gives no other) or *busy* (going to a pickup or carrying a rider: never given a second trip);
- a request follows :class:`~sika.rides.trips.TripStatus`: ``requested`` → ``driver_assigned`` →
  ``driver_arrived`` → ``in_progress`` → ``completed``, or ``requested`` → ``cancelled`` (patience)
  or ``no_driver_found``.

Free drivers send their position every ``update_interval_s`` (as the drivers' app does), so that none
is older than the city's ``location_max_age_s``. A busy driver sends none (the simulation does not move
drivers along their route), so it leaves the index and re-enters at its drop-off point.

Deterministic: one seeded :class:`numpy.random.Generator` draws everything, in SimPy's event order,
and every collection is iterated in a fixed order; there is no wall clock.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import simpy

from sika.rides.demand import PROFILES, DemandModel
from sika.rides.dispatch import (
    CANDIDATES_MAX,
    Candidate,
    Decision,
    Search,
    TripFacts,
    assign_batch,
    decide,
    offerable,
    rank,
)
from sika.rides.geo import Point, StraightLineRouter, haversine_m
from sika.rides.index import H3Index
from sika.rides.simulation_config import (
    DRIVERS_DEFAULT,
    POLICIES,
    REQUESTS_PER_HOUR_DEFAULT,
    InvalidSimulation,
    SimulationConfig,
)
from sika.rides.simulation_config import (
    PROFILES as PROFILE_NAMES,
)
from sika.rides.simulation_fleet import Fleet, SimDriver
from sika.rides.trips import Event, TripStatus, next_status

__all__ = [
    "DRIVERS_DEFAULT",
    "POLICIES",
    "PROFILE_NAMES",
    "REQUESTS_PER_HOUR_DEFAULT",
    "InvalidSimulation",
    "Pickup",
    "SimRequest",
    "Simulation",
    "SimulationConfig",
    "SimulationResult",
    "simulate",
    "trips_held_max",
    "wait_by_hour",
]

RETRIES_MAX = 15
# After the last request, every request resolves within patience + the longest trip; this bounds it.
_DRAIN_S_MAX = 6 * 3_600.0
_PROGRESS_STEPS = 100

Progress = Callable[[float], None]
Process = Generator[simpy.events.Event, Any, None]


class Pickup(NamedTuple):
    """When a rider asked, when a driver accepted, when the driver reached the pickup (seconds)."""

    requested_s: float
    assigned_s: float
    arrived_s: float

    @property
    def wait_s(self) -> float:
        return self.arrived_s - self.requested_s


@dataclass(frozen=True, slots=True)
class SimulationResult:
    config: SimulationConfig
    requests: int
    completed: int
    cancellations: dict[str, int]
    # Every rider picked up, in order of pickup.
    pickups: list[Pickup]
    busy_s: float
    offers: int
    offers_accepted: int
    # The audit: the most trips any driver held at once, from the recorded intervals (must be 1).
    trips_held_max: int
    end_s: float
    # The most hours any driver was online in any 24 hours of the run.
    driver_online_h_max: float = 0.0

    @property
    def completed_ratio(self) -> float:
        return self.completed / self.requests if self.requests else 0.0

    @property
    def driver_utilization(self) -> float:
        return self.busy_s / (self.config.drivers * self.config.hours * 3_600)

    def wait_s(self) -> dict[str, float | None]:
        """Mean and percentiles of the wait, in seconds (``None`` when nobody was picked up)."""
        if not self.pickups:
            return {"mean": None, "p50": None, "p90": None, "p99": None}
        values = np.array([pickup.wait_s for pickup in self.pickups])
        p50, p90, p99 = (float(p) for p in np.percentile(values, [50, 90, 99]))
        return {"mean": float(values.mean()), "p50": p50, "p90": p90, "p99": p99}

    def assign_s_mean(self) -> float | None:
        """How long riders waited for a driver to accept, on average (the rest of the wait is the ride
        to the pickup)."""
        if not self.pickups:
            return None
        total_s = math.fsum(pickup.assigned_s - pickup.requested_s for pickup in self.pickups)
        return total_s / len(self.pickups)

    def as_json(self) -> dict[str, Any]:
        c = self.config
        wait = self.wait_s()
        return {
            "city": c.city.id, "policy": c.policy, "seed": c.seed, "drivers": c.drivers, "hours": c.hours,
            "profile": c.profile, "fatigue": c.fatigue, "day": c.start_day.isoformat(),
            "driver_online_h_max": round(self.driver_online_h_max, 4),
            "requests_per_hour": c.requests_per_hour, "start_hour": c.start_hour,
            "requests": self.requests, "completed": self.completed,
            "completed_ratio": round(self.completed_ratio, 6),
            "cancelled": sum(self.cancellations.values()), "cancellations": dict(self.cancellations),
            **{f"wait_s_{name}": None if value is None else round(value, 3) for name, value in wait.items()},
            "assign_s_mean": None if (assign_s := self.assign_s_mean()) is None else round(assign_s, 3),
            "driver_utilization": round(self.driver_utilization, 6),
            "offers": self.offers, "offers_accepted": self.offers_accepted,
            "trips_held_max": self.trips_held_max,
        }


@dataclass(slots=True)
class SimRequest:
    id: int
    at_s: float
    pickup: Point
    dropoff: Point
    deadline_s: float
    status: TripStatus = TripStatus.REQUESTED
    declined: set[int] = field(default_factory=set)

    def move(self, event: Event) -> None:
        self.status = next_status(self.status, event)


def simulate(config: SimulationConfig, progress: Progress | None = None) -> SimulationResult:
    """Run one simulation; ``progress`` is called with the simulated seconds done, now and then."""
    config.validate()
    return Simulation(config).run(progress)


class Simulation:
    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.city = config.city
        self.speed_kmh = config.city.vehicle(config.vehicle).speed_kmh
        self.horizon_s = config.hours * 3_600
        self.env = simpy.Environment()
        # Three streams from one seed: the city (drivers' starting points) and the riders (when, where,
        # how patient) are the same under every policy, so that policies are compared on the same day;
        # people's answers (accept or not, when, retry or not) come in the order the policy asks.
        city_rng, rider_rng, answer_rng = (np.random.default_rng(s) for s in
                                           np.random.SeedSequence(config.seed).spawn(3))
        self.rider_rng = rider_rng
        self.answer_rng = answer_rng
        self.router = StraightLineRouter(config.city.detour_factor)
        self.index = H3Index(config.index_resolution)
        self.demand = DemandModel(area=config.city.area, detour_factor=config.city.detour_factor,
                                  requests_per_hour=config.requests_per_hour, start_hour=config.start_hour,
                                  profile=PROFILES[config.profile])
        self.fleet = Fleet(config, self.env, self.index, city_rng)
        self.drivers = self.fleet.drivers
        self.pool: dict[int, SimRequest] = {}  # batch policy: requests waiting for a pairing
        self.requests = 0
        self.open = 0
        self.completed = 0
        self.cancellations: Counter[str] = Counter()
        self.pickups: list[Pickup] = []
        self.busy_s = 0.0
        self.offers = 0
        self.offers_accepted = 0
        self.arrivals_done = False
        self.done = self.env.event()

    def run(self, progress: Progress | None) -> SimulationResult:
        self.env.process(self._arrivals())
        self.env.process(self._heartbeats())
        if self.config.policy == "batch":
            self.env.process(self._batch_rounds())
        step_s = self.horizon_s / _PROGRESS_STEPS
        for step in range(1, _PROGRESS_STEPS + 1):
            self.env.run(until=step_s * step)
            if progress is not None:
                progress(step_s * step)
        if not self.done.triggered:
            limit = self.env.timeout(self.horizon_s + _DRAIN_S_MAX - self.env.now)
            self.env.run(until=self.env.any_of([self.done, limit]))
        assert self.done.triggered, "every request resolves within the drain limit"
        assert self.open == 0 and not self.pool
        assert self.requests == self.completed + sum(self.cancellations.values())
        return SimulationResult(
            config=self.config, requests=self.requests, completed=self.completed,
            cancellations=dict(sorted(self.cancellations.items())), pickups=self.pickups, busy_s=self.busy_s,
            offers=self.offers, offers_accepted=self.offers_accepted, trips_held_max=self._audit(),
            end_s=float(self.env.now), driver_online_h_max=self.fleet.online_h_max(),
        )

    # Riders -------------------------------------------------------------------------------------------

    def _arrivals(self) -> Process:
        config = self.config
        while True:
            at_s = self.demand.next_arrival_s(self.env.now, self.rider_rng)
            if at_s >= self.horizon_s:
                break
            yield self.env.timeout(at_s - self.env.now)
            pickup = self.demand.pickup(self.rider_rng)
            dropoff = self.demand.dropoff(pickup, self.rider_rng)
            patience_s = float(self.rider_rng.uniform(config.patience_s_min, config.patience_s_max))
            request = SimRequest(id=self.requests, at_s=at_s, pickup=pickup, dropoff=dropoff,
                               deadline_s=at_s + patience_s)
            self.requests += 1
            self.open += 1
            if config.policy == "greedy":
                self.env.process(self._greedy(request))
            else:
                self.pool[request.id] = request
        self.arrivals_done = True
        self._check_done()

    def _cancel(self, request: SimRequest, reason: str) -> None:
        request.move(Event.NO_DRIVER if reason == "no_driver" else Event.CANCEL)
        self.cancellations[reason] += 1
        self.open -= 1
        self._check_done()

    def _check_done(self) -> None:
        if self.arrivals_done and self.open == 0 and not self.done.triggered:
            self.done.succeed()

    # Drivers ------------------------------------------------------------------------------------------

    def _heartbeats(self) -> Process:
        """Free drivers' apps send their position every ``update_interval_s``."""
        while True:
            yield self.env.timeout(self.config.update_interval_s)
            now = float(self.env.now)
            for driver in self.drivers:
                if driver.trip is None and driver.online:
                    self.index.update(driver.id, driver.position, now)

    def _facts(self, request: SimRequest) -> TripFacts:
        """The trip as dispatch sees it, measured as the live service measures a booked trip."""
        return TripFacts.of(self.city, self.speed_kmh,
                            route_m=haversine_m(request.pickup, request.dropoff) * self.city.detour_factor,
                            before_iftar=self.fleet.before_iftar(float(self.env.now)))

    def _respond(self) -> tuple[bool, float]:
        """One driver's answer to an offer: accepted or not, and when."""
        accepted = float(self.answer_rng.random()) < self.config.accept_probability
        delay_s = float(self.answer_rng.uniform(self.config.response_s_min, self.config.response_s_max))
        self.offers += 1
        self.offers_accepted += accepted
        return accepted, delay_s

    def _assign(self, request: SimRequest, driver: SimDriver) -> None:
        assert driver.trip is None and not driver.offered, "a driver never holds two trips"
        request.move(Event.ASSIGN)
        driver.trip = request.id
        self.index.remove(driver.id)
        self.env.process(self._trip(request, driver))

    def _trip(self, request: SimRequest, driver: SimDriver) -> Process:
        assigned_s = float(self.env.now)
        yield self.env.timeout(self.router.eta_s(driver.position, request.pickup, self.speed_kmh))
        request.move(Event.ARRIVE)
        self.pickups.append(Pickup(request.at_s, assigned_s, float(self.env.now)))
        request.move(Event.START)
        yield self.env.timeout(self.router.eta_s(request.pickup, request.dropoff, self.speed_kmh))
        request.move(Event.COMPLETE)
        dropped_s = float(self.env.now)
        assert driver.trip == request.id
        driver.trips.append((assigned_s, dropped_s))
        self.busy_s += max(0.0, min(dropped_s, self.horizon_s) - min(assigned_s, self.horizon_s))
        driver.position = request.dropoff
        driver.trip = None
        if driver.online:
            self.index.update(driver.id, driver.position, dropped_s)
        self.fleet.release(driver)
        self.completed += 1
        self.open -= 1
        self._check_done()

    def _audit(self) -> int:
        return max((trips_held_max(driver.trips) for driver in self.drivers), default=0)

    # Greedy: one search per request -------------------------------------------------------------------

    def _greedy(self, request: SimRequest) -> Process:
        city, config = self.city, self.config
        search = Search(radii_m=city.search_radii_m, batch=city.offer_batch)
        retries = 0
        while True:
            now = float(self.env.now)
            if now >= request.deadline_s:
                self._cancel(request, "patience")
                return
            decision = self.decide(request, search)
            offers = decision.offers
            if decision.wait:  # the drivers near hold other offers: ask again at the next tick
                yield self.env.timeout(config.batch_interval_s)
                continue
            if not offers:
                if (retries < RETRIES_MAX and now + config.retry_after_s < request.deadline_s
                        and float(self.answer_rng.random()) < config.retry_probability):
                    retries += 1
                    yield self.env.timeout(config.retry_after_s)
                    search = Search(radii_m=city.search_radii_m, batch=city.offer_batch)  # a new booking
                    continue
                self._cancel(request, "no_driver")
                return
            winner, wait_s = self._offer(offers)
            yield self.env.timeout(wait_s)
            for candidate in offers:
                self.drivers[candidate.driver_id].offered = False
            if winner is not None:
                self._assign(request, self.drivers[winner])
            for candidate in offers:
                self.fleet.release(self.drivers[candidate.driver_id])
            if winner is not None:
                return

    def decide(self, request: SimRequest, search: Search) -> Decision:
        """The live service's decision (:func:`~sika.rides.dispatch.decide`) on the simulated city now."""
        city = self.city
        return decide(search, request.pickup, index=self.index, router=self.router, speed_kmh=self.speed_kmh,
                      now_s=float(self.env.now), max_age_s=city.location_max_age_s, state_of=self.fleet.state,
                      trip=self._facts(request), rule=city.hours)

    def _offer(self, offers: list[Candidate]) -> tuple[int | None, float]:
        """Offers to a batch: the first driver to accept and when, or nobody at the timeout."""
        winner: tuple[float, int] | None = None
        for candidate in offers:
            driver = self.drivers[candidate.driver_id]
            assert driver.free
            driver.offered = True
            accepted, delay_s = self._respond()
            if accepted and (winner is None or (delay_s, candidate.driver_id) < winner):
                winner = (delay_s, candidate.driver_id)
        if winner is None:
            return None, float(self.city.offer_timeout_s)
        return winner[1], winner[0]

    # Batch: all waiting requests against all free drivers, every few seconds -------------------------

    def _batch_rounds(self) -> Process:
        while True:
            yield self.env.timeout(self.config.batch_interval_s)
            self._batch_round()

    def _batch_round(self) -> None:
        now = float(self.env.now)
        for request_id in sorted(self.pool):
            if self.pool[request_id].deadline_s <= now:
                self._cancel(self.pool.pop(request_id), "patience")
        if not self.pool:
            return
        requests = [(request_id, self.pool[request_id].pickup) for request_id in sorted(self.pool)]
        radius_m = max(self.city.search_radii_m)
        near: set[int] = set()
        for request_id, pickup in requests:
            may_offer = offerable(self.fleet.state, self._facts(self.pool[request_id]), self.city.hours)
            near.update(c.driver_id for c in rank(
                pickup, index=self.index, router=self.router, speed_kmh=self.speed_kmh, radius_m=radius_m,
                now_s=now, max_age_s=self.city.location_max_age_s, available=may_offer,
                limit=CANDIDATES_MAX))
        drivers = [(driver_id, self.drivers[driver_id].position) for driver_id in sorted(near)]
        max_eta_s = radius_m * self.city.detour_factor / (self.speed_kmh / 3.6)
        pairs = assign_batch(requests, drivers, router=self.router, speed_kmh=self.speed_kmh,
                             max_eta_s=max_eta_s)
        # A driver who let a request's offer lapse is not paired with it again: such requests go to
        # the nearest of the drivers left over, one by one (assign_batch takes no per-request exclusions).
        taken = {driver_id for _, driver_id, _ in pairs}
        again = []
        for request_id, driver_id, _ in sorted(pairs):
            facts = self._facts(self.pool[request_id])
            if (driver_id in self.pool[request_id].declined
                    or not offerable(self.fleet.state, facts, self.city.hours)(driver_id)):
                taken.discard(driver_id)
                again.append(request_id)
            else:
                self._offer_to(request_id, driver_id)
        for request_id in again:
            request = self.pool[request_id]
            may_offer = offerable(self.fleet.state, self._facts(request), self.city.hours)
            left = [(d, p) for d, p in drivers
                    if d not in taken and d not in request.declined and may_offer(d)]
            for _, driver_id, _ in assign_batch([(request_id, request.pickup)], left, router=self.router,
                                                speed_kmh=self.speed_kmh, max_eta_s=max_eta_s):
                taken.add(driver_id)
                self._offer_to(request_id, driver_id)

    def _offer_to(self, request_id: int, driver_id: int) -> None:
        self.env.process(self._batch_offer(self.pool.pop(request_id), self.drivers[driver_id]))

    def _batch_offer(self, request: SimRequest, driver: SimDriver) -> Process:
        assert driver.free
        driver.offered = True
        accepted, delay_s = self._respond()
        yield self.env.timeout(delay_s if accepted else float(self.city.offer_timeout_s))
        driver.offered = False
        if accepted:
            self._assign(request, driver)
        else:
            request.declined.add(driver.id)
            self.pool[request.id] = request
        self.fleet.release(driver)


def wait_by_hour(result: SimulationResult) -> list[tuple[int, float, int]]:
    """(hours since the start, mean wait in seconds, riders) for each simulated hour with pickups, by
    the time of the request."""
    buckets: dict[int, list[float]] = {}
    for pickup in result.pickups:
        buckets.setdefault(int(pickup.requested_s // 3_600), []).append(pickup.wait_s)
    return [(hour, math.fsum(waits) / len(waits), len(waits)) for hour, waits in sorted(buckets.items())]


def trips_held_max(trips: Sequence[tuple[float, float]]) -> int:
    """The most trips held at once, given each trip's (assigned, dropped off) times."""
    # At equal times a drop-off (-1) sorts before an assignment (+1): back-to-back trips do not overlap.
    events = sorted([(start_s, 1) for start_s, _ in trips] + [(end_s, -1) for _, end_s in trips])
    held = held_max = 0
    for _, delta in events:
        held += delta
        held_max = max(held_max, held)
    return held_max
