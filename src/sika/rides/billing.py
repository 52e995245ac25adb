"""A trip's money: the wallet hold made at booking, released or captured, the cash commission owed, the
card charged, and a driver's payout. Every call rides make into payments is here, and only here.

A wallet trip holds an estimate at booking (the quote with a margin: the final fare may be higher) and
its fare is captured from the hold made at booking and split, in the same ledger chain,
between the driver's account and the platform's fee revenue; a cash trip books the platform's
commission as the driver's debt (the driver collected the whole fare); a card trip is charged through
the card processor. A payout moves a driver's earnings to the wallet, or takes what is owed from it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select, update

from sika.ledger import Ledger
from sika.payments import Movement, Movements, Status, movement_id
from sika.payments.movements import Code, Leg, Role
from sika.payments.purchases import Purchases
from sika.rides import payment_kinds
from sika.rides.cities import City
from sika.rides.fares import round_up
from sika.rides.payment_kinds import DRIVER_PAYOUT, RIDE, RIDE_CASH
from sika.rides.records import Driver, Trip
from sika.rides.schema import drivers, trips
from sika.wallet import Customer, Customers

# Movement, Movements and Purchases are named here for the rest of rides (types only): billing is the one
# rides module that imports payments.
__all__ = ["Billing", "Movement", "Movements", "Purchases", "payout_direction"]

HOLD_MARGIN_BP = 15_000  # a wallet trip holds 150 % of the quote: the final fare may be higher
HOLD_TIMEOUT_S = 4 * 3600


class Billing:
    def __init__(self, engine: Engine, ledger: Ledger, customers: Customers, movements: Movements,
                 purchases: Purchases, *, city: Callable[[str], City], clock_ns: Callable[[], int]) -> None:
        """``movements``: the payments port rides post their movements through; rides' kinds are
        registered on it here (receipts name the fare, a failed card fare is for an operator)."""
        self._engine = engine
        self._ledger = ledger
        self._customers = customers
        self._payments = movements
        payment_kinds.register(movements.kinds)
        self._purchases = purchases
        self._city = city
        self.clock_ns = clock_ns

    def check_card(self, card_token: str, fare: int) -> None:
        """Ask the card processor whether the saved card can pay ``fare`` (its error if not)."""
        self._purchases.providers.get("card").quote("card_payment", card_token, fare)

    def hold_fare(self, trip_id: str, rider: Customer, city: City, vehicle_type: str, fare: int) -> str:
        """Hold the quote plus the margin on the rider's wallet for a wallet trip; the hold's payment id."""
        payment_id = f"{trip_id}.p"
        hold = round_up(fare * HOLD_MARGIN_BP // 10_000, city.vehicle(vehicle_type).fares.rounding)
        assert rider.account_id is not None
        legs = [
            Leg(
                f"{payment_id}.0",
                rider.account_id,
                self._payments.accounts.id("rides_clearing"),
                hold,
                Code.RIDE_FARE,
                Role.PAYER,
                pending=True,
                timeout_s=HOLD_TIMEOUT_S,
            )
        ]
        held = self._payments.run(
            payment_id,
            legs,
            kind=RIDE,
            amount=hold,
            payer_customer_id=rider.id,
            counterparty=f"{city.name} {vehicle_type}",
            details={"trip": trip_id},
        )
        held.raise_for_failure()
        return payment_id

    def drop_hold(self, payment_id: str) -> None:
        """Give a hold back whose trip could not be booked (another trip of the rider's won the race)."""
        self._payments.settle(
            payment_id,
            success=False,
            error_code="trip_in_progress",
            reason="another trip is under way; nothing was taken",
        )

    def final_fare(self, trip: Trip, priced: int) -> int:
        """The one fare of a trip: what the trip, the receipt, the notices and the ledger all say. A
        wallet rider never pays more than was held at booking."""
        if trip.payment_method == "wallet" and trip.payment_id is not None:
            return min(priced, self._payments.get(trip.payment_id).amount)
        return priced

    def unpaid(self, trip: Trip) -> bool:
        """A completed trip whose fare was not taken (the ledger was busy, the process stopped between
        the trip's end and its payment): a wallet hold still pending, or no charge recorded."""
        if trip.payment_method == "wallet" and trip.payment_id is not None:
            return self._payments.get(trip.payment_id).status is Status.PENDING
        return trip.payment_id is None

    def release(self, trip: Trip, code: str) -> Movement | None:
        """Give a wallet trip's hold back; the movement as it ends (completed if a capture had taken
        it already: sika.payments.settlement), None for a trip without a hold."""
        if trip.payment_method == "wallet" and trip.payment_id is not None:
            return self._payments.settle(trip.payment_id, success=False, error_code=code,
                                         reason="the ride did not happen; nothing was taken")
        return None

    def charge(self, trip: Trip, amount: int) -> None:
        """Take ``amount`` (a fare, or a late-cancellation fee) for ``trip`` by its payment method."""
        assert trip.driver_id is not None
        with self._engine.connect() as connection:
            account_id = int(connection.execute(
                select(drivers.c.account_id).where(drivers.c.id == trip.driver_id)).scalar_one())
        commission = self._city(trip.city).vehicle(trip.vehicle_type).fares.commission(amount)
        mid = f"{trip.id}.c"
        if trip.payment_method == "wallet":
            self._capture(trip, amount, commission, account_id)
        elif trip.payment_method == "cash":
            self._cash_commission(trip, mid, amount, commission, account_id)
        else:
            self._card(trip, mid, amount, commission, account_id)
        with self._engine.begin() as connection:
            connection.execute(update(trips).where(trips.c.id == trip.id, trips.c.payment_id.is_(None))
                               .values(payment_id=mid))

    def _capture(self, trip: Trip, amount: int, commission: int, account_id: int) -> None:
        assert trip.payment_id is not None
        held = self._payments.get(trip.payment_id)
        assert amount <= held.amount, (amount, held.amount)  # final_fare capped it
        clearing = self._payments.accounts.id("rides_clearing")
        then = [Leg(f"{trip.payment_id}.1", clearing, account_id, amount - commission, Code.RIDE_EARNING,
                    Role.PLATFORM)]
        if commission:
            then.append(Leg(f"{trip.payment_id}.2", clearing, self._payments.accounts.id("fee_revenue"),
                            commission, Code.RIDE_COMMISSION, Role.PLATFORM))
        # The movement says the fare charged; the hold stays in its details, beside the fare.
        self._payments.capture(trip.payment_id, amount, then, notes={"fare": amount, "hold": _held(held)})

    def _cash_commission(self, trip: Trip, mid: str, amount: int, commission: int, account_id: int) -> None:
        if not commission:
            return
        fee_revenue = self._payments.accounts.id("fee_revenue")
        legs = [Leg(f"{mid}.0", account_id, fee_revenue, commission, Code.RIDE_COMMISSION, Role.PLATFORM)]
        self._payments.run(mid, legs, kind=RIDE_CASH, amount=commission, counterparty=f"trip {trip.id}",
                           details={"trip": trip.id, "fare": amount})

    def _card(self, trip: Trip, mid: str, amount: int, commission: int, account_id: int) -> None:
        card = self._payments.accounts.provider("card")
        legs = [Leg(f"{mid}.0", card, account_id, amount - commission, Code.RIDE_EARNING, Role.PLATFORM)]
        if commission:
            legs.append(Leg(f"{mid}.1", card, self._payments.accounts.id("fee_revenue"), commission,
                            Code.RIDE_COMMISSION, Role.PLATFORM))
        with self._engine.connect() as connection:
            token = str(connection.execute(
                select(trips.c.card_token).where(trips.c.id == trip.id)).scalar_one())
        rider = self._customers.by_id(trip.rider_customer_id)
        self._purchases.charge_card(mid, rider, reference=token, amount=amount, legs=legs, kind=RIDE,
                                    details={"trip": trip.id})

    def pay_out(self, driver: Driver) -> Movement | None:
        """Earnings to the driver's wallet, or what the driver owes from it (the caller holds the lease)."""
        customer = self._customers.by_id(driver.customer_id)
        assert customer.account_id is not None
        balance = self._ledger.get_account(driver.account_id).balance
        mid = movement_id("driver-payout", f"{driver.id}:{self.clock_ns()}")
        if balance > 0:
            legs = [Leg(f"{mid}.0", driver.account_id, customer.account_id, balance, Code.DRIVER_PAYOUT,
                        Role.DRIVER)]
            return self._payments.run(mid, legs, kind=DRIVER_PAYOUT, amount=balance,
                                      payee_customer_id=customer.id, counterparty="Sika rides")
        owed = min(-balance, self._ledger.get_account(customer.account_id).available)
        if owed <= 0:
            return None
        legs = [Leg(f"{mid}.0", customer.account_id, driver.account_id, owed, Code.DRIVER_PAYOUT, Role.PAYER)]
        return self._payments.run(mid, legs, kind=DRIVER_PAYOUT, amount=owed,
                                  payer_customer_id=customer.id, counterparty="Sika rides")


def payout_direction(movement: Movement | None, customer_id: int) -> str | None:
    """What a payout did for the driver whose wallet is ``customer_id``'s: ``to_wallet`` (earnings paid),
    ``from_wallet`` (a debt settled), or None (no payout ran)."""
    if movement is None or movement.kind is not DRIVER_PAYOUT:
        return None
    return "to_wallet" if movement.payee_customer_id == customer_id else "from_wallet"
def _held(movement: Movement) -> int:
    """What the booking held: the amount of the movement's one pending leg."""
    (hold,) = [leg for leg in movement.legs if leg.pending]
    return hold.amount
