"""A driver's payout, and what it leaves: earnings paid to the wallet, or cash-ride commissions owed.

A driver's account holds ride earnings (wallet and card fares, less the commission) and goes negative
by the commissions of rides paid in cash (the driver kept the whole fare). A payout moves the balance
to the driver's wallet, or takes the debt from it as far as the wallet's available money allows.
:class:`Payout` says what moved and what is still owed, so that an answer of "nothing moved" can say
why (a debt and an empty wallet) and what to do (top the wallet up, ask again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sika.ledger import Ledger
from sika.payments import Movement
from sika.rides.payment_kinds import DRIVER_PAYOUT
from sika.rides.service import Rides
from sika.wallet import Customers

__all__ = ["Payout", "pay_out"]


@dataclass(frozen=True, slots=True)
class Payout:
    moved: int                # what moved now, in XOF (0: nothing)
    direction: str | None     # "to_wallet" (earnings), "from_wallet" (a debt settled), None
    movement: Movement | None
    owed: int                 # what the driver still owes (cash-ride commissions), after this payout
    earnings: int             # earnings still on the driver's account, after this payout
    wallet_available: int     # what the driver's wallet can pay now

    @property
    def code(self) -> str:
        """Why, in one stable word: paid_out, debt_settled, debt_partly_settled, commissions_owed,
        nothing_due."""
        if self.direction == "to_wallet":
            return "paid_out"
        if self.direction == "from_wallet":
            return "debt_partly_settled" if self.owed else "debt_settled"
        return "commissions_owed" if self.owed else "nothing_due"

    def as_dict(self) -> dict[str, Any]:
        """The answer of a payout: ``moved``, ``direction``, ``owed``, ``code``, and the movement's
        ``id`` and ``kind`` when one ran."""
        answer: dict[str, Any] = {"moved": self.moved, "direction": self.direction, "owed": self.owed,
                                  "code": self.code}
        if self.movement is not None:
            answer.update(id=self.movement.id, kind=str(self.movement.kind))
        return answer


def pay_out(rides: Rides, ledger: Ledger, customers: Customers, driver_id: int) -> Payout:
    """Run the driver's payout (see :meth:`Rides.settle_driver`) and read what it leaves."""
    movement = rides.settle_driver(driver_id)
    if movement is not None:
        movement.raise_for_failure()
    return standing(rides, ledger, customers, driver_id, movement)


def standing(rides: Rides, ledger: Ledger, customers: Customers, driver_id: int,
             movement: Movement | None = None) -> Payout:
    """Where the driver stands (after ``movement``, when one just ran)."""
    driver = rides.driver(driver_id)
    customer = customers.by_id(driver.customer_id)
    assert customer.account_id is not None
    balance = ledger.get_account(driver.account_id).balance
    available = ledger.get_account(customer.account_id).available
    direction = None
    if movement is not None and movement.kind is DRIVER_PAYOUT:
        direction = "to_wallet" if movement.payee_customer_id == customer.id else "from_wallet"
    return Payout(moved=movement.amount if movement is not None else 0, direction=direction,
                  movement=movement, owed=max(0, -balance), earnings=max(0, balance),
                  wallet_available=available)
