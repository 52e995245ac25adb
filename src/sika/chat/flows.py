"""The flows, step by step: welcome, menu, balance, send money, airtime and data, bills and TV,
approvals, history, language, help.

A step asks (``ask`` returns the screen: a text and maybe choices) and takes an answer (``answer``
checks it, stores it in ``state.data`` and moves on with ``ctx.go``, or raises :class:`Invalid` to
ask again). Steps never write wire formats and never hold a PIN longer than the call that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sika import phones
from sika.chat import bill_references, consent, pin_gate, ride_status, vouchers
from sika.chat import ride_places as places
from sika.chat.context import Answer, Context, Invalid
from sika.chat.i18n import LANGUAGES, N_, translator
from sika.chat.messages import Choice, Location, Reply
from sika.chat.shortcuts import Intent, parse_amount
from sika.chat.statement_text import history_text
from sika.errors import SikaError
from sika.payments import Movement, Status
from sika.providers import operator_hint
from sika.rides.geo import Point
from sika.wallet import InvalidPin, Pin, PinHasher, PinLocked

__all__ = [
    "PENDING_SHOWN",
    "WELCOME_FIRST_STEP",
    "Step",
    "explain",
    "help_text",
    "looks_like_pin",
    "start_intent",
    "step",
    "welcome_intro",
]

NAME_CHARS_MIN = 2
HISTORY_ITEMS = 5
BUNDLES_SHOWN = 8
# Requests for approval a list shows at most (a WhatsApp list has 10 rows).
PENDING_SHOWN = 10

NATIVE_NAMES = {
    "fr": "Français",
    "en": "English",
    "es": "Español",
    "it": "Italiano",
    "pt": "Português",
    "ru": "Русский",
    "ar": "العربية",
}


@dataclass(frozen=True)
class Step:
    ask: Callable[[Context], Reply]
    answer: Callable[[Context, Answer], None]
    secret: bool = False  # the answer is a PIN: never kept, never matched against shortcuts
    on_location: Callable[[Context, Location], None] | None = None  # the step takes a shared location


def _invalid(message: str) -> Exception:
    return Invalid(message)


# Explaining errors ---------------------------------------------------------------------------------

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


def _err(ctx: Context, code: str) -> str:
    return ctx.t(_ERRORS[code])


def explain(ctx: Context, error: SikaError) -> str:
    if isinstance(error, InvalidPin):
        return ctx.t.plural(
            "Wrong PIN. {count} try left.", "Wrong PIN. {count} tries left.", error.tries_left
        )
    message = _ERRORS.get(error.code)
    if message is not None:
        return ctx.t(message)
    return ctx.t("Sorry, that did not work ({code}). Please try again.", code=error.code)


# Welcome: a number without a wallet -------------------------------------------------------------------

WELCOME_FIRST_STEP = "language"


def welcome_intro(ctx: Context) -> None:
    ctx.say(
        ctx.t(
            "Welcome to Sika! Send and receive money, buy airtime and pay your bills, right here. "
            "Let's open your wallet: it takes a minute."
        )
    )


def _language_choices() -> list[Choice]:
    return [Choice(id=f"lang:{code}", title=NATIVE_NAMES[code]) for code in LANGUAGES]


def _welcome_language_ask(ctx: Context) -> Reply:
    return Reply(ctx.t("Choose your language."), choices=_language_choices(), button=ctx.t("Languages"))


def _welcome_language(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("lang:"):
        raise _invalid(ctx.t("Please choose one of the languages."))
    ctx.state.language = answer.choice.removeprefix("lang:")
    ctx.t = translator(ctx.state.language)
    ctx.go("welcome", "name")


def _welcome_name(ctx: Context, answer: Answer) -> None:
    name = " ".join(answer.text.split())
    if len(name) < NAME_CHARS_MIN or len(name) > 80 or not name.isprintable() or name.isdigit():
        raise _invalid(_err(ctx, "invalid_name"))
    ctx.state.data["name"] = name
    ctx.go("welcome", "pin")


def _welcome_pin(ctx: Context, answer: Answer) -> None:
    pin = _pin(ctx, answer.text)
    # Kept only as an argon2 hash until the second entry, then forgotten.
    ctx.state.data["pin_hash"] = PinHasher().hash(pin)
    ctx.go("welcome", "pin_again")


def _welcome_pin_again(ctx: Context, answer: Answer) -> None:
    pin = _pin(ctx, answer.text)
    stored = str(ctx.state.data.pop("pin_hash", ""))
    if not stored or not PinHasher().verify(stored, pin):
        ctx.state.back()
        raise _invalid(ctx.t("The two PINs differ. Choose your PIN again."))
    language = ctx.state.language or ctx.t.language
    ctx.container.customers.open(ctx.msisdn, str(ctx.state.data["name"]), language=language, pin=pin)
    ctx.refresh_customer()
    waiting = ctx.container.payments.vouchers_for(ctx.msisdn)
    if waiting:  # short: a USSD screen must still show the question for the code
        ctx.say(ctx.t("Your Sika wallet is open, {name}!", name=ctx.state.data["name"]))
        vouchers.offer_claim(ctx, sum(int(v["amount"]) for v in waiting))
        return
    text = ctx.t(
        "Your Sika wallet is open, {name}! Keep your PIN secret: Sika never asks for it except "
        "to confirm a payment.",
        name=ctx.state.data["name"],
    )
    ctx.done(text)


def _pin(ctx: Context, text: str) -> Pin:
    candidate = text.strip()
    if not (len(candidate) == 4 and candidate.isascii() and candidate.isdigit()):
        raise _invalid(_err(ctx, "invalid_pin_format"))
    pin = Pin(candidate)
    try:
        pin.check_strength()
    except SikaError as exc:
        raise _invalid(explain(ctx, exc)) from exc
    return pin


# Menu ------------------------------------------------------------------------------------------------


def _menu_ask(ctx: Context) -> Reply:
    pending = _pending_approvals(ctx)
    approvals = (
        ctx.t("Approve a request ({count})", count=len(pending)) if pending else ctx.t("Approve a request")
    )
    choices = [
        Choice("balance", ctx.t("Balance")),
        Choice("send", ctx.t("Send money")),
        Choice("airtime", ctx.t("Airtime and data")),
        Choice("bills", ctx.t("Bills and TV")),
        Choice("ride", ctx.t("Book a ride")),
        Choice("approvals", approvals),
        Choice("history", ctx.t("History")),
        Choice("language", ctx.t("Language")),
        Choice("notices", ctx.t("Notifications")),
        Choice("help", ctx.t("Help")),
    ]
    return Reply(ctx.t("What would you like to do?"), choices=choices, button=ctx.t("Menu"))


def _menu(ctx: Context, answer: Answer) -> None:
    choice = answer.choice
    if choice is None:
        raise _invalid(ctx.t('Choose an option from the menu, or type for example "send 5000 to 90112233".'))
    if choice in ("balance", "history"):
        pin_gate.read(ctx, choice, _say_balance if choice == "balance" else _say_history)
    elif choice == "help":
        ctx.done(help_text(ctx))
    elif choice == "send":
        ctx.go("send", "to")
    elif choice == "airtime":
        ctx.go("airtime", "whom")
    elif choice == "bills":
        ctx.go("bills", "biller")
    elif choice == "ride":
        ride_status.start(ctx)
    elif choice == "approvals":
        if not _pending_approvals(ctx):
            ctx.say(ctx.t("No request is waiting for your approval."))
            return
        ctx.go("approvals", "pick")
    elif choice == "language":
        ctx.go("language", "pick")
    elif choice == "notices":
        ctx.go("notices", "quiet")


def help_text(ctx: Context) -> str:
    return ctx.t(
        "Sika: your wallet in this chat.\n"
        'Shortcuts: "balance", "send 5000 to 90112233", "airtime 1000 for 97112233".\n'
        'At any step: 0 to go back, "cancel" to stop, "menu" for the menu.\n'
        "Never share your PIN; Sika asks for it only to confirm a payment."
    )


def _say_balance(ctx: Context) -> None:
    assert ctx.customer is not None and ctx.customer.account_id is not None
    account = ctx.account or ctx.container.ledger.get_account(ctx.customer.account_id)
    text = ctx.t("Your balance: {balance}.", balance=ctx.t.amount(account.balance))
    if account.available != account.balance:
        text += "\n" + ctx.t(
            "Available now: {available} (the rest is held for payments in progress).",
            available=ctx.t.amount(account.available),
        )
    ctx.done(text)


def _say_history(ctx: Context) -> None:
    assert ctx.customer is not None
    page = ctx.container.statements.page(ctx.customer, limit=HISTORY_ITEMS)
    ctx.done(history_text(ctx.t, page.items))


# Send money ------------------------------------------------------------------------------------------


def _ask_text(message: str) -> Callable[[Context], Reply]:
    def ask(ctx: Context) -> Reply:
        return Reply(ctx.t(message))

    return ask


def _send_to(ctx: Context, answer: Answer) -> None:
    ctx.state.data["to"] = _number(ctx, answer.text)
    ctx.go("send", "amount")


def _send_amount(ctx: Context, answer: Answer) -> None:
    amount = _amount(ctx, answer.text)
    _quote_transfer(ctx, str(ctx.state.data["to"]), amount)
    ctx.go("send", "confirm")


def _quote_transfer(ctx: Context, to: str, amount: int) -> None:
    assert ctx.customer is not None
    try:
        quote = ctx.container.payments.quote_transfer(ctx.customer, to, amount)
    except SikaError as exc:
        raise _invalid(explain(ctx, exc)) from exc
    ctx.state.data.update(to=quote.to, amount=amount, fee=quote.fee, name=quote.recipient_name)


def _send_confirm_ask(ctx: Context) -> Reply:
    d = ctx.state.data
    if d.get("name"):
        text = ctx.t(
            "Send {amount} to {name} ({number})?\nFee: {fee}. Total: {total}.",
            amount=ctx.t.amount(d["amount"]),
            name=d["name"],
            number=d["to"],
            fee=ctx.t.amount(d["fee"]),
            total=ctx.t.amount(d["amount"] + d["fee"]),
        )
    else:
        text = vouchers.confirm_text(ctx, str(d["to"]), int(d["amount"]), int(d["fee"]))
    return _confirm(ctx, text)


def _confirm(ctx: Context, text: str) -> Reply:
    return Reply(text, choices=[Choice("confirm", ctx.t("Confirm")), Choice("cancel", ctx.t("Cancel"))])


def _confirmed(next_flow: str) -> Callable[[Context, Answer], None]:
    def answer(ctx: Context, given: Answer) -> None:
        if given.choice == "confirm":
            ctx.go(next_flow, "pin")
        elif given.choice == "cancel":
            ctx.say(ctx.t("Cancelled. Nothing was sent."))
            ctx.state.reset()
        else:
            raise _invalid(ctx.t("Please answer Confirm or Cancel."))

    return answer


def _pin_ask(ctx: Context) -> Reply:
    return Reply(ctx.t("Type your 4-digit PIN to confirm."))


def _send_pin(ctx: Context, answer: Answer) -> None:
    d = ctx.state.data
    customer = ctx.customer
    assert customer is not None
    movement = _with_pin(
        ctx,
        answer,
        lambda pin: ctx.container.payments.transfer(
            ctx.movement_id(), customer, str(d["to"]), int(d["amount"]), pin=pin
        ),
    )
    if movement is None:
        return
    if movement.kind.value == "voucher":
        ctx.done(vouchers.sent_text(ctx, movement))
    else:
        ctx.done(
            ctx.t(
                "Sent {amount} to {name}. Fee: {fee}. Reference: {id}.",
                amount=ctx.t.amount(movement.amount),
                name=d.get("name") or d["to"],
                fee=ctx.t.amount(movement.fee),
                id=movement.id,
            )
        )


def _with_pin(ctx: Context, answer: Answer, pay: Callable[[Pin], Movement]) -> Movement | None:
    """Run ``pay`` with the PIN typed; explain a refusal and finish, or ask again on a wrong PIN."""
    pin = Pin(answer.text.strip()) if looks_like_pin(answer.text) else None
    if pin is None:
        raise _invalid(_err(ctx, "invalid_pin_format"))
    try:
        movement = pay(pin)
    except PinLocked as exc:
        ctx.done(explain(ctx, exc))
        return None
    except InvalidPin as exc:
        raise _invalid(explain(ctx, exc)) from exc
    except SikaError as exc:
        ctx.done(explain(ctx, exc))
        return None
    if movement.status is Status.FAILED:
        ctx.done(
            explain(
                ctx,
                SikaError(
                    movement.error_code or "payment_failed", code=movement.error_code or "payment_failed"
                ),
            )
        )
        return None
    if movement.status in (Status.PENDING, Status.PROCESSING):
        ctx.done(
            ctx.t(
                "Your payment of {amount} is being processed. You will get a receipt here.",
                amount=ctx.t.amount(movement.amount),
            )
        )
        return None
    return movement


def looks_like_pin(text: str) -> bool:
    candidate = text.strip()
    return len(candidate) == 4 and candidate.isascii() and candidate.isdigit()


# Airtime and data ------------------------------------------------------------------------------------


def _airtime_whom_ask(ctx: Context) -> Reply:
    return Reply(
        ctx.t("Airtime or data for whom?"),
        choices=[Choice("me", ctx.t("For me")), Choice("other", ctx.t("Another number"))],
    )


def _airtime_whom(ctx: Context, answer: Answer) -> None:
    if answer.choice == "me":
        ctx.state.data["number"] = ctx.msisdn
        ctx.go("airtime", "operator")
    elif answer.choice == "other":
        ctx.go("airtime", "number")
    else:
        raise _invalid(ctx.t("Please choose one of the options."))


def _airtime_number(ctx: Context, answer: Answer) -> None:
    ctx.state.data["number"] = _number(ctx, answer.text)
    ctx.go("airtime", "operator")


def _airtime_operator_ask(ctx: Context) -> Reply:
    hint = operator_hint(str(ctx.state.data.get("number", ctx.msisdn)))
    operators = [("togocom", "Togocom"), ("moov", "Moov Africa")]
    if hint == "moov":
        operators.reverse()
    text = ctx.t(
        "Which operator is {number} with? Numbers can move between operators, so please check.",
        number=ctx.state.data.get("number", ctx.msisdn),
    )
    return Reply(text, choices=[Choice(f"op:{code}", name) for code, name in operators])


def _airtime_operator(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("op:"):
        raise _invalid(ctx.t("Please choose the operator."))
    ctx.state.data["operator"] = answer.choice.removeprefix("op:")
    ctx.go("airtime", "product")


def _bundles(ctx: Context) -> list[dict[str, Any]]:
    operator = str(ctx.state.data["operator"])
    for entry in ctx.container.purchases.catalogue():
        if entry["provider"] == operator and entry["kind"] == "data":
            return list(entry["products"])[:BUNDLES_SHOWN]
    return []


def _airtime_product_ask(ctx: Context) -> Reply:
    choices = [Choice("airtime", ctx.t("Airtime (any amount)"))]
    choices.extend(
        Choice(
            str(bundle["product"]),
            str(bundle["name"])[:24],
            description=ctx.t.amount(int(bundle["price"])) if bundle.get("price") else None,
        )
        for bundle in _bundles(ctx)
    )
    return Reply(ctx.t("Airtime or a data bundle?"), choices=choices, button=ctx.t("Choose"))


def _airtime_product(ctx: Context, answer: Answer) -> None:
    if answer.choice == "airtime":
        ctx.state.data["product"] = "airtime"
        ctx.go("airtime", "amount")
        return
    if answer.choice is None or not answer.choice.startswith("data:"):
        raise _invalid(ctx.t("Please choose one of the options."))
    ctx.state.data["product"] = answer.choice
    _quote_purchase(ctx, str(ctx.state.data["operator"]), answer.choice, str(ctx.state.data["number"]), None)
    ctx.go("airtime", "confirm")


def _airtime_amount(ctx: Context, answer: Answer) -> None:
    amount = _amount(ctx, answer.text)
    _quote_purchase(ctx, str(ctx.state.data["operator"]), "airtime", str(ctx.state.data["number"]), amount)
    ctx.go("airtime", "confirm")


def _quote_purchase(ctx: Context, provider: str, product: str, reference: str, amount: int | None) -> None:
    try:
        quote = ctx.container.purchases.quote(provider, product, reference, amount)
    except SikaError as exc:
        if exc.code == "invalid_reference" and ctx.state.flow == "bills" and ctx.state.step != "reference":
            ctx.state.back()  # never ask again for what cannot fix it: back to the reference
        raise _invalid(bill_references.problem(ctx, provider, exc) or explain(ctx, exc)) from exc
    ctx.state.data.update(
        provider=provider,
        product=product,
        reference=quote.reference,
        amount=quote.amount,
        fee=quote.fee,
        description=quote.description,
    )


def _purchase_confirm_ask(ctx: Context) -> Reply:
    d = ctx.state.data
    text = ctx.t(
        "{description}\nAmount: {amount}. Fee: {fee}. Total: {total}. Confirm?",
        description=d["description"],
        amount=ctx.t.amount(d["amount"]),
        fee=ctx.t.amount(d["fee"]),
        total=ctx.t.amount(d["amount"] + d["fee"]),
    )
    return _confirm(ctx, text)


def _purchase_pin(ctx: Context, answer: Answer) -> None:
    d = ctx.state.data
    customer = ctx.customer
    assert customer is not None
    movement = _with_pin(
        ctx,
        answer,
        lambda pin: ctx.container.purchases.buy(
            ctx.movement_id(),
            customer,
            provider=str(d["provider"]),
            product=str(d["product"]),
            reference=str(d["reference"]),
            amount=int(d["amount"]),
            pin=pin,
        ),
    )
    if movement is None:
        return
    receipt = movement.details.get("receipt") or {}
    text = ctx.t(
        "Paid: {description}. Amount: {amount}. Reference: {id}.",
        description=d["description"],
        amount=ctx.t.amount(movement.amount),
        id=movement.id,
    )
    if receipt.get("token"):
        text += "\n" + ctx.t("Your electricity token: {token}", token=receipt["token"])
    ctx.done(text)


# Bills and TV ----------------------------------------------------------------------------------------


def _bills_biller_ask(ctx: Context) -> Reply:
    return Reply(
        ctx.t("Which bill?"),
        choices=[
            Choice("ceet", ctx.t("Electricity (CEET)")),
            Choice("tde", ctx.t("TdE water")),
            Choice("canal", ctx.t("Canal+ TV")),
        ],
    )


def _bills_biller(ctx: Context, answer: Answer) -> None:
    if answer.choice not in ("ceet", "tde", "canal"):
        raise _invalid(ctx.t("Please choose one of the options."))
    ctx.state.data["provider"] = answer.choice
    ctx.go("bills", "reference")


def _bills_reference_ask(ctx: Context) -> Reply:
    prompts = {
        "ceet": N_("Type your Cash Power meter number (11 digits)."),
        "tde": N_("Type your TdE subscriber number (8 digits)."),
        "canal": N_("Type your Canal+ card number (14 digits)."),
    }
    return Reply(ctx.t(prompts[str(ctx.state.data["provider"])]))


def _bills_reference(ctx: Context, answer: Answer) -> None:
    reference = "".join(answer.text.split())[:64]
    provider = str(ctx.state.data["provider"])
    ctx.state.data["reference"] = reference
    if provider == "tde":
        _quote_purchase(ctx, "tde", "water", reference, None)
        ctx.go("bills", "confirm")
        return
    product = "electricity" if provider == "ceet" else next((p for p, _, _ in _canal_packages(ctx)), "tv:")
    bill_references.check(ctx, provider, product, reference, explain)
    ctx.go("bills", "package" if provider == "canal" else "amount")


def _bills_amount(ctx: Context, answer: Answer) -> None:
    amount = _amount(ctx, answer.text)
    _quote_purchase(ctx, "ceet", "electricity", str(ctx.state.data["reference"]), amount)
    ctx.go("bills", "confirm")


def _canal_packages(ctx: Context) -> list[tuple[str, str, int | None]]:
    """Canal+'s packages: product, name and price."""
    return [(str(product["product"]), str(product["name"]), product.get("price"))
            for entry in ctx.container.purchases.catalogue() if entry["provider"] == "canal"
            for product in entry["products"][:10]]


def _bills_package_ask(ctx: Context) -> Reply:
    choices = [Choice(product, name[:24], description=ctx.t.amount(int(price)) if price else None)
               for product, name, price in _canal_packages(ctx)]
    return Reply(ctx.t("Which Canal+ package?"), choices=choices, button=ctx.t("Packages"))


def _bills_package(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("tv:"):
        raise _invalid(ctx.t("Please choose a package."))
    _quote_purchase(ctx, "canal", answer.choice, str(ctx.state.data["reference"]), None)
    ctx.go("bills", "confirm")


# Approvals -------------------------------------------------------------------------------------------


def _pending_approvals(ctx: Context) -> list[Any]:
    """The requests waiting for the customer, read once a turn (or ahead, with the batch: see
    :meth:`~sika.chat.dialog.Dialog.prefetch`); answering one forgets them."""
    if ctx.customer is None:
        return []
    if ctx.pending_approvals is None:
        ctx.pending_approvals = ctx.container.approvals.pending_for(ctx.customer.id, limit=PENDING_SHOWN)
    return ctx.pending_approvals


def _approvals_pick_ask(ctx: Context) -> Reply:
    # Who asks by their registered name; what the merchant wrote only as their note.
    choices = []
    for a in _pending_approvals(ctx):
        name, note = ctx.container.approvals.requester(a)
        amount = ctx.t.amount(a.amount)
        line = ctx.t('{amount}. Their note: "{note}"', amount=amount, note=note) if note else amount
        choices.append(Choice(a.id, name, description=line[:72]))
    if not choices:
        ctx.state.reset()
        return Reply(ctx.t("No request is waiting for your approval."))
    return Reply(ctx.t("Requests waiting for your approval:"), choices=choices, button=ctx.t("Requests"))


def _approvals_pick(ctx: Context, answer: Answer) -> None:
    if answer.choice is None:
        raise _invalid(ctx.t("Please choose a request."))
    ctx.state.data["approval"] = answer.choice
    ctx.go("approvals", "decide")


def _approvals_decide_ask(ctx: Context) -> Reply:
    approval = ctx.container.approvals.get(str(ctx.state.data["approval"]))
    name, note = ctx.container.approvals.requester(approval)
    amount, fee = ctx.t.amount(approval.amount), ctx.t.amount(approval.fee)
    if approval.kind == "cash_out":
        text = ctx.t("Cash-out at {name}: {amount}. Fee: {fee}.", name=name, amount=amount, fee=fee)
    else:
        text = ctx.t("{name} asks you to pay {amount}. Fee: {fee}.", name=name, amount=amount, fee=fee)
    if note:
        text += "\n" + ctx.t('Their note: "{note}"', note=note)
    return Reply(text, choices=[Choice("confirm", ctx.t("Approve")), Choice("decline", ctx.t("Decline"))])


def _approvals_decide(ctx: Context, answer: Answer) -> None:
    assert ctx.customer is not None
    if answer.choice == "confirm":
        ctx.go("approvals", "pin")
    elif answer.choice == "decline":
        ctx.container.approvals.decline(str(ctx.state.data["approval"]), ctx.customer)
        ctx.pending_approvals = None
        ctx.done(ctx.t("Request declined. Nothing was paid."))
    else:
        raise _invalid(ctx.t("Please answer Approve or Decline."))


def _approvals_pin(ctx: Context, answer: Answer) -> None:
    customer = ctx.customer
    assert customer is not None
    approval_id = str(ctx.state.data["approval"])
    movement = _with_pin(ctx, answer, lambda pin: ctx.container.approvals.approve(approval_id, customer, pin))
    ctx.pending_approvals = None
    if movement is not None:
        ctx.done(
            ctx.t(
                "Paid {amount} to {name}. Reference: {id}.",
                amount=ctx.t.amount(movement.amount),
                name=movement.counterparty or "",
                id=movement.id,
            )
        )


# Rides -----------------------------------------------------------------------------------------------

_VEHICLE_NAMES = {"moto": N_("Moto"), "tricycle": N_("Tricycle"), "car": N_("Car")}


def _ride_points(ctx: Context) -> tuple[Point, Point]:
    d = ctx.state.data
    return Point(*d["pickup"]), Point(*d["dropoff"])


def _ride_vehicle_ask(ctx: Context) -> Reply:
    rides = ctx.container.rides
    assert rides is not None
    pickup, dropoff = _ride_points(ctx)
    choices = []
    for vehicle in rides.city(str(ctx.state.data["city"])).vehicles:
        try:
            quote = rides.quote(str(ctx.state.data["city"]), vehicle.type, pickup, dropoff)
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
                f"vehicle:{vehicle.type}",
                ctx.t(_VEHICLE_NAMES[vehicle.type]),
                description=f"{ctx.t.amount(quote.fare)}, {wait}",
            )
        )
    return Reply(ctx.t("Which ride?"), choices=choices, button=ctx.t("Choose"))


def _ride_vehicle(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("vehicle:"):
        raise _invalid(ctx.t("Please choose one of the options."))
    rides = ctx.container.rides
    assert rides is not None
    vehicle = answer.choice.removeprefix("vehicle:")
    pickup, dropoff = _ride_points(ctx)
    quote = rides.quote(str(ctx.state.data["city"]), vehicle, pickup, dropoff)
    ctx.state.data.update(vehicle=vehicle, fare=quote.fare, km=ctx.t.decimal(quote.distance_m / 1000))
    ctx.go("ride", "payment")


def _ride_payment_ask(ctx: Context) -> Reply:
    return Reply(
        ctx.t("How will you pay?"),
        choices=[Choice("pay:cash", ctx.t("Cash")), Choice("pay:wallet", ctx.t("Sika wallet"))],
    )


def _ride_payment(ctx: Context, answer: Answer) -> None:
    if answer.choice not in ("pay:cash", "pay:wallet"):
        raise _invalid(ctx.t("Please choose one of the options."))
    ctx.state.data["payment"] = answer.choice.removeprefix("pay:")
    ctx.go("ride", "confirm")


def _ride_confirm_ask(ctx: Context) -> Reply:
    d = ctx.state.data
    text = ctx.t(
        "{vehicle}, about {km} km: {fare}, paid {payment}. Book it?",
        vehicle=ctx.t(_VEHICLE_NAMES[str(d["vehicle"])]),
        km=d["km"],
        fare=ctx.t.amount(int(d["fare"])),
        payment=ctx.t("in cash") if d["payment"] == "cash" else ctx.t("from your Sika wallet"),
    )
    return _confirm(ctx, text)


def _ride_confirm(ctx: Context, answer: Answer) -> None:
    if answer.choice == "cancel":
        ctx.say(ctx.t("Cancelled. Nothing was sent."))
        ctx.state.reset()
        return
    if answer.choice != "confirm":
        raise _invalid(ctx.t("Please answer Confirm or Cancel."))
    if ctx.state.data.get("payment") == "wallet":
        ctx.go("ride", "pin")  # the wallet is held at booking: that needs the PIN
        return
    _book_ride(ctx, None)


def _ride_pin(ctx: Context, answer: Answer) -> None:
    if not looks_like_pin(answer.text):
        raise _invalid(_err(ctx, "invalid_pin_format"))
    _book_ride(ctx, Pin(answer.text.strip()))


def _book_ride(ctx: Context, pin: Pin | None) -> None:
    rides = ctx.container.rides
    assert rides is not None and ctx.customer is not None
    d = ctx.state.data
    pickup, dropoff = _ride_points(ctx)
    try:
        trip = rides.request(
            "trip_" + ctx.movement_id().removeprefix("mv_"),
            ctx.customer,
            city_id=str(d["city"]),
            vehicle_type=str(d["vehicle"]),
            pickup=pickup,
            dropoff=dropoff,
            payment_method=str(d["payment"]),
            pin=pin,
        )
    except InvalidPin as exc:
        raise _invalid(explain(ctx, exc)) from exc
    except SikaError as exc:
        ctx.done(explain(ctx, exc))
        return
    if trip.status.value == "no_driver_found":
        ctx.done(ctx.t("Sorry, no driver is free near you right now. Please try again in a few minutes."))
        return
    ctx.done(ride_status.booked_text(ctx))


# Language --------------------------------------------------------------------------------------------


def _language_ask(ctx: Context) -> Reply:
    return Reply(ctx.t("Choose your language."), choices=_language_choices(), button=ctx.t("Languages"))


def _language(ctx: Context, answer: Answer) -> None:
    if answer.choice is None or not answer.choice.startswith("lang:"):
        raise _invalid(ctx.t("Please choose one of the languages."))
    ctx.container.customers.set_language(ctx.msisdn, answer.choice.removeprefix("lang:"))
    ctx.refresh_customer()
    ctx.say(ctx.t("Language changed."))
    ctx.state.reset()


# Shortcuts -------------------------------------------------------------------------------------------


def start_intent(ctx: Context, intent: Intent) -> None:
    """A shortcut typed at any time: jump to the flow's confirmation with what it said."""
    ctx.state.reset()
    if intent.action in ("balance", "history"):
        pin_gate.read(ctx, intent.action, _say_balance if intent.action == "balance" else _say_history)
        return
    try:
        number = phones.normalize(intent.number) if intent.number else ctx.msisdn
    except SikaError as exc:
        ctx.say(explain(ctx, exc))
        return
    assert intent.amount is not None
    try:
        if intent.action == "send":
            ctx.state.data["to"] = number
            ctx.state.go("send", "amount")
            _quote_transfer(ctx, number, intent.amount)
            ctx.state.go("send", "confirm")
        else:  # airtime: the operator is the user's choice; the prefix only orders the buttons
            ctx.state.data.update(number=number, product="airtime", pending_amount=intent.amount)
            ctx.state.go("airtime", "operator")
    except Invalid as problem:
        ctx.say(problem.message)


def _airtime_operator_then(ctx: Context, answer: Answer) -> None:
    _airtime_operator(ctx, answer)
    pending = ctx.state.data.pop("pending_amount", None)
    if pending is not None:  # from a shortcut: the amount is known, go straight to the confirmation
        ctx.state.back()
        ctx.state.go("airtime", "amount")
        _quote_purchase(
            ctx, str(ctx.state.data["operator"]), "airtime", str(ctx.state.data["number"]), int(pending)
        )
        ctx.go("airtime", "confirm")


# Shared answers --------------------------------------------------------------------------------------


def _number(ctx: Context, text: str) -> str:
    try:
        return phones.normalize(text.replace(" ", "").replace(".", "").replace("-", ""))
    except SikaError as exc:
        raise _invalid(explain(ctx, exc)) from exc


def _amount(ctx: Context, text: str) -> int:
    amount = parse_amount(text)
    if amount is None:
        raise _invalid(ctx.t("Type an amount in francs, for example 5000."))
    return amount


_STEPS: dict[tuple[str, str], Step] = {
    ("welcome", "language"): Step(_welcome_language_ask, _welcome_language),
    ("welcome", "name"): Step(_ask_text(N_("What is your name?")), _welcome_name),
    ("welcome", "pin"): Step(
        _ask_text(N_("Choose a 4-digit PIN to protect your wallet.")), _welcome_pin, secret=True
    ),
    ("welcome", "pin_again"): Step(
        _ask_text(N_("Type the same PIN again.")), _welcome_pin_again, secret=True
    ),
    ("menu", "menu"): Step(_menu_ask, _menu),
    ("send", "to"): Step(_ask_text(N_("Send money to which number? Example: 90112233")), _send_to),
    ("send", "amount"): Step(_ask_text(N_("How much do you want to send?")), _send_amount),
    ("send", "confirm"): Step(_send_confirm_ask, _confirmed("send")),
    ("send", "pin"): Step(_pin_ask, _send_pin, secret=True),
    ("airtime", "whom"): Step(_airtime_whom_ask, _airtime_whom),
    ("airtime", "number"): Step(_ask_text(N_("Which number? Example: 97112233")), _airtime_number),
    ("airtime", "operator"): Step(_airtime_operator_ask, _airtime_operator_then),
    ("airtime", "product"): Step(_airtime_product_ask, _airtime_product),
    ("airtime", "amount"): Step(
        _ask_text(N_("How much airtime? From 100 to 100 000 F CFA.")), _airtime_amount
    ),
    ("airtime", "confirm"): Step(_purchase_confirm_ask, _confirmed("airtime")),
    ("airtime", "pin"): Step(_pin_ask, _purchase_pin, secret=True),
    ("bills", "biller"): Step(_bills_biller_ask, _bills_biller),
    ("bills", "reference"): Step(_bills_reference_ask, _bills_reference),
    ("bills", "amount"): Step(
        _ask_text(N_("How much electricity do you want to buy, in francs?")), _bills_amount
    ),
    ("bills", "package"): Step(_bills_package_ask, _bills_package),
    ("bills", "confirm"): Step(_purchase_confirm_ask, _confirmed("bills")),
    ("bills", "pin"): Step(_pin_ask, _purchase_pin, secret=True),
    ("approvals", "pick"): Step(_approvals_pick_ask, _approvals_pick),
    ("approvals", "decide"): Step(_approvals_decide_ask, _approvals_decide),
    ("approvals", "pin"): Step(_pin_ask, _approvals_pin, secret=True),
    ("language", "pick"): Step(_language_ask, _language),
    ("notices", "quiet"): Step(consent.quiet_ask, consent.quiet_answer),
    ("notices", "consent"): Step(consent.consent_ask, consent.consent_answer),
    ("balance", "pin"): Step(pin_gate.ask, pin_gate.unlocked(_say_balance, explain), secret=True),
    ("history", "pin"): Step(pin_gate.ask, pin_gate.unlocked(_say_history, explain), secret=True),
    ("ride", "status"): Step(ride_status.status_ask, ride_status.status),
    ("ride", "pickup"): Step(places.pickup_ask, places.pickup, on_location=places.pickup_location),
    ("ride", "pickup_pick"): Step(places.pick_ask, places.pick, on_location=places.pickup_location),
    ("ride", "dropoff"): Step(places.dropoff_ask, places.dropoff, on_location=places.dropoff_location),
    ("ride", "dropoff_pick"): Step(places.pick_ask, places.pick, on_location=places.dropoff_location),
    ("ride", "vehicle"): Step(_ride_vehicle_ask, _ride_vehicle),
    ("ride", "payment"): Step(_ride_payment_ask, _ride_payment),
    ("ride", "confirm"): Step(_ride_confirm_ask, _ride_confirm),
    ("ride", "pin"): Step(_pin_ask, _ride_pin, secret=True),
    ("voucher", "code"): Step(vouchers.code_ask, vouchers.code_answer, secret=True),
}


def step(flow: str, name: str) -> Step:
    """The step, or the menu for a state this version does not know (an older deployment's)."""
    return _STEPS.get((flow, name), _STEPS[("menu", "menu")])
