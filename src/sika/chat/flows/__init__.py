"""The flows, one module each, and the table of their steps.

=================  ==========================================================================
module             flow (and its steps)
=================  ==========================================================================
``welcome``        a number without a wallet opens one: language, name, PIN twice
``menu``           the menu and the help text
``balance``        the balance and the last movements (``pin_gate``: behind the PIN on USSD)
``send``           send money: number, amount, confirmation, PIN (``vouchers``: to a number
                   without a wallet, and collecting such money with its code)
``airtime``        airtime and data bundles
``bills``          electricity, water and TV (``bill_references``: the reference checked where typed)
``purchases``      what airtime and bills share: the provider's quote, confirmation, PIN, receipt
``approvals``      a merchant's or an agent's request, approved with the PIN or declined
``ride_places``    a ride's pick-up and destination, by place name or shared location
``ride_booking``   the vehicle, the payment, the confirmation and the PIN of a ride
``ride_status``    the ride under way: who is coming, cancel it
``promotions``     the offers running now, a code or a friend's number, my rewards, why no reward
``settings``       the language, the notifications and a driver's fasting mode, one menu entry
``language``       the language of the chat (``sika.chat.consent``: quiet hours, marketing consent, STOP)
``intents``        shortcuts typed at any time, straight to a flow's confirmation
=================  ==========================================================================

What they share: ``forms`` (a step, questions, confirmations, numbers, amounts), ``pin`` (the PIN
that confirms a payment), ``refusals`` (an error explained). Flows reach the rest of Sika only through
:class:`~sika.chat.services.ChatServices` (``ctx.services``). The dialog (:mod:`sika.chat.dialog`)
finds a conversation's step with :func:`step`.
"""

from __future__ import annotations

from sika.chat import consent
from sika.chat.flows import (
    airtime,
    approvals,
    balance,
    bills,
    language,
    menu,
    pin_gate,
    promotions,
    purchases,
    ride_booking,
    ride_status,
    send,
    settings,
    vouchers,
    welcome,
)
from sika.chat.flows import ride_places as places
from sika.chat.flows.approvals import PENDING_SHOWN
from sika.chat.flows.forms import Step, ask_text, confirmed
from sika.chat.flows.intents import start as start_intent
from sika.chat.flows.menu import help_text
from sika.chat.flows.pin import ask as pin_ask
from sika.chat.flows.pin import looks_like_pin
from sika.chat.flows.refusals import ends_the_flow, explain
from sika.chat.flows.welcome import FIRST_STEP as WELCOME_FIRST_STEP
from sika.chat.flows.welcome import intro as welcome_intro
from sika.chat.i18n import N_

__all__ = [
    "PENDING_SHOWN",
    "WELCOME_FIRST_STEP",
    "Step",
    "ends_the_flow",
    "explain",
    "help_text",
    "looks_like_pin",
    "start_intent",
    "step",
    "welcome_intro",
]

_STEPS: dict[tuple[str, str], Step] = {
    ("welcome", "language"): Step(language.pick_ask, welcome.pick_language),
    ("welcome", "name"): Step(ask_text(N_("What is your name?")), welcome.name),
    ("welcome", "pin"): Step(ask_text(N_("Choose a 4-digit PIN to protect your wallet.")), welcome.pin,
                             secret=True),
    ("welcome", "pin_again"): Step(ask_text(N_("Type the same PIN again.")), welcome.pin_again, secret=True),
    ("menu", "menu"): Step(menu.menu_ask, menu.choose),
    ("send", "to"): Step(ask_text(N_("Send money to which number? Example: 90112233")), send.to),
    ("send", "amount"): Step(ask_text(N_("How much do you want to send?")), send.how_much),
    ("send", "confirm"): Step(send.confirm_ask, confirmed("send")),
    ("send", "pin"): Step(pin_ask, send.pin, secret=True),
    ("airtime", "whom"): Step(airtime.whom_ask, airtime.whom),
    ("airtime", "number"): Step(ask_text(N_("Which number? Example: 97112233")), airtime.number_typed),
    ("airtime", "operator"): Step(airtime.operator_ask, airtime.operator),
    ("airtime", "product"): Step(airtime.product_ask, airtime.product),
    ("airtime", "amount"): Step(ask_text(N_("How much airtime? From 100 to 100 000 F CFA.")),
                                airtime.how_much),
    ("airtime", "confirm"): Step(purchases.confirm_ask, confirmed("airtime")),
    ("airtime", "pin"): Step(pin_ask, purchases.pin, secret=True),
    ("bills", "biller"): Step(bills.biller_ask, bills.biller),
    ("bills", "reference"): Step(bills.reference_ask, bills.reference),
    ("bills", "amount"): Step(ask_text(N_("How much electricity do you want to buy, in francs?")),
                              bills.how_much),
    ("bills", "package"): Step(bills.package_ask, bills.package),
    ("bills", "confirm"): Step(purchases.confirm_ask, confirmed("bills")),
    ("bills", "pin"): Step(pin_ask, purchases.pin, secret=True),
    ("approvals", "pick"): Step(approvals.pick_ask, approvals.pick),
    ("approvals", "decide"): Step(approvals.decide_ask, approvals.decide),
    ("approvals", "pin"): Step(pin_ask, approvals.pin, secret=True),
    ("language", "pick"): Step(language.pick_ask, language.pick),
    ("balance", "pin"): Step(pin_gate.ask, pin_gate.unlocked(balance.show_balance), secret=True),
    ("history", "pin"): Step(pin_gate.ask, pin_gate.unlocked(balance.show_history), secret=True),
    ("ride", "status"): Step(ride_status.status_ask, ride_status.status),
    ("settings", "pick"): Step(settings.pick_ask, settings.pick),
    ("settings", "fasting"): Step(settings.fasting_ask, settings.fasting),
    ("notices", "quiet"): Step(consent.quiet_ask, consent.quiet_answer),
    ("notices", "consent"): Step(consent.consent_ask, consent.consent_answer),
    ("promo", "menu"): Step(promotions.menu_ask, promotions.menu),
    ("promo", "code"): Step(promotions.code_ask, promotions.code),
    ("ride", "pickup"): Step(places.pickup_ask, places.pickup, on_location=places.pickup_location),
    ("ride", "pickup_pick"): Step(places.pick_ask, places.pick, on_location=places.pickup_location),
    ("ride", "dropoff"): Step(places.dropoff_ask, places.dropoff, on_location=places.dropoff_location),
    ("ride", "dropoff_pick"): Step(places.pick_ask, places.pick, on_location=places.dropoff_location),
    ("ride", "vehicle"): Step(ride_booking.vehicle_ask, ride_booking.vehicle),
    ("ride", "payment"): Step(ride_booking.payment_ask, ride_booking.payment),
    ("ride", "confirm"): Step(ride_booking.confirm_ask, ride_booking.confirmed),
    ("ride", "pin"): Step(pin_ask, ride_booking.pin, secret=True),
    ("voucher", "code"): Step(vouchers.code_ask, vouchers.code_answer, secret=True),
}


def step(flow: str, name: str) -> Step:
    """The step, or the menu for a state this version does not know (an older deployment's)."""
    return _STEPS.get((flow, name), _STEPS[("menu", "menu")])
