"""Two captures of one wallet ride at once (the trip's end and a retry, each deciding the fare): the
ledger posts one chain, and the movement says what that chain moved, never what the other decided.
The race is staged at its worst moment: the winner has posted in the ledger and not yet written the
movement when the other capture runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from promotions_support import Town, assert_statement_adds_up

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import audit
from sika.payments import Movement, settlement
from sika.payments.movements import Code, Leg, Role, Status
from sika.payments.settlement import Movements
from sika.rides.geo import Point
from sika.wallet import Customer


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    yield built
    assert audit.check(built.engine) == []
    built.close()


_REAL_POST_HOLD = Movements._post_hold


class Stopped(Exception):
    """The winner's process stops between the ledger's answer and the movement's row."""


def _stopping_after_the_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next capture posts in the ledger, then its process stops before writing the movement
    (``_REAL_POST_HOLD`` puts the capture back as it is)."""

    def stops(self: Movements, movement: Movement, *args: Any) -> Any:
        _REAL_POST_HOLD(self, movement, *args)
        raise Stopped

    monkeypatch.setattr(Movements, "_post_hold", stops)


def _held_ride(container: Container) -> tuple[Town, Customer, str, int]:
    """Ama (20 000 F) books a wallet ride: its hold; the driver's ledger account."""
    town = Town.open(container)
    rides = container.rides
    assert rides is not None
    kofi = rides.onboard(town.wallet("Kofi"), city_id="lome", vehicle_type="moto", plate="TG-7101-AA")
    rides.set_documents(kofi.id, "approved")
    rides.update_location(kofi.id, Point(6.1330, 1.2240))
    rides.set_online(kofi.id, online=True)
    ama = town.wallet("Ama", 20_000)
    trip = rides.request("trip-race-1", ama, city_id="lome", vehicle_type="moto",
                         pickup=Point(6.1319, 1.2228), dropoff=Point(6.1725, 1.2145), payment_method="wallet")
    assert trip.payment_id is not None
    assert container.movements.get(trip.payment_id).status is Status.PENDING
    return town, ama, trip.payment_id, kofi.account_id


def _then(container: Container, payment_id: str, driver_account: int, fare: int) -> list[Leg]:
    """What a capture moves on after posting ``fare`` of the hold (as sika.rides.billing): the driver's
    earning and Sika's commission, a tenth."""
    clearing = container.payments.accounts.id("rides_clearing")
    return [Leg(f"{payment_id}.1", clearing, driver_account, fare - fare // 10, Code.RIDE_EARNING,
                Role.PLATFORM),
            Leg(f"{payment_id}.2", clearing, container.payments.accounts.id("fee_revenue"), fare // 10,
                Code.RIDE_COMMISSION, Role.PLATFORM)]


def _ride_line(town: Town, ama: Customer, payment_id: str) -> int:
    """The ride's line on Ama's statement, as her history shows it."""
    (line,) = [i for i in town.container.statements.page(ama, limit=50).items if i.id == payment_id]
    return line.amount


def test_a_capture_that_lost_the_race_writes_nothing_of_its_own(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    town, ama, payment_id, driver = _held_ride(container)
    held = container.movements.get(payment_id).amount
    winner_fare, loser_fare = held - 100, held - 300
    answers: list[Movement] = []
    others: list[threading.Thread] = []

    def the_other_capture_runs_meanwhile(self: Movements, movement: Movement, *args: Any) -> Any:
        refused = _REAL_POST_HOLD(self, movement, *args)
        if not others:  # the winner's post (the other capture's goes through here too)
            other = threading.Thread(target=lambda: answers.append(container.movements.capture(
                payment_id, loser_fare, _then(container, payment_id, driver, loser_fare),
                notes={"fare": loser_fare})))
            others.append(other)
            other.start()
            other.join(0.3)  # it has lost in the ledger and waits for this capture to write
            assert other.is_alive() and not answers
        return refused

    monkeypatch.setattr(Movements, "_post_hold", the_other_capture_runs_meanwhile)
    won = container.movements.capture(payment_id, winner_fare,
                                      _then(container, payment_id, driver, winner_fare),
                                      notes={"fare": winner_fare})
    (other,) = others
    other.join(10)
    (lost,) = answers
    assert won.status is Status.COMPLETED and won.amount == winner_fare
    assert (lost.status, lost.amount, lost.legs) == (Status.COMPLETED, winner_fare, won.legs)
    stored = container.movements.get(payment_id)
    assert stored.amount == winner_fare and stored.details["fare"] == winner_fare
    assert [leg.amount for leg in stored.legs[-2:]] == [winner_fare - winner_fare // 10, winner_fare // 10]
    assert "capture_from_ledger" not in stored.details
    assert _ride_line(town, ama, payment_id) == -winner_fare
    assert town.balance(ama) == 20_000 - winner_fare
    assert_statement_adds_up(town, ama)


def test_a_capture_that_stopped_after_the_ledger_is_recorded_from_the_ledger_by_the_next(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    town, ama, payment_id, driver = _held_ride(container)
    held = container.movements.get(payment_id).amount
    first_fare, retry_fare = held - 100, held - 300
    _stopping_after_the_ledger(monkeypatch)
    with pytest.raises(Stopped):
        container.movements.capture(payment_id, first_fare, _then(container, payment_id, driver, first_fare),
                                    notes={"fare": first_fare})
    monkeypatch.setattr(Movements, "_post_hold", _REAL_POST_HOLD)
    assert container.movements.get(payment_id).status is Status.PENDING  # posted, not recorded
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 0.1)
    retried = container.movements.capture(payment_id, retry_fare,
                                          _then(container, payment_id, driver, retry_fare),
                                          notes={"fare": retry_fare})
    # What the ledger moved (the first fare), not what the retry decided; its fare note is not kept.
    assert (retried.status, retried.amount) == (Status.COMPLETED, first_fare)
    assert retried.details["capture_from_ledger"] is True and "fare" not in retried.details
    assert [leg.amount for leg in retried.legs[-2:]] == [first_fare - first_fare // 10, first_fare // 10]
    assert _ride_line(town, ama, payment_id) == -first_fare
    assert town.balance(ama) == 20_000 - first_fare
    assert_statement_adds_up(town, ama)
    again = container.movements.capture(payment_id, retry_fare,
                                        _then(container, payment_id, driver, retry_fare))
    assert again == retried  # once recorded, nothing changes


def test_a_retry_that_decides_the_same_records_a_capture_that_stopped_at_once(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    town, ama, payment_id, driver = _held_ride(container)
    fare = container.movements.get(payment_id).amount - 100
    _stopping_after_the_ledger(monkeypatch)
    with pytest.raises(Stopped):
        container.movements.capture(payment_id, fare, _then(container, payment_id, driver, fare),
                                    notes={"fare": fare})
    monkeypatch.setattr(Movements, "_post_hold", _REAL_POST_HOLD)
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 60.0)  # never waited for: the ledger says it was this
    retried = container.movements.capture(payment_id, fare, _then(container, payment_id, driver, fare),
                                          notes={"fare": fare})
    assert (retried.status, retried.amount, retried.details["fare"]) == (Status.COMPLETED, fare, fare)
    assert "capture_from_ledger" not in retried.details
    assert town.balance(ama) == 20_000 - fare


RIDE_RULES = {"percent": 10, "reward_max": 1_000, "cities": ["lome"]}


def test_a_retry_that_would_pay_another_campaigns_reward_moves_nothing(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first capture paid campaign A's discount and stopped; A was paused and B started before the
    retry, which would pay B's: the ledger refuses the retry's chain whole (its post names another
    chain), so one discount is paid, A's, and the movement shows it."""
    town, ama, payment_id, driver = _held_ride(container)
    first = town.campaign("ride_discount", 5_000, name="Ride A", rules=RIDE_RULES)
    fare = container.movements.get(payment_id).amount - 100
    _stopping_after_the_ledger(monkeypatch)
    with pytest.raises(Stopped):
        container.movements.capture(payment_id, fare, _then(container, payment_id, driver, fare))
    monkeypatch.setattr(Movements, "_post_hold", _REAL_POST_HOLD)
    container.promotions.campaigns.pause(first.id)
    second = town.campaign("ride_discount", 5_000, name="Ride B", rules=RIDE_RULES)
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 0.1)
    retried = container.movements.capture(payment_id, fare, _then(container, payment_id, driver, fare))
    discount = fare // 10
    assert (retried.status, retried.amount) == (Status.COMPLETED, fare)
    assert retried.details["capture_from_ledger"] is True
    assert town.balance(ama) == 20_000 - fare + discount  # one discount
    assert (town.money(first).spent, town.money(second).spent) == (discount, 0)
    assert _ride_line(town, ama, payment_id) == -fare + discount  # the statement shows it
    assert_statement_adds_up(town, ama)
    assert len({leg.id for leg in retried.legs}) == len(retried.legs)


def _stopping_before_closing_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next capture writes the movement, then its process stops before closing it."""
    real_close = Movements._close
    stopped: list[str] = []

    def stops_once(self: Movements, movement: Movement, **fields: Any) -> Any:
        if not stopped:
            stopped.append(movement.id)
            raise Stopped
        return real_close(self, movement, **fields)

    monkeypatch.setattr(Movements, "_close", stops_once)


@pytest.mark.parametrize("retry", ["same", "other"])
def test_a_capture_that_wrote_the_movement_and_stopped_before_closing_it_is_closed_once(
        container: Container, monkeypatch: pytest.MonkeyPatch, retry: str) -> None:
    town, ama, payment_id, driver = _held_ride(container)
    fare = container.movements.get(payment_id).amount - 100
    _stopping_before_closing_once(monkeypatch)
    with pytest.raises(Stopped):
        container.movements.capture(payment_id, fare, _then(container, payment_id, driver, fare),
                                    notes={"fare": fare})
    written = container.movements.get(payment_id)
    assert (written.status, written.amount) == (Status.PENDING, fare)  # written, not closed
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 0.1)
    again = fare if retry == "same" else fare - 200
    closed = container.movements.capture(payment_id, again, _then(container, payment_id, driver, again),
                                         notes={"fare": again})
    assert (closed.status, closed.amount, closed.details["fare"]) == (Status.COMPLETED, fare, fare)
    assert [leg.id for leg in closed.legs] == [leg.id for leg in written.legs]  # each leg once
    assert "capture_from_ledger" not in closed.details
    assert _ride_line(town, ama, payment_id) == -fare
    assert_statement_adds_up(town, ama)


def test_a_post_from_before_posts_named_their_chain_is_recorded_under_the_retrys_ids(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    town, ama, payment_id, driver = _held_ride(container)
    held = container.movements.get(payment_id).amount
    first_fare, retry_fare = held - 100, held - 300
    _stopping_after_the_ledger(monkeypatch)
    monkeypatch.setattr(settlement, "_chain_of", lambda movement_id, amount, legs: {"movement": movement_id})
    with pytest.raises(Stopped):
        container.movements.capture(payment_id, first_fare, _then(container, payment_id, driver, first_fare))
    monkeypatch.undo()
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 0.1)
    retried = container.movements.capture(payment_id, retry_fare,
                                          _then(container, payment_id, driver, retry_fare))
    assert (retried.status, retried.amount, retried.details["capture_from_ledger"]) == (
        Status.COMPLETED, first_fare, True)
    assert [leg.amount for leg in retried.legs[-2:]] == [first_fare - first_fare // 10, first_fare // 10]
    assert_statement_adds_up(town, ama)


def test_a_chain_too_long_to_name_is_left_pending_for_reconciliation_unless_it_was_written(
        container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    town, ama, payment_id, driver = _held_ride(container)
    held = container.movements.get(payment_id).amount
    monkeypatch.setattr(settlement, "METADATA_BYTES_MAX", 10)  # every chain is too long to name
    _stopping_after_the_ledger(monkeypatch)
    with pytest.raises(Stopped):
        container.movements.capture(payment_id, held - 100,
                                    _then(container, payment_id, driver, held - 100))
    monkeypatch.setattr(Movements, "_post_hold", _REAL_POST_HOLD)
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 0.1)
    left = container.movements.capture(payment_id, held - 300,
                                       _then(container, payment_id, driver, held - 300))
    assert (left.status, left.amount) == (Status.PENDING, held)  # nothing written the ledger does not say
    assert "too long to name in the post" in caplog.text
    assert town.balance(ama) == 20_000 - (held - 100)  # the ledger moved the first fare, once


def test_a_chain_too_long_to_name_that_was_written_is_closed_by_the_next_capture(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    town, ama, payment_id, driver = _held_ride(container)
    fare = container.movements.get(payment_id).amount - 100
    monkeypatch.setattr(settlement, "METADATA_BYTES_MAX", 10)  # every chain is too long to name
    _stopping_before_closing_once(monkeypatch)
    with pytest.raises(Stopped):
        container.movements.capture(payment_id, fare, _then(container, payment_id, driver, fare),
                                    notes={"fare": fare})
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 0.1)
    closed = container.movements.capture(payment_id, fare - 200,
                                         _then(container, payment_id, driver, fare - 200))
    assert (closed.status, closed.amount, closed.details["fare"]) == (Status.COMPLETED, fare, fare)
    assert "capture_from_ledger" not in closed.details
    assert_statement_adds_up(town, ama)


@pytest.mark.parametrize("stopped_at", ["ledger", "closing"])
def test_a_ride_cancelled_as_its_capture_posts_shows_what_the_capture_moved(
        container: Container, monkeypatch: pytest.MonkeyPatch, stopped_at: str) -> None:
    """The trip's end captured the hold and its process stopped (after the ledger, or after writing
    the movement); the cancellation's void then finds the hold posted: the movement says the fare
    the ledger moved, not the hold the cancellation had read."""
    town, ama, payment_id, driver = _held_ride(container)
    held = container.movements.get(payment_id).amount
    fare = held - 100
    if stopped_at == "ledger":
        _stopping_after_the_ledger(monkeypatch)
    else:
        _stopping_before_closing_once(monkeypatch)
    with pytest.raises(Stopped):
        container.movements.capture(payment_id, fare, _then(container, payment_id, driver, fare),
                                    notes={"fare": fare})
    monkeypatch.undo()
    monkeypatch.setattr(settlement, "CAPTURE_WAIT_S", 0.1)
    settled = container.movements.settle(payment_id, success=False, error_code="trip_cancelled",
                                         reason="the ride did not happen; nothing was taken")
    assert (settled.status, settled.amount, settled.error_code) == (Status.COMPLETED, fare, None)
    assert [leg.amount for leg in settled.legs[-2:]] == [fare - fare // 10, fare // 10]
    assert "reason" not in settled.details  # not "nothing was taken"
    if stopped_at == "ledger":
        assert settled.details["capture_from_ledger"] is True
    else:  # written by the capture: its own details
        assert "capture_from_ledger" not in settled.details and settled.details["fare"] == fare
    assert _ride_line(town, ama, payment_id) == -fare
    assert town.balance(ama) == 20_000 - fare
    assert_statement_adds_up(town, ama)


def test_a_cancellation_racing_a_live_capture_waits_for_it_and_keeps_its_record(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    town, ama, payment_id, driver = _held_ride(container)
    fare = container.movements.get(payment_id).amount - 100
    answers: list[Movement] = []
    others: list[threading.Thread] = []

    def the_cancellation_comes_meanwhile(self: Movements, movement: Movement, *args: Any) -> Any:
        refused = _REAL_POST_HOLD(self, movement, *args)
        cancel = threading.Thread(target=lambda: answers.append(container.movements.settle(
            payment_id, success=False, error_code="trip_cancelled", reason="cancelled")))
        others.append(cancel)
        cancel.start()
        cancel.join(0.3)  # its void was refused: it waits for this capture's row
        assert cancel.is_alive() and not answers
        return refused

    monkeypatch.setattr(Movements, "_post_hold", the_cancellation_comes_meanwhile)
    won = container.movements.capture(payment_id, fare, _then(container, payment_id, driver, fare),
                                      notes={"fare": fare})
    (cancel,) = others
    cancel.join(10)
    (settled,) = answers
    assert (won.status, won.amount) == (Status.COMPLETED, fare)
    assert (settled.status, settled.amount, settled.details["fare"]) == (Status.COMPLETED, fare, fare)
    assert "capture_from_ledger" not in settled.details and "reason" not in settled.details
    assert_statement_adds_up(town, ama)
