"""Rides end to end on a real database: drivers, dispatch, the trip's life, each payment method with
completion and with cancellation, and the races the database must win (PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert

from sika.bootstrap import Container, bootstrap
from sika.chat.i18n import translator
from sika.chat.texts.notifications import render
from sika.config import Settings
from sika.errors import SikaError
from sika.ledger import audit
from sika.payments import new_movement_id, settlement
from sika.payments.settlement import Movements
from sika.rides.geo import Point
from sika.rides.schema import offers
from sika.rides.service import Driver, Rides, Trip
from sika.rides.trips import TripStatus
from sika.wallet import Customer, Pin

PICKUP = Point(6.1319, 1.2228)  # Lomé, Grand marché
DROPOFF = Point(6.1725, 1.2145)  # Lomé, Tokoin
_numbers = itertools.count(10)


class Clock:
    def __init__(self) -> None:
        import time

        self.now_ns = time.time_ns()

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def container(database_url: str, clock: Clock) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    assert built.rides is not None
    built.rides._clock_ns = clock
    yield built
    assert audit.check(built.engine) == []
    built.close()


@pytest.fixture
def rides(container: Container) -> Rides:
    assert container.rides is not None
    return container.rides


def person(container: Container, name: str, cash: int = 0) -> Customer:
    msisdn = f"+228900{next(_numbers):05d}"
    container.customers.open(msisdn, name, pin=Pin("4827"), tier=1)
    if cash:
        agent, _ = container.agents.create(f"Agent for {name}")
        container.payments.credit_float(new_movement_id(), agent, cash)
        container.payments.cash_in(new_movement_id(), agent, msisdn, cash)
    return container.customers.get(msisdn)


def driver(container: Container, rides: Rides, name: str, at: Point, plate: str) -> Driver:
    made = rides.onboard(person(container, name), city_id="lome", vehicle_type="moto", plate=plate)
    rides.set_documents(made.id, "approved")
    rides.update_location(made.id, at)
    return rides.set_online(made.id, online=True)


def book(rides: Rides, trip_id: str, rider: Customer, payment: str, card_token: str | None = None) -> Trip:
    """A moto trip across Lomé, from the Grand marché to Tokoin."""
    return rides.request(
        trip_id,
        rider,
        city_id="lome",
        vehicle_type="moto",
        pickup=PICKUP,
        dropoff=DROPOFF,
        payment_method=payment,
        card_token=card_token,
    )


def balance(container: Container, account_id: int | None) -> int:
    assert account_id is not None
    return container.ledger.get_account(account_id).balance


def offered_to(rides: Rides, driver_id: int) -> list[str]:
    return [str(o["trip_id"]) for o in rides.pending_offers(driver_id)]


def ride(rides: Rides, clock: Clock, driver_id: int, trip_id: str) -> None:
    rides.accept(driver_id, trip_id)
    clock.advance(240)
    rides.arrive(driver_id, trip_id)
    rides.start(driver_id, trip_id)
    clock.advance(600)
    rides.complete(driver_id, trip_id)


def test_a_wallet_trip_holds_then_captures_the_fare_and_splits_it(
    container: Container, rides: Rides, clock: Clock
) -> None:
    kofi = driver(container, rides, "Kofi", Point(6.1330, 1.2240), "TG-1001-AA")
    ama = person(container, "Ama", cash=10_000)
    quote = rides.quote("lome", "moto", PICKUP, DROPOFF)
    assert quote.fare % 25 == 0 and quote.pickup_eta_s is not None and quote.pickup_eta_s < 300
    trip = book(rides, "trip-w1", ama, "wallet")
    account = container.ledger.get_account(ama.account_id or 0)
    assert account.available < account.balance  # the hold
    assert offered_to(rides, kofi.id) == [trip.id]
    ride(rides, clock, kofi.id, trip.id)
    done = rides.trip(trip.id)
    assert done.status is TripStatus.COMPLETED and done.final_fare is not None
    fare = done.final_fare
    commission = fare * 15 // 100
    assert balance(container, ama.account_id) == 10_000 - fare
    assert container.ledger.get_account(ama.account_id or 0).available == 10_000 - fare  # the rest returned
    assert balance(container, kofi.account_id) == fare - commission
    payout = rides.settle_driver(kofi.id)
    assert payout is not None and payout.amount == fare - commission
    assert balance(container, kofi.account_id) == 0
    assert rides.rate(trip.id, by="rider", stars=5, customer_id=ama.id).rider_rating == 5
    with pytest.raises(SikaError, match="rated already"):
        rides.rate(trip.id, by="rider", stars=1, customer_id=ama.id)
    assert rides.driver(kofi.id).rating == 5.0


def test_a_cash_trip_books_the_commission_as_the_drivers_debt(
    container: Container, rides: Rides, clock: Clock
) -> None:
    yao = driver(container, rides, "Yao", Point(6.1330, 1.2240), "TG-1002-AA")
    rider = person(container, "Efua")
    trip = book(rides, "trip-c1", rider, "cash")
    ride(rides, clock, yao.id, trip.id)
    fare = rides.trip(trip.id).final_fare or 0
    assert balance(container, yao.account_id) == -(fare * 15 // 100)
    # The debt is settled from the driver's wallet when it holds money.
    wallet = container.customers.by_id(yao.customer_id)
    agent, _ = container.agents.create("Agent Bè")
    container.payments.credit_float(new_movement_id(), agent, 50_000)
    container.payments.cash_in(new_movement_id(), agent, wallet.msisdn, 5_000)
    settled = rides.settle_driver(yao.id)
    assert settled is not None and settled.amount == fare * 15 // 100
    assert balance(container, yao.account_id) == 0


def test_a_card_trip_is_charged_through_the_processor(
    container: Container, rides: Rides, clock: Clock
) -> None:
    esi = driver(container, rides, "Esi", Point(6.1330, 1.2240), "TG-1003-AA")
    rider = person(container, "Komla")
    trip = book(rides, "trip-k1", rider, "card", card_token="tok_visa_4242")
    ride(rides, clock, esi.id, trip.id)
    assert container.purchases.providers.wait_for_callbacks(5.0)
    fare = rides.trip(trip.id).final_fare or 0
    payment = container.payments.get(rides.trip(trip.id).payment_id or "")
    assert payment.status.value == "completed"
    assert balance(container, esi.account_id) == fare - fare * 15 // 100


def test_cancellations_release_the_hold_or_charge_the_late_fee(
    container: Container, rides: Rides, clock: Clock
) -> None:
    kafui = driver(container, rides, "Kafui", Point(6.1330, 1.2240), "TG-1004-AA")
    rider = person(container, "Akua", cash=10_000)
    early = book(rides, "trip-x1", rider, "wallet")
    rides.cancel(early.id, by="rider", reason="changed my mind")
    assert rides.trip(early.id).status is TripStatus.CANCELLED
    account = container.ledger.get_account(rider.account_id or 0)
    assert account.balance == account.available == 10_000
    late = book(rides, "trip-x2", rider, "wallet")
    rides.accept(kafui.id, late.id)
    clock.advance(600)  # ten minutes after a driver was assigned
    cancelled = rides.cancel(late.id, by="rider")
    assert cancelled.cancel_fee == 200
    assert balance(container, rider.account_id) == 10_000 - 200
    assert balance(container, kafui.account_id) == 200 - 30
    with pytest.raises(SikaError) as caught:
        rides.start(kafui.id, late.id)
    assert caught.value.code == "illegal_transition"


def test_a_driver_who_cancels_hands_the_trip_to_the_next(
    container: Container, rides: Rides, clock: Clock
) -> None:
    near = driver(container, rides, "Near", Point(6.1322, 1.2231), "TG-1005-AA")
    far = driver(container, rides, "Far", Point(6.1400, 1.2300), "TG-1006-AA")
    rider = person(container, "Dzifa")
    trip = book(rides, "trip-d1", rider, "cash")
    assert offered_to(rides, near.id) == [trip.id]
    rides.accept(near.id, trip.id)
    rides.cancel(trip.id, by="driver", driver_id=near.id, reason="flat tyre")
    again = rides.trip(trip.id)
    assert again.status is TripStatus.REQUESTED and again.driver_id is None
    assert rides.driver(near.id).cancelled == 1
    rides.dispatch_tick()
    assert offered_to(rides, far.id) == [trip.id]
    assert offered_to(rides, near.id) == []


def test_offers_expire_then_the_search_widens_then_gives_up(
    container: Container, rides: Rides, clock: Clock
) -> None:
    slow = driver(container, rides, "Slow", Point(6.1500, 1.2228), "TG-1007-AA")  # about 2 km away
    rider = person(container, "Mawuli", cash=5_000)
    trip = book(rides, "trip-n1", rider, "wallet")
    assert offered_to(rides, slow.id) == [trip.id]  # not within 1 km: found at the next radius
    clock.advance(16)
    rides.update_location(slow.id, Point(6.1500, 1.2228))
    rides.dispatch_tick()  # the offer expired; nobody else anywhere: no driver found
    assert rides.driver(slow.id).timed_out == 1
    assert rides.trip(trip.id).status is TripStatus.NO_DRIVER_FOUND
    account = container.ledger.get_account(rider.account_id or 0)
    assert account.balance == account.available == 5_000


def test_a_trip_is_refused_outside_the_city_and_without_the_documents(
    container: Container, rides: Rides
) -> None:
    rider = person(container, "Selom")
    with pytest.raises(SikaError) as caught:
        rides.request(
            "trip-o1",
            rider,
            city_id="lome",
            vehicle_type="moto",
            pickup=Point(9.55, 1.19),
            dropoff=DROPOFF,
            payment_method="cash",
        )
    assert caught.value.code == "outside_service_area"
    pending = rides.onboard(
        person(container, "New driver"), city_id="lome", vehicle_type="moto", plate="TG 9 XX"
    )
    with pytest.raises(SikaError) as caught:
        rides.set_online(pending.id, online=True)
    assert caught.value.code == "documents_not_approved"


@pytest.mark.postgres
def test_two_drivers_accepting_one_trip_at_once_one_wins(postgres_url: str) -> None:
    container = bootstrap(Settings(database_url=postgres_url, providers="instant"))
    try:
        rides = container.rides
        assert rides is not None
        drivers = [
            driver(container, rides, f"D{i}", Point(6.1320 + i * 1e-4, 1.2229), f"TG-20{i}-AA")
            for i in range(3)
        ]
        rider = person(container, "Rider")
        trip = book(rides, "trip-r1", rider, "cash")
        barrier = threading.Barrier(3)
        outcomes: list[str] = []

        def take(d: Driver) -> None:
            barrier.wait()
            try:
                rides.accept(d.id, trip.id)
                outcomes.append("won")
            except SikaError as exc:
                outcomes.append(exc.code)

        threads = [threading.Thread(target=take, args=(d,)) for d in drivers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("won") == 1 and set(outcomes) <= {"won", "trip_taken", "offer_closed"}, outcomes
        assert rides.trip(trip.id).status is TripStatus.DRIVER_ASSIGNED
    finally:
        container.close()


@pytest.mark.postgres
def test_one_driver_offered_two_trips_gets_one(postgres_url: str) -> None:
    container = bootstrap(Settings(database_url=postgres_url, providers="instant"))
    try:
        rides = container.rides
        assert rides is not None
        only = driver(container, rides, "Only", Point(6.1320, 1.2229), "TG-3001-AA")
        trips = []
        for i in range(2):
            rider = person(container, f"Rider {i}")
            trip = book(rides, f"trip-t{i}", rider, "cash")
            trips.append(trip.id)
        # One offer at a time: the second trip waits for the driver rather than failing.
        assert offered_to(rides, only.id) == [trips[0]]
        assert rides.trip(trips[1]).status is TripStatus.REQUESTED
        # Two dispatchers in two processes can still both offer the driver (each read the driver free):
        # the database keeps one trip for the driver whatever the accepts race.
        with container.engine.begin() as connection:
            connection.execute(insert(offers).values(
                trip_id=trips[1], driver_id=only.id, status="pending", eta_s=60,
                sent_at_ns=time.time_ns(), expires_at_ns=time.time_ns() + 60 * 10**9))
        assert sorted(offered_to(rides, only.id)) == sorted(trips)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def take(trip_id: str) -> None:
            barrier.wait()
            try:
                rides.accept(only.id, trip_id)
                outcomes.append("won")
            except SikaError as exc:
                outcomes.append(exc.code)

        threads = [threading.Thread(target=take, args=(t,)) for t in trips]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["driver_busy", "won"]
        assert rides.active_trip_of_driver(only.id) is not None
    finally:
        container.close()


def test_a_cash_trip_cancelled_costs_nothing_and_a_late_card_cancellation_charges_the_card(
    container: Container, rides: Rides, clock: Clock
) -> None:
    kwame = driver(container, rides, "Kwame", Point(6.1330, 1.2240), "TG-1008-AA")
    rider = person(container, "Adjoa")
    cash = book(rides, "trip-cc1", rider, "cash")
    rides.accept(kwame.id, cash.id)
    clock.advance(600)
    assert rides.cancel(cash.id, by="rider").cancel_fee == 0  # nothing to take a cash fee from
    assert balance(container, kwame.account_id) == 0
    rides.update_location(kwame.id, Point(6.1331, 1.2241))  # ten minutes on: a fresh position
    card = book(rides, "trip-cc2", rider, "card", card_token="tok_visa_4242")
    rides.accept(kwame.id, card.id)
    clock.advance(600)
    assert rides.cancel(card.id, by="rider").cancel_fee == 200
    assert container.purchases.providers.wait_for_callbacks(5.0)
    assert balance(container, kwame.account_id) == 200 - 30
    # The driver was told about the cancellation and about earnings nowhere else.
    driver_msisdn = container.customers.by_id(kwame.customer_id).msisdn
    kinds = [m.kind for m in container.outbox.feed(driver_msisdn)]
    assert kinds.count("ride_cancelled") == 2


def test_two_payouts_at_once_pay_the_earnings_once(container: Container, rides: Rides, clock: Clock) -> None:
    kodjo = driver(container, rides, "Kodjo", Point(6.1330, 1.2240), "TG-1009-AA")
    rider = person(container, "Afi", cash=10_000)
    trip = book(rides, "trip-p1", rider, "wallet")
    ride(rides, clock, kodjo.id, trip.id)
    earned = balance(container, kodjo.account_id)
    assert earned > 0
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def pay() -> None:
        barrier.wait()
        try:
            done = rides.settle_driver(kodjo.id)
            outcomes.append("paid" if done is not None and done.amount else "nothing")
        except SikaError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("paid") == 1, outcomes
    assert balance(container, kodjo.account_id) == 0
    wallet = container.customers.by_id(kodjo.customer_id)
    assert balance(container, wallet.account_id) == earned


def test_a_card_trip_needs_a_valid_saved_card_token(container: Container, rides: Rides) -> None:
    driver(container, rides, "Sena", Point(6.1330, 1.2240), "TG-1010-AA")
    rider = person(container, "Edem")
    for token in ("x", "4242424242424242", "tok_"):
        with pytest.raises(SikaError) as caught:
            book(rides, f"trip-v-{token}", rider, "card", card_token=token)
        assert caught.value.code in ("validation_error", "invalid_reference")
    assert rides.active_trip_of_rider(rider.id) is None


def test_a_locked_pin_stops_a_wallet_booking(container: Container, rides: Rides) -> None:
    from sika.wallet import InvalidPin, PinLocked

    rider = person(container, "Yawa", cash=5_000)
    for _ in range(3):
        with pytest.raises((InvalidPin, PinLocked)):
            container.customers.verify_pin(rider.msisdn, Pin("1357"))
    with pytest.raises(PinLocked):
        book(rides, "trip-l1", container.customers.get(rider.msisdn), "wallet")
    account = container.ledger.get_account(rider.account_id or 0)
    assert account.balance == account.available == 5_000


@pytest.mark.postgres
def test_one_rider_booking_twice_at_once_gets_one_trip_and_one_hold(postgres_url: str) -> None:
    container = bootstrap(Settings(database_url=postgres_url, providers="instant"))
    try:
        rides = container.rides
        assert rides is not None
        driver(container, rides, "Solo", Point(6.1330, 1.2240), "TG-4001-AA")
        rider = person(container, "Twice", cash=10_000)
        barrier = threading.Barrier(4)
        outcomes: list[str] = []

        def attempt(i: int) -> None:
            barrier.wait()
            try:
                book(rides, f"trip-twice-{i}", rider, "wallet")
                outcomes.append("booked")
            except SikaError as exc:
                outcomes.append(exc.code)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("booked") == 1, outcomes
        assert set(outcomes) <= {"booked", "trip_in_progress"}
        trip = rides.active_trip_of_rider(rider.id)
        assert trip is not None
        account = container.ledger.get_account(rider.account_id or 0)
        held = container.payments.get(trip.payment_id or "").amount
        assert account.available == 10_000 - held  # one hold; the losers' holds were given back
        assert audit.check(container.engine) == []
    finally:
        container.close()


def test_a_booking_whose_dispatch_met_a_busy_database_is_offered_when_run_again(
    container: Container, rides: Rides, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API runs a request again by its id when the database was too busy (sika.api.payments):
    the second run finishes what the first started, so the nearby driver gets the offer at once."""
    from sqlalchemy.exc import OperationalError

    kofi = driver(container, rides, "Kofi", Point(6.1330, 1.2240), "TG-1002-AA")
    ama = person(container, "Ama", cash=10_000)
    offer = rides.dispatcher._offer

    def busy(*args: object, **kwargs: object) -> None:
        monkeypatch.setattr(rides.dispatcher, "_offer", offer)
        raise OperationalError("INSERT INTO offers", {}, Exception("database is locked"))

    monkeypatch.setattr(rides.dispatcher, "_offer", busy)
    with pytest.raises(OperationalError):
        book(rides, "trip-b1", ama, "wallet")
    assert offered_to(rides, kofi.id) == []
    trip = book(rides, "trip-b1", ama, "wallet")
    assert offered_to(rides, kofi.id) == [trip.id]
    assert rides.accept(kofi.id, trip.id).status is TripStatus.DRIVER_ASSIGNED


def test_a_completion_whose_payment_met_a_busy_ledger_takes_the_fare_when_the_driver_tries_again(
    container: Container, rides: Rides, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trip ended but the capture failed (the ledger answered ``ledger_busy``): the driver's app
    sends "complete" again, which takes the fare once, and a third try changes nothing."""
    from sika.ledger import LedgerBusy

    kofi = driver(container, rides, "Kofi", Point(6.1330, 1.2240), "TG-1003-AA")
    ama = person(container, "Ama", cash=10_000)
    trip = book(rides, "trip-r1", ama, "wallet")
    rides.accept(kofi.id, trip.id)
    rides.arrive(kofi.id, trip.id)
    rides.start(kofi.id, trip.id)
    clock.advance(600)
    charge = rides.billing.charge

    def busy(*args: object, **kwargs: object) -> None:
        raise LedgerBusy("the ledger's queue is full")

    monkeypatch.setattr(rides.billing, "charge", busy)
    with pytest.raises(LedgerBusy):
        rides.complete(kofi.id, trip.id)
    ended = rides.trip(trip.id)
    assert ended.status is TripStatus.COMPLETED and ended.final_fare is not None
    assert balance(container, kofi.account_id) == 0  # not paid yet: the hold still stands
    monkeypatch.setattr(rides.billing, "charge", charge)
    fare = ended.final_fare
    assert rides.complete(kofi.id, trip.id).status is TripStatus.COMPLETED
    assert balance(container, ama.account_id) == 10_000 - fare
    assert balance(container, kofi.account_id) == fare - fare * 15 // 100
    rides.complete(kofi.id, trip.id)  # again: nothing moves twice
    assert balance(container, ama.account_id) == 10_000 - fare
    completed = [m for m in container.outbox.feed(ama.msisdn) if m.kind == "ride_completed"]
    assert len(completed) == 1


@pytest.mark.parametrize("fails", ["before the ledger", "after the ledger"])
def test_a_late_fee_that_errs_is_waived_unless_it_was_taken_and_the_rider_is_told_which(
    container: Container, rides: Rides, clock: Clock, monkeypatch: pytest.MonkeyPatch, fails: str
) -> None:
    kofi = driver(container, rides, "Kofi", Point(6.1330, 1.2240), "TG-1010-AA")
    rider = person(container, "Abla", cash=10_000)
    trip = book(rides, "trip-fee-1", rider, "wallet")
    rides.accept(kofi.id, trip.id)
    clock.advance(600)  # a late cancellation: a fee of 200
    real_post, real_close = Movements._post_hold, Movements._close

    def busy_post(self: Movements, movement: Any, *args: Any) -> Any:
        raise SikaError("the ledger is busy", code="ledger_busy")

    def busy_close(self: Movements, movement: Any, **fields: Any) -> Any:
        monkeypatch.setattr(Movements, "_close", real_close)  # once: the release then closes it
        raise SikaError("the ledger is busy", code="ledger_busy")

    if fails == "before the ledger":
        monkeypatch.setattr(Movements, "_post_hold", busy_post)
    else:
        monkeypatch.setattr(Movements, "_close", busy_close)
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 0.1)
    cancelled = rides.cancel(trip.id, by="rider")
    monkeypatch.setattr(Movements, "_post_hold", real_post)
    taken = 200 if fails == "after the ledger" else 0
    assert cancelled.cancel_fee == taken
    assert balance(container, rider.account_id) == 10_000 - taken
    (told,) = [m for m in container.outbox.feed(rider.msisdn) if m.kind == "ride_cancelled"]
    assert told.params["fee"] == taken
    said = render(translator("fr"), told.kind, told.params)  # what the rider reads
    assert said == ("La course a été annulée. Frais d'annulation : 200 F CFA." if taken
                    else "La course a été annulée. Rien n'a été facturé.")
    driver_msisdn = container.customers.by_id(kofi.customer_id).msisdn
    (driver_told,) = [m for m in container.outbox.feed(driver_msisdn) if m.kind == "ride_cancelled"]
    assert render(translator("fr"), driver_told.kind, driver_told.params) == "La course a été annulée."
