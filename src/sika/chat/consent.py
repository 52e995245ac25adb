"""Marketing consent in the chat: STOP in any of the seven languages, and the notifications entry.

- **STOP** (STOP, ARRÊT, PARAR, ALTO, BASTA, СТОП, توقف… on WhatsApp, USSD and ``sika chat``) opts the
  number out of marketing at once, with a confirmation in the customer's language; what they were
  doing is cancelled, as "stop" always did. Receipts, codes and ride messages keep coming.
- **Notifications** (a menu entry): the quiet profile (none, night, prayer times, Ramadan) and the
  marketing question, asked in the customer's language; the answer is kept with when and how.
"""

from __future__ import annotations

from sika.chat import state
from sika.chat.context import Answer, Context, Invalid
from sika.chat.i18n import N_
from sika.chat.messages import Choice, Reply
from sika.chat.services import NoticePort
from sika.chat.shortcuts import normalize

__all__ = ["CONSENT_QUESTION", "STOP_CONFIRMATION", "STOP_WORDS", "YES_WORDS", "agreed", "ask_once",
           "consent_answer", "consent_ask", "is_stop", "quiet_answer", "quiet_ask", "stop"]

# What people type to stop promotions, in the seven languages (compared without accents or case).
STOP_WORDS = frozenset(normalize(word) for word in (
    "stop", "arret", "arrêt", "arrete", "arrêter", "desabonner", "désabonner",  # fr
    "unsubscribe", "stop all", "end", "quit",  # en
    "parar", "alto", "baja", "detener",  # es
    "basta", "fermati", "disiscriviti",  # it
    "pare", "sair", "cancelar inscricao",  # pt
    "стоп", "отписаться", "хватит",  # ru
    "توقف", "ايقاف", "إيقاف", "الغاء الاشتراك",  # ar
))
STOP_CONFIRMATION = N_("Done: Sika will send you no more offers or promotions. Receipts, codes and ride "
                       "messages still come. To receive offers again, choose Settings, then "
                       "Notifications, in the menu.")
# "Yes" to the consent question asked once, in the seven languages.
YES_WORDS = frozenset(normalize(word) for word in (
    "oui", "yes", "si", "sí", "sì", "sim", "да", "نعم"))
CONSENT_QUESTION = N_("Would you like to receive Sika's offers and promotions? At most one a day, never "
                      "in your quiet hours. Reply YES to agree; STOP ends them at any time.")
_ASKED = "consent_asked"  # the batch's name for the write marking the question asked
_VIA = {"whatsapp": "whatsapp", "ussd": "ussd", "sms": "sms"}
_QUIET = {"off": N_("No quiet hours"), "night": N_("Quiet at night"), "prayer": N_("Quiet at prayer times"),
          "ramadan": N_("Prayer times, suhoor and iftar")}


def is_stop(text: str) -> bool:
    return normalize(text) in STOP_WORDS


def _notices(ctx: Context) -> NoticePort:
    return ctx.services.notices


def stop(ctx: Context) -> None:
    """Opt out of marketing now, say so, and cancel whatever was under way."""
    _notices(ctx).store.opt_out(ctx.msisdn, via=_VIA.get(ctx.inbound.channel, "chat"))
    ctx.say(ctx.t(STOP_CONFIRMATION))
    if ctx.state.flow not in ("menu", "welcome"):
        ctx.say(ctx.t("Cancelled. Nothing was sent."))  # what "stop" always did in the middle of a flow
        ctx.state.reset()


def ask_once(ctx: Context) -> None:
    """After a turn that ends at the menu, ask a customer for marketing consent, once ever, in their
    language, before the menu. Not on USSD: its one screen is the menu's."""
    if ctx.inbound.channel == "ussd" or ctx.customer is None or ctx.state.flow != "menu" or not ctx.replies:
        return
    if not ctx.replies[-1].choices:  # the turn did not end at the menu (a warning, a sentence alone)
        return
    if not _mark_asked(ctx):
        return
    ctx.replies.insert(len(ctx.replies) - 1, Reply(text=ctx.t(CONSENT_QUESTION), rtl=ctx.t.rtl))


def _mark_asked(ctx: Context) -> bool:
    """Mark the question asked, unless it was: in a batch of messages (WhatsApp's inbox), with the
    batch's record of the answers, in its transaction; elsewhere at once."""
    store = _notices(ctx).store
    held = state.held()
    if held is None or not held.holds(ctx.msisdn):
        return store.mark_asked(ctx.msisdn)
    if held.pending(ctx.msisdn, _ASKED) or store.asked(ctx.msisdn):
        return False
    held.later(ctx.msisdn, _ASKED, store.mark_asked_in)
    return True


def agreed(ctx: Context) -> bool:
    """YES to the question :func:`ask_once` asked (and not answered yet): marketing on. True when so."""
    if ctx.customer is None or normalize(ctx.inbound.text) not in YES_WORDS:
        return False
    store = _notices(ctx).store
    preferences = store.get(ctx.msisdn)
    if preferences.consent_asked_at_ns is None or preferences.consent_at_ns is not None:
        return False  # never asked, or answered already: "yes" means nothing here
    store.change(ctx.msisdn, marketing=True, via=_VIA.get(ctx.inbound.channel, "chat"))
    ctx.say(ctx.t("Saved: you will receive offers, outside your quiet hours."))
    return True


def quiet_ask(ctx: Context) -> Reply:
    current = _notices(ctx).store.get(ctx.msisdn).quiet
    choices = [Choice(f"quiet:{name}", ctx.t(title)) for name, title in _QUIET.items()]
    return Reply(ctx.t("When should Sika keep quiet? Receipts and codes always come at once. Now: {current}.",
                       current=ctx.t(_QUIET[current])), choices=choices, button=ctx.t("Notifications"))


def quiet_answer(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("quiet:"):
        raise Invalid(ctx.t("Please choose one of the options."))
    quiet = answer.choice.removeprefix("quiet:")
    assert quiet in _QUIET
    _notices(ctx).store.change(ctx.msisdn, quiet=quiet)  # type: ignore[arg-type]  # one of _QUIET's keys
    ctx.go("notices", "consent")


def consent_ask(ctx: Context) -> Reply:
    return Reply(ctx.t("Would you like to receive Sika's offers and promotions? At most one a day, never "
                       "in your quiet hours. Reply STOP at any time to end them."),
                 choices=[Choice("consent:yes", ctx.t("Yes")), Choice("consent:no", ctx.t("No"))])


def consent_answer(ctx: Context, answer: Answer) -> None:
    if answer.choice not in ("consent:yes", "consent:no"):
        raise Invalid(ctx.t("Please choose one of the options."))
    yes = answer.choice == "consent:yes"
    _notices(ctx).store.change(ctx.msisdn, marketing=yes, via=_VIA.get(ctx.inbound.channel, "chat"))
    ctx.done(ctx.t("Saved: you will receive offers, outside your quiet hours.") if yes
             else ctx.t("Saved: no offers or promotions."))
