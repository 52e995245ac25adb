"""What the users of ``sika bench whatsapp`` write, and what each answer must look like.

Two mixes:

* ``read``: "menu", a tap on *Balance*, "solde"/"balance", a tap on *History*, "mon solde"/"my
  balance": no PIN, no money moved (the figures quoted before issue 15).
* ``realistic`` (the default): a PIN-confirmed transfer to another user of the run, an electricity
  bill (CEET Cash Power, through the biller's fake), airtime for one's own number (through the
  airtime provider's fake), then the balance and the history. Fifteen messages, of which three enter
  a PIN and move money and three more confirm a payment; thirteen belong to a payment.

Each user goes round their mix from a starting point of their own (users are spread over the
flows' first messages, each a typed text), so that any number of messages per user is a fair sample
of it. Every
answer is checked: the replies of a user's messages arrive in order and each must be what its step
expects (a confirmation with its buttons and amount, the PIN question, the biller's list, a receipt
with a movement reference…). Receipts the payments outbox sends (to the payer, and to a transfer's
recipient) are counted apart, by user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sika.chat.i18n import translator

__all__ = ["MIXES", "Person", "Step", "choice_ids", "is_receipt", "mix_steps", "reply_problem", "shares"]

# A step's check of one reply: None when it is right, else what is wrong.
Check = Callable[[dict[str, Any], "Person"], str | None]

METER = "12345678903"
BILL_AMOUNT = 1_000
SEND_AMOUNT = 500
AIRTIME_AMOUNT = 200


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    msisdn: str  # +228…
    language: str
    recipient: str  # the number this user sends money to (another user of the run)
    pin: str

    @property
    def wa_id(self) -> str:
        return self.msisdn.removeprefix("+")


@dataclass(frozen=True, slots=True)
class Step:
    """One message: what is typed (or tapped), and what its one reply must look like."""

    name: str
    typed: Callable[[Person], str]  # the text typed, or the tapped option's title
    choice_id: str | None
    check: Check
    pin: bool = False  # the message is a PIN
    confirms: bool = False  # a tap on Confirm of a payment
    payment: bool = False  # part of a payment, from its request to its PIN
    pays: str | None = None  # the movement kind this message completes (with its PIN)
    amount: int = 0


def choice_ids(body: dict[str, Any]) -> list[str]:
    """The ids of a message's buttons or list rows (none for a text)."""
    if body.get("type") != "interactive":
        return []
    action = body["interactive"].get("action", {})
    buttons = [b["reply"]["id"] for b in action.get("buttons", [])]
    rows = [row["id"] for section in action.get("sections", []) for row in section.get("rows", [])]
    return buttons + rows


def _text(body: dict[str, Any]) -> str:
    if body.get("type") == "text":
        return str(body["text"]["body"])
    if body.get("type") == "interactive":
        return str(body["interactive"]["body"]["text"])
    return ""


def is_receipt(body: dict[str, Any]) -> bool:
    """A receipt from the payments outbox: a plain text naming a movement (chat receipts come with
    the menu, as one interactive message)."""
    return body.get("type") == "text" and "mv_" in _text(body)


def reply_problem(step: Step, body: dict[str, Any], person: Person) -> str | None:
    return step.check(body, person)


# Checks ------------------------------------------------------------------------------------------

_MENU = {"balance", "send", "bills", "history"}


def _said(msgid: str) -> Check:
    """A plain text saying exactly ``msgid`` in the person's language."""
    def check(body: dict[str, Any], person: Person) -> str | None:
        wanted = translator(person.language)(msgid)
        return None if body.get("type") == "text" and _text(body) == wanted else f"not {msgid!r}"
    return check


def _menu_with(*parts: Callable[[Person], str]) -> Check:
    """The menu, its body holding each of ``parts`` (an answer folded above it)."""
    def check(body: dict[str, Any], person: Person) -> str | None:
        if not set(choice_ids(body)) >= _MENU:
            return "not the menu"
        text = _text(body)
        missing = [part(person) for part in parts if part(person) not in text]
        return f"the menu without {missing}" if missing else None
    return check


def _choices(*ids: str, amount: int | None = None) -> Check:
    def check(body: dict[str, Any], person: Person) -> str | None:
        if not set(ids) <= set(choice_ids(body)):
            return f"no choices {ids}"
        if amount is not None and _amount(amount)(person) not in _text(body):
            return f"no amount {amount}"
        return None
    return check


def _amount(value: int) -> Callable[[Person], str]:
    return lambda person: translator(person.language).amount(value)


def _reference(_person: Person) -> str:
    return "mv_"


def _word(fr: str, en: str) -> Callable[[Person], str]:
    return lambda person: fr if person.language == "fr" else en


_PIN_ASK = "Type your 4-digit PIN to confirm."


def _asks_meter(body: dict[str, Any], _person: Person) -> str | None:
    # The question names how many digits a Cash Power meter has.
    return None if body.get("type") == "text" and "11" in _text(body) else "not the meter question"


# The mixes -----------------------------------------------------------------------------------------

_READ = (
    Step("menu", _word("menu", "menu"), None, _menu_with()),
    Step("tap balance", _word("Solde", "Balance"), "balance", _menu_with(lambda p: "F CFA")),
    Step("balance", _word("solde", "balance"), None, _menu_with(lambda p: "F CFA")),
    Step("tap history", _word("Historique", "History"), "history", _menu_with(lambda p: "F CFA")),
    Step("my balance", _word("mon solde", "my balance"), None, _menu_with(lambda p: "F CFA")),
)

_SEND = (
    Step("send", lambda p: (f"envoyer {SEND_AMOUNT} à {p.recipient[-8:]}" if p.language == "fr"
                            else f"send {SEND_AMOUNT} to {p.recipient[-8:]}"), None,
         _choices("confirm", "cancel", amount=SEND_AMOUNT), payment=True),
    Step("confirm send", _word("Confirmer", "Confirm"), "confirm", _said(_PIN_ASK), payment=True,
         confirms=True),
    Step("pin send", lambda p: p.pin, None, _menu_with(_amount(SEND_AMOUNT), _reference), payment=True,
         pin=True, pays="transfer", amount=SEND_AMOUNT),
)
# Taps Bills in the menu the previous payment's receipt came with: never a user's first message.
_BILL = (
    Step("tap bills", _word("Factures", "Bills"), "bills", _choices("ceet", "tde", "canal"), payment=True),
    Step("tap ceet", _word("CEET", "CEET"), "ceet", _asks_meter, payment=True),
    Step("meter", lambda p: METER, None, _said("How much electricity do you want to buy, in francs?"),
         payment=True),
    Step("bill amount", lambda p: str(BILL_AMOUNT), None,
         _choices("confirm", "cancel", amount=BILL_AMOUNT), payment=True),
    Step("confirm bill", _word("Confirmer", "Confirm"), "confirm", _said(_PIN_ASK), payment=True,
         confirms=True),
    Step("pin bill", lambda p: p.pin, None, _menu_with(_amount(BILL_AMOUNT), _reference), payment=True,
         pin=True, pays="bill", amount=BILL_AMOUNT),
)
_AIRTIME = (
    Step("airtime", _word(f"crédit {AIRTIME_AMOUNT}", f"airtime {AIRTIME_AMOUNT}"), None,
         _choices("op:togocom", "op:moov"), payment=True),
    Step("tap operator", _word("Togocom", "Togocom"), "op:togocom",
         _choices("confirm", "cancel", amount=AIRTIME_AMOUNT), payment=True),
    Step("confirm airtime", _word("Confirmer", "Confirm"), "confirm", _said(_PIN_ASK), payment=True,
         confirms=True),
    Step("pin airtime", lambda p: p.pin, None, _menu_with(_amount(AIRTIME_AMOUNT), _reference),
         payment=True, pin=True, pays="airtime", amount=AIRTIME_AMOUNT),
)
_LOOK = (
    Step("balance", _word("solde", "balance"), None, _menu_with(lambda p: "F CFA")),
    Step("history", _word("historique", "history"), None, _menu_with(lambda p: "F CFA")),
)
_REALISTIC = (*_SEND, *_BILL, *_AIRTIME, *_LOOK)
# Where a user may start: the first message of a flow that begins with a typed text.
_STARTS = {"read": (0,), "realistic": (0, len(_SEND) + len(_BILL), len(_SEND) + len(_BILL) + len(_AIRTIME))}
MIXES: dict[str, tuple[Step, ...]] = {"read": _READ, "realistic": _REALISTIC}
assert all(step.pays is None or step.pin for step in _REALISTIC)


def mix_steps(mix: str, user: int, count: int) -> list[Step]:
    """User ``user``'s first ``count`` steps of ``mix``, from their own starting point."""
    steps = MIXES[mix]
    starts = _STARTS[mix]
    start = starts[user % len(starts)]
    return [steps[(start + i) % len(steps)] for i in range(count)]


def shares(plan: Sequence[Sequence[Step]]) -> dict[str, float]:
    """Of all messages: the PINs, the PINs and confirmations, and the payments' messages."""
    flat = [step for steps in plan for step in steps]
    total = max(len(flat), 1)
    return {
        "pin_share": sum(s.pin for s in flat) / total,
        "pin_or_confirm_share": sum(s.pin or s.confirms for s in flat) / total,
        "payment_share": sum(s.payment for s in flat) / total,
    }
