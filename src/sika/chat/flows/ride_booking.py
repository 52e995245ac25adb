"""Booking a ride, once its ends are known (:mod:`.ride_places`): the vehicle with its fare and how far
the nearest driver is, cash or the wallet, the confirmation, and the PIN for a wallet ride (its fare
is held at booking).

Steps (flow ``ride``): ``vehicle`` → ``payment`` → ``confirm`` → (``pin``). The trip's id comes from
the message's, so a message handled twice books once.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.flows.forms import confirm
from sika.chat.flows.pin import typed_pin
from sika.chat.flows.refusals import explain
from sika.chat.flows.ride_status import booked_text
from sika.chat.i18n import N_
from sika.chat.messages import Choice, Reply
from sika.errors import SikaError
from sika.rides.geo import Point
from sika.wallet import InvalidPin, Pin

__all__ = ["confirm_ask", "confirmed", "payment", "payment_ask", "pin", "vehicle", "vehicle_ask"]

_VEHICLE_NAMES = {"moto": N_("Moto"), "tricycle": N_("Tricycle"), "car": N_("Car")}


def _points(ctx: Context) -> tuple[Point, Point]:
    d = ctx.state.data
    return Point(*d["pickup"]), Point(*d["dropoff"])


def vehicle_ask(ctx: Context) -> Reply:
    rides = ctx.services.rides
    city = str(ctx.state.data["city"])
    pickup, dropoff = _points(ctx)
    choices = []
    for kind in rides.city(city).vehicles:
        try:
            quote = rides.quote(city, kind.type, pickup, dropoff)
        except SikaError as exc:
            ctx.state.reset()
            return Reply(explain(ctx, exc))
        wait = (
            ctx.t("{minutes} min away", minutes=max(1, round(quote.pickup_eta_s / 60)))
            if (quote.pickup_eta_s is not None)
            else ctx.t("no driver nearby yet")
        )
        choices.append(
            Choice(
                f"vehicle:{kind.type}",
                ctx.t(_VEHICLE_NAMES[kind.type]),
                description=f"{ctx.t.amount(quote.fare)}, {wait}",
            )
        )
    return Reply(ctx.t("Which ride?"), choices=choices, button=ctx.t("Choose"))


def vehicle(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("vehicle:"):
        raise Invalid(ctx.t("Please choose one of the options."))
    chosen = answer.choice.removeprefix("vehicle:")
    pickup, dropoff = _points(ctx)
    quote = ctx.services.rides.quote(str(ctx.state.data["city"]), chosen, pickup, dropoff)
    ctx.state.data.update(vehicle=chosen, fare=quote.fare, km=ctx.t.decimal(quote.distance_m / 1000))
    ctx.go("ride", "payment")


def payment_ask(ctx: Context) -> Reply:
    return Reply(
        ctx.t("How will you pay?"),
        choices=[Choice("pay:cash", ctx.t("Cash")), Choice("pay:wallet", ctx.t("Sika wallet"))],
    )


def payment(ctx: Context, answer: Answer) -> None:
    if answer.choice not in ("pay:cash", "pay:wallet"):
        raise Invalid(ctx.t("Please choose one of the options."))
    ctx.state.data["payment"] = answer.choice.removeprefix("pay:")
    ctx.go("ride", "confirm")


def confirm_ask(ctx: Context) -> Reply:
    d = ctx.state.data
    text = ctx.t(
        "{vehicle}, about {km} km: {fare}, paid {payment}. Book it?",
        vehicle=ctx.t(_VEHICLE_NAMES[str(d["vehicle"])]),
        km=d["km"],
        fare=ctx.t.amount(int(d["fare"])),
        payment=ctx.t("in cash") if d["payment"] == "cash" else ctx.t("from your Sika wallet"),
    )
    return confirm(ctx, text)


def confirmed(ctx: Context, answer: Answer) -> None:
    if answer.choice == "cancel":
        ctx.say(ctx.t("Cancelled. Nothing was sent."))
        ctx.state.reset()
        return
    if answer.choice != "confirm":
        raise Invalid(ctx.t("Please answer Confirm or Cancel."))
    if ctx.state.data.get("payment") == "wallet":
        ctx.go("ride", "pin")  # the wallet is held at booking: that needs the PIN
        return
    _book(ctx, None)


def pin(ctx: Context, answer: Answer) -> None:
    _book(ctx, typed_pin(ctx, answer))


def _book(ctx: Context, typed: Pin | None) -> None:
    assert ctx.customer is not None
    d = ctx.state.data
    pickup, dropoff = _points(ctx)
    try:
        trip = ctx.services.rides.request(
            "trip_" + ctx.movement_id().removeprefix("mv_"),
            ctx.customer,
            city_id=str(d["city"]),
            vehicle_type=str(d["vehicle"]),
            pickup=pickup,
            dropoff=dropoff,
            payment_method=str(d["payment"]),
            pin=typed,
        )
    except InvalidPin as exc:
        raise Invalid(explain(ctx, exc)) from exc
    except SikaError as exc:
        ctx.done(explain(ctx, exc))
        return
    if trip.status.value == "no_driver_found":
        ctx.done(ctx.t("Sorry, no driver is free near you right now. Please try again in a few minutes."))
        return
    ctx.done(booked_text(ctx))
