"""A bill's reference (meter, subscriber or card number), checked where it is typed.

The provider's quote knows whether a reference exists: asked without an amount, it answers
``amount_required`` for a sound reference and ``invalid_reference`` for a mistyped one. The form asks
it at the reference step, so a bad meter number is refused there, saying what a good one looks like,
instead of at the amount step, where no amount could fix it.
"""

from __future__ import annotations

from sika.chat.context import Context, Invalid
from sika.chat.flows.refusals import explain
from sika.chat.i18n import N_
from sika.errors import SikaError

__all__ = ["check", "problem"]

_RULES = {
    "ceet": N_("This is not a valid Cash Power meter number. It has 11 digits, as printed on your meter: "
               "check them and type it again."),
    "tde": N_("This is not a valid TdE subscriber number. It has 8 digits, as printed on your bill: check "
              "them and type it again."),
    "canal": N_("This is not a valid Canal+ card number. It has 14 digits, as printed on your card: check "
                "them and type it again."),
}


def check(ctx: Context, provider: str, product: str, reference: str) -> None:
    """Refuse (:class:`Invalid`) a reference the provider does not take, saying why."""
    try:
        ctx.services.purchases.quote(provider, product, reference, None)
    except SikaError as exc:
        if exc.code != "amount_required":
            raise Invalid(problem(ctx, provider, exc) or explain(ctx, exc)) from exc


def problem(ctx: Context, provider: str, error: SikaError) -> str | None:
    """What a good reference looks like, when the reference is what the provider refused."""
    rule = _RULES.get(provider) if error.code == "invalid_reference" else None
    return ctx.t(rule) if rule is not None else None
