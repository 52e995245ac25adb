"""A ride under way, from the rider's side of the chat: "Book a ride" shows it rather than a new form.

WhatsApp pushes each change of a ride (driver found, arrived, trip over) as a message; USSD and the
terminal cannot be reached that way, so their riders come back to the menu to follow their ride: the
same entry shows who is coming, and lets them cancel while the ride has not started.

Steps (flow ``ride``): ``status`` (choices: cancel the ride, menu). State: ``trip``.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.messages import Choice, Reply
from sika.errors import SikaError
from sika.rides.service import Trip
from sika.rides.trips import TripStatus

__all__ = ["booked_text", "start", "status", "status_ask"]

_CANCELLABLE = (TripStatus.REQUESTED, TripStatus.DRIVER_ASSIGNED, TripStatus.DRIVER_ARRIVED)


def start(ctx: Context) -> None:
    """The menu's "Book a ride": the ride under way if there is one, else a new booking."""
    assert ctx.customer is not None
    trip = ctx.services.rides.active_trip_of_rider(ctx.customer.id)
    if trip is None:
        ctx.go("ride", "pickup")
        return
    ctx.state.data["trip"] = trip.id
    ctx.go("ride", "status")


def booked_text(ctx: Context) -> str:
    """What a rider reads once the ride is booked and dispatch looks for a driver."""
    if ctx.inbound.channel == "whatsapp":
        return ctx.t("Looking for a driver near you… You will get a message with the driver's name and "
                     "plate.")
    return ctx.t('Looking for a driver near you… To see who is coming, choose "Book a ride" in the menu '
                 "again.")


def status_ask(ctx: Context) -> Reply:
    trip = ctx.services.rides.trip(str(ctx.state.data["trip"]))
    if trip.status.final:
        ctx.state.reset()
        return Reply(ctx.t("This ride is over."))
    choices = [Choice("ride_cancel", ctx.t("Cancel the ride"))] if trip.status in _CANCELLABLE else []
    return Reply(_describe(ctx, trip), choices=[*choices, Choice("menu", ctx.t("Menu"))])


def status(ctx: Context, answer: Answer) -> None:
    if answer.choice == "menu":
        ctx.state.reset()
        return
    if answer.choice != "ride_cancel":
        raise Invalid(ctx.t("Please choose one of the options."))
    try:
        trip = ctx.services.rides.cancel(str(ctx.state.data["trip"]), by="rider")
    except SikaError as exc:  # the ride moved on meanwhile (started, or over)
        ctx.done(ctx.t("Sorry, that did not work ({code}). Please try again.", code=exc.code))
        return
    if trip.cancel_fee:
        ctx.done(ctx.t("The ride was cancelled. Cancellation fee: {fee}.", fee=ctx.t.amount(trip.cancel_fee)))
    else:
        ctx.done(ctx.t("The ride was cancelled. Nothing was charged."))


def _describe(ctx: Context, trip: Trip) -> str:
    if trip.status is TripStatus.REQUESTED or trip.driver_id is None:
        return ctx.t("Your ride: we are looking for a driver near you.")
    driver = ctx.services.rides.driver(trip.driver_id)
    if trip.status is TripStatus.DRIVER_ASSIGNED:
        return ctx.t("Your ride: {driver} is coming on plate {plate}.", driver=driver.name,
                     plate=driver.plate)
    if trip.status is TripStatus.DRIVER_ARRIVED:
        return ctx.t("{driver} ({plate}) is at the pickup point.", driver=driver.name, plate=driver.plate)
    return ctx.t("Your ride with {driver} ({plate}) is under way. Fare: about {fare}.", driver=driver.name,
                 plate=driver.plate, fare=ctx.t.amount(trip.quoted_fare))
