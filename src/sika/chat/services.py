"""What the chat asks of the rest of Sika: one narrow port per service, built once by the wiring.

The dialog and its flows (:mod:`sika.chat.flows`) reach wallets, payments, purchases, approvals,
statements and rides through :class:`ChatServices` and nothing else: no database engine, no settings,
no container to look things up in. Each port lists the calls the flows make, with the signatures of
the real services, which satisfy them as they are (``sika.bootstrap`` builds one :class:`ChatServices`
from them). A test drives a flow with a small fake of the few calls it needs, without a database
(``tests/unit/test_flows_with_fakes.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sika.chat.state import State
from sika.ledger import Account
from sika.notices.store import PreferenceStore
from sika.payments import Movement, TransferQuote
from sika.payments.approvals import Approval
from sika.payments.purchases import PurchaseQuote
from sika.payments.statement import StatementPage
from sika.promotions import Campaign, EntryLine, RewardLine, Verdict
from sika.promotions.timing import CalendarWhen
from sika.rides.cities import City
from sika.rides.driver_hours import HoursNow
from sika.rides.geo import Point
from sika.rides.places import Place
from sika.rides.service import Driver, Quote, Trip
from sika.wallet import Customer, Pin

__all__ = [
    "AccountPort",
    "ApprovalPort",
    "ChatServices",
    "ConversationPort",
    "CustomerPort",
    "NoticePort",
    "PaymentPort",
    "PlacePort",
    "PromotionPort",
    "PurchasePort",
    "RidePort",
    "StatementPort",
]


class CustomerPort(Protocol):
    """Wallets by phone number (:class:`sika.wallet.Customers`)."""

    def find(self, msisdn: str) -> Customer | None: ...

    def find_many(self, numbers: Collection[str]) -> dict[str, Customer]: ...

    def open(self, msisdn: str, name: str, *, language: str | None = ..., pin: Pin | None = ...) -> Customer:
        ...

    def set_language(self, msisdn: str, language: str) -> Customer: ...

    def verify_pin(self, msisdn: str, pin: Pin) -> Customer: ...


class AccountPort(Protocol):
    """Balances (:class:`sika.ledger.Ledger`)."""

    def get_account(self, account_id: int) -> Account: ...

    def get_accounts(self, account_ids: Sequence[int]) -> dict[int, Account]: ...


class PaymentPort(Protocol):
    """Transfers and the vouchers of numbers without a wallet (:class:`sika.payments.Payments`)."""

    def quote_transfer(self, payer: Customer, to: str, amount: int) -> TransferQuote: ...

    def transfer(self, movement_id: str, payer: Customer, to: str, amount: int, *,
                 pin: Pin | None = ...) -> Movement: ...

    def vouchers_for(self, msisdn: str) -> list[dict[str, Any]]: ...

    def claim_voucher(self, movement_id: str, msisdn: str, code: str) -> Movement: ...

    def get(self, movement_id: str) -> Movement: ...


class PurchasePort(Protocol):
    """Airtime, data, bills and TV from the providers (:class:`sika.payments.purchases.Purchases`)."""

    def catalogue(self) -> list[dict[str, Any]]: ...

    def quote(self, provider: str, product: str, reference: str, amount: int | None) -> PurchaseQuote: ...

    def buy(self, movement_id: str, payer: Customer, *, provider: str, product: str, reference: str,
            amount: int | None = ..., pin: Pin | None = ...,
            confirmed: PurchaseQuote | None = ...) -> Movement: ...


class ApprovalPort(Protocol):
    """Merchants' and agents' requests waiting for the customer
    (:class:`sika.payments.approvals.Approvals`)."""

    def pending_for(self, customer_id: int, limit: int = ...) -> list[Approval]: ...

    def pending_for_many(self, customer_ids: Collection[int], limit: int = ...) -> dict[int, list[Approval]]:
        ...

    def get(self, approval_id: str) -> Approval: ...

    def requester(self, approval: Approval) -> tuple[str, str]: ...

    def approve(self, approval_id: str, customer: Customer, pin: Pin) -> Movement: ...

    def decline(self, approval_id: str, customer: Customer) -> Approval: ...


class StatementPort(Protocol):
    """The customer's movements as they read them (:class:`sika.payments.statement.Statements`)."""

    def page(self, customer: Customer, *, limit: int = ..., cursor: str | None = ...) -> StatementPage: ...


class RidePort(Protocol):
    """Quotes, bookings and the rider's trip under way (:class:`sika.rides.service.Rides`)."""

    @property
    def cities(self) -> Sequence[City]: ...

    def city(self, city_id: str) -> City: ...

    def quote(self, city_id: str, vehicle_type: str, pickup: Point, dropoff: Point) -> Quote: ...

    def request(self, trip_id: str, rider: Customer, *, city_id: str, vehicle_type: str, pickup: Point,
                dropoff: Point, payment_method: str, pin: Pin | None = ...) -> Trip: ...

    def active_trip_of_rider(self, customer_id: int) -> Trip | None: ...

    def trip(self, trip_id: str) -> Trip: ...

    def cancel(self, trip_id: str, *, by: str) -> Trip: ...

    def driver(self, driver_id: int) -> Driver: ...

    def driver_of(self, customer_id: int) -> Driver: ...

    def driver_hours(self, driver_id: int) -> HoursNow: ...

    def set_fasting(self, driver_id: int, *, fasting: bool) -> Driver: ...


class PlacePort(Protocol):
    """Where a rider went before (:mod:`sika.rides.places` over the trips)."""

    def last_city(self, customer_id: int) -> str | None: ...

    def recent(self, customer_id: int, places: Sequence[Place], limit: int) -> list[Place]: ...


class PromotionPort(Protocol):
    """Offers, codes, rewards and why a payment earned nothing (:class:`sika.promotions.Promotions`)."""

    @property
    def when(self) -> CalendarWhen: ...

    def offers(self) -> list[Campaign]: ...

    def redeem(self, customer: Customer, typed: str) -> Campaign: ...

    def why(self, movement: Movement) -> list[Verdict]: ...

    def rewards_of(self, customer_id: int, limit: int = ...) -> list[RewardLine]: ...

    def entries_of(self, customer_id: int, limit: int = ...) -> list[EntryLine]: ...


class NoticePort(Protocol):
    """A customer's quiet hours and marketing consent (:class:`sika.notices.gate.Notices`)."""

    @property
    def store(self) -> PreferenceStore: ...


class ConversationPort(Protocol):
    """Where the dialog keeps each conversation between messages (:class:`sika.chat.state.Conversations`)."""

    def load(self, channel: str, session_key: str) -> State: ...

    def save(self, channel: str, session_key: str, msisdn: str, state: State) -> None: ...


@dataclass(frozen=True, slots=True)
class ChatServices:
    """Everything the dialog and its flows call, as ports."""

    customers: CustomerPort
    accounts: AccountPort
    payments: PaymentPort
    purchases: PurchasePort
    approvals: ApprovalPort
    statements: StatementPort
    rides: RidePort
    places: PlacePort
    promotions: PromotionPort
    notices: NoticePort
    # The channel a voucher's code to this number would take now ("sms", "whatsapp", …), None when no
    # message of ours reaches the number (the code then goes to the sender).
    code_route: Callable[[str], str | None]
    voucher_ttl_s: int
    conversations: ConversationPort
    # Numbers outside the XOF zone answered today (:mod:`sika.chat.abroad`): once a day each.
    answered_abroad: ConversationPort
