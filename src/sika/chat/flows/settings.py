"""The settings of the chat, one entry of the menu: the language, the notifications (quiet hours and
offers, :mod:`sika.chat.consent`) and, for a driver, fasting mode. One entry for all keeps the menu
within WhatsApp's ten rows of a list message. Steps (flow ``settings``): ``pick``, ``fasting``.

Fasting mode is the driver's own choice (docs/rides.md): a shorter cap on hours online and no long
trip in the minutes before Maghrib. A driver on a feature phone reaches it here, as the driver app
reaches it by ``PUT /v1/drivers/{id}/fasting``.
"""

from __future__ import annotations

from sika.chat.context import Answer, Context, Invalid
from sika.chat.messages import Choice, Reply
from sika.errors import SikaError
from sika.rides.records import Driver

__all__ = ["fasting", "fasting_ask", "pick", "pick_ask"]

_NEXT = {
    "language": ("language", "pick"),
    "notices": ("notices", "quiet"),
    "fasting": ("settings", "fasting"),
}


def _driver(ctx: Context) -> Driver | None:
    """The customer's driver record, or None for a customer who does not drive (here: a driver of a
    city this deployment no longer serves has no hours to set)."""
    if ctx.customer is None:
        return None
    rides = ctx.services.rides
    try:
        driver = rides.driver_of(ctx.customer.id)
    except SikaError as exc:
        if exc.code != "unknown_driver":
            raise
        return None
    return driver if any(city.id == driver.city for city in rides.cities) else None


def pick_ask(ctx: Context) -> Reply:
    choices = [Choice("language", ctx.t("Language")), Choice("notices", ctx.t("Notifications"))]
    if _driver(ctx) is not None:
        choices.append(Choice("fasting", ctx.t("Fasting mode")))
    return Reply(ctx.t("Settings: what would you like to change?"), choices=choices, button=ctx.t("Settings"))


def pick(ctx: Context, answer: Answer) -> None:
    if answer.choice not in _NEXT or (answer.choice == "fasting" and _driver(ctx) is None):
        raise Invalid(ctx.t("Please choose one of the options."))
    ctx.go(*_NEXT[answer.choice])


def fasting_ask(ctx: Context) -> Reply:
    driver = _driver(ctx)
    if driver is None:  # no longer a driver here since the menu was shown: the settings again
        ctx.go("settings", "pick")
        return pick_ask(ctx)
    rides = ctx.services.rides
    hours = round(rides.city(driver.city).hours.fasting_cap_h, 1)
    shown = f"{hours:g}"
    if rides.driver_hours(driver.id).fasting:
        text = ctx.t("Fasting mode is on: at most {hours} hours online in 24, and no long trip in the half "
                     "hour before Maghrib.", hours=shown)
        choices = [Choice("fasting:off", ctx.t("Turn it off")), Choice("fasting:keep", ctx.t("Leave it on"))]
    else:
        # Short enough for one USSD screen with its two choices (182 characters in all).
        text = ctx.t("Fasting mode is off. Turned on: at most {hours} hours online in 24, no long trip in "
                     "the half hour before Maghrib.", hours=shown)
        choices = [Choice("fasting:on", ctx.t("Turn it on")), Choice("fasting:keep", ctx.t("Leave it off"))]
    return Reply(text, choices=choices, button=ctx.t("Fasting mode"))


def fasting(ctx: Context, answer: Answer) -> None:
    if answer.choice not in ("fasting:on", "fasting:off", "fasting:keep"):
        raise Invalid(ctx.t("Please choose one of the options."))
    driver = _driver(ctx)
    if driver is None or answer.choice == "fasting:keep":
        ctx.done(ctx.t("Nothing was changed."))
        return
    on = answer.choice == "fasting:on"
    ctx.services.rides.set_fasting(driver.id, fasting=on)
    ctx.done(ctx.t("Saved: fasting mode is on. Drive safely, and may your fast be accepted.") if on
             else ctx.t("Saved: fasting mode is off."))
