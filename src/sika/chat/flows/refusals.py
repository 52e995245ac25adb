"""A refusal explained: what each error code means to the person who met it, in their language.

Every step that calls a service turns its :class:`~sika.errors.SikaError` into one of these sentences
(by ``code``, never by the English message); a code without a sentence reads "that did not work
(code)". The dialog explains the errors no step caught the same way.
"""

from __future__ import annotations

from sika.chat.context import Context
from sika.chat.i18n import N_
from sika.errors import SikaError
from sika.wallet import InvalidPin

__all__ = ["ends_the_flow", "explain", "refusal"]

# Refusals no answer to the step could change (the service is off here): the dialog ends the flow on
# them, back at the menu, rather than asking the same question again.
_ENDS_THE_FLOW = frozenset({"provider_not_configured"})

_ERRORS: dict[str, str] = {
    "insufficient_funds": N_("Your balance is too low for this amount and its fee."),
    "limit_exceeded": N_(
        "This is above the limits of your wallet's level. An agent can raise your level when you show an ID."
    ),
    "pin_locked": N_(
        "Too many wrong PINs: payments are blocked for 30 minutes. An agent can reset your PIN."
    ),
    "unknown_wallet": N_("This number has no Sika wallet."),
    "invalid_msisdn": N_("That is not a valid phone number. Example: 90112233 or +22890112233."),
    "unsupported_country": N_(
        "Sika sends money within the XOF zone only (Togo, Benin, Burkina Faso, Côte "
        "d'Ivoire, Guinea-Bissau, Mali, Niger, Senegal)."
    ),
    "not_a_mobile_number": N_("That is not a mobile number."),
    "same_wallet": N_("You cannot send money to yourself."),
    "provider_failed": N_("The provider refused the payment. Nothing was taken from your wallet."),
    "provider_timeout": N_("The provider did not answer in time. Nothing was taken from your wallet."),
    "invalid_reference": N_("The provider does not know this reference. Check it and try again."),
    "amount_below_minimum": N_("This amount is below the minimum."),
    "amount_above_maximum": N_("This amount is above the maximum."),
    "nothing_due": N_("Nothing is due on this account."),
    "amount_mismatch": N_("The amount must be exactly the amount due."),
    "provider_unavailable": N_("The provider cannot be reached right now. Try again in a few minutes."),
    "quote_changed": N_("The price changed since you confirmed it. Nothing was taken from your wallet: "
                        "start again to see the new price."),
    "provider_not_configured": N_("This service is not available yet. Nothing was taken from your wallet."),
    "bill_already_paid": N_("This bill is already paid, or being paid. Nothing was taken from your wallet."),
    "weak_pin": N_("This PIN is too easy to guess. Avoid 0000, 1234 and the like."),
    "invalid_pin_format": N_("A PIN is 4 digits."),
    "approval_expired": N_("This request has expired."),
    "approval_closed": N_("This request was already answered."),
    "invalid_name": N_("Please type your name (2 to 80 letters)."),
    "trip_in_progress": N_("You already have a ride under way."),
    "outside_service_area": N_("Sorry, rides are not available here yet."),
}


def refusal(ctx: Context, code: str) -> str:
    """The sentence for one of the codes above."""
    return ctx.t(_ERRORS[code])


def ends_the_flow(error: BaseException | None) -> bool:
    """Whether ``error`` (a step's refusal, or what a step's :class:`Invalid` was raised from) is one
    no other answer could change."""
    return isinstance(error, SikaError) and error.code in _ENDS_THE_FLOW


def explain(ctx: Context, error: SikaError) -> str:
    """What ``error`` means to the person, in their language (a wrong PIN says how many tries are left)."""
    if isinstance(error, InvalidPin):
        return ctx.t.plural(
            "Wrong PIN. {count} try left.", "Wrong PIN. {count} tries left.", error.tries_left
        )
    message = _ERRORS.get(error.code)
    if message is not None:
        return ctx.t(message)
    return ctx.t("Sorry, that did not work ({code}). Please try again.", code=error.code)
