"""The flows driven through the dialog with a small fake of the chat's ports (``sika.chat.services``):
no database, no container; what the person reads, and the calls the flows made with what they typed."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from sika.chat.dialog import Dialog
from sika.chat.messages import Inbound, InboundKind, Turn
from sika.chat.services import ChatServices
from sika.chat.state import State
from sika.errors import SikaError
from sika.ledger import Account
from sika.ledger.model import AccountKind
from sika.payments import Kind, Movement, Status, TransferQuote
from sika.payments.fees import Operation
from sika.wallet import Customer, InvalidPin, Pin

AMA, KOFI = "+22890112233", "+22897112233"
_ids = itertools.count()


def customer(id_: int, msisdn: str, name: str, language: str) -> Customer:
    return Customer(id=id_, msisdn=msisdn, name=name, language=language, tier=1, account_id=100 + id_,
                    has_pin=True, pin_failures=0, pin_locked_until_ns=None, created_at_ns=0)


class Unused:
    """A port the scenario must not reach: any call fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the flow called {name}, which this scenario does not expect")


class AskedAlready:
    """Notices whose consent question this customer already had: the menu comes without it."""

    class _Store:
        def mark_asked(self, msisdn: str) -> bool:
            return False

    store = _Store()


class MemoryConversations:
    def __init__(self) -> None:
        self.saved: dict[tuple[str, str], State] = {}

    def load(self, channel: str, session_key: str) -> State:
        found = self.saved.get((channel, session_key))
        if found is None:
            return State()
        return State(flow=found.flow, step=found.step, data=dict(found.data), trail=list(found.trail),
                     expect=list(found.expect), language=found.language, fresh=False)

    def save(self, channel: str, session_key: str, msisdn: str, state: State) -> None:
        self.saved[(channel, session_key)] = state


class Customers:
    def __init__(self, *people: Customer) -> None:
        self.people = {person.msisdn: person for person in people}

    def find(self, msisdn: str) -> Customer | None:
        return self.people.get(msisdn)

    def find_many(self, numbers: Collection[str]) -> dict[str, Customer]:
        return {n: self.people[n] for n in numbers if n in self.people}


class Accounts:
    def get_account(self, account_id: int) -> Account:
        return Account(id=account_id, currency="XOF", kind=AccountKind.CUSTOMER_WALLET, credits_posted=50_000)

    def get_accounts(self, account_ids: Sequence[int]) -> dict[int, Account]:
        return {account_id: self.get_account(account_id) for account_id in account_ids}


class Approvals(Unused):
    def pending_for(self, customer_id: int, limit: int = 20) -> list[Any]:
        return []

    def pending_for_many(self, customer_ids: Collection[int], limit: int = 20) -> dict[int, list[Any]]:
        return {}


@dataclass
class Payments:
    """Transfers as the real service answers them: a wrong PIN and refusals by code, as told."""

    customers: Customers
    refusals: list[SikaError] = field(default_factory=list)  # raised by the next transfers, in order
    transfers: list[tuple[str, str, str, int, str | None]] = field(default_factory=list)  # PIN digits

    def quote_transfer(self, payer: Customer, to: str, amount: int) -> TransferQuote:
        recipient = self.customers.find(to)
        return TransferQuote(operation=Operation.TRANSFER, to=to, amount=amount, fee=amount // 100,
                             recipient_name=recipient.name if recipient else None)

    def transfer(self, movement_id: str, payer: Customer, to: str, amount: int, *,
                 pin: Pin | None = None) -> Movement:
        self.transfers.append((movement_id, payer.msisdn, to, amount, pin.reveal() if pin else None))
        if self.refusals:
            raise self.refusals.pop(0)
        return Movement(id=movement_id, kind=Kind.TRANSFER, status=Status.COMPLETED, amount=amount,
                        fee=amount // 100, commission=0, currency="XOF", payer_customer_id=payer.id,
                        payee_customer_id=2, agent_id=None, merchant_id=None, counterparty="Kofi Agbeko",
                        provider=None, product=None, provider_reference=None, details={}, error_code=None,
                        created_at_ns=0, updated_at_ns=0)


def services(payments: Payments, customers: Customers) -> ChatServices:
    return ChatServices(customers=customers, accounts=Accounts(), payments=payments,
                        purchases=Unused(), approvals=Approvals(), statements=Unused(), rides=Unused(),
                        places=Unused(), promotions=Unused(), notices=AskedAlready(),
                        code_route=lambda _number: "sms",
                        voucher_ttl_s=7 * 86_400,
                        conversations=MemoryConversations(), answered_abroad=MemoryConversations())


class Phone:
    def __init__(self, dialog: Dialog, msisdn: str) -> None:
        self.dialog, self.msisdn = dialog, msisdn
        self.message_ids: list[str] = []

    def __call__(self, text: str) -> Turn:
        self.message_ids.append(f"wamid.{next(_ids)}")
        return self.dialog.handle(Inbound(channel="whatsapp", msisdn=self.msisdn, kind=InboundKind.TEXT,
                                          message_id=self.message_ids[-1], text=text))


@pytest.fixture
def customers() -> Customers:
    return Customers(customer(1, AMA, "Ama Mensah", "fr"), customer(2, KOFI, "Kofi Agbeko", "en"))


@pytest.fixture
def payments(customers: Customers) -> Payments:
    return Payments(customers)


def test_money_is_sent_with_the_pin_typed_and_the_receipt_names_the_recipient(
        customers: Customers, payments: Payments) -> None:
    ama = Phone(Dialog(services(payments, customers)), AMA)
    confirm = ama("envoyer 5000 à 97112233")
    assert confirm.replies[-1].text == ("Envoyer 5 000 F CFA à Kofi Agbeko (+22897112233) ?\n"
                                        "Frais : 50 F CFA. Total : 5 050 F CFA.")
    assert [choice.id for choice in confirm.replies[-1].choices] == ["confirm", "cancel"]
    asked = ama("1")
    assert asked.replies[-1].text == "Saisissez votre code PIN à 4 chiffres pour confirmer."
    assert payments.transfers == []  # nothing moves before the PIN
    receipt = ama("4827")
    assert receipt.secret_input
    movement_id = payments.transfers[0][0]
    assert payments.transfers == [(movement_id, AMA, KOFI, 5_000, "4827")]
    assert movement_id.startswith("mv_") and receipt.replies[0].text == (
        f"Vous avez envoyé 5 000 F CFA à Kofi Agbeko. Frais : 50 F CFA. Référence : {movement_id}.")
    assert [choice.id for choice in receipt.replies[-1].choices][:2] == ["balance", "send"]  # the menu


def test_a_wrong_pin_asks_again_and_a_refusal_is_explained_then_the_menu(
        customers: Customers, payments: Payments) -> None:
    payments.refusals = [InvalidPin(tries_left=2), SikaError("balance too low", code="insufficient_funds")]
    ama = Phone(Dialog(services(payments, customers)), AMA)
    ama("envoyer 60000 à 97112233")
    ama("1")
    wrong = ama("1357")
    assert wrong.secret_input and wrong.replies[0].text == "Code PIN incorrect. Il vous reste 2 essais."
    assert wrong.replies[-1].text == "Saisissez votre code PIN à 4 chiffres pour confirmer."  # asked again
    refused = ama("4827")
    assert refused.replies[0].text == "Votre solde est insuffisant pour ce montant et ses frais."
    assert [choice.id for choice in refused.replies[-1].choices][:2] == ["balance", "send"]
    assert [(pin, amount) for _, _, _, amount, pin in payments.transfers] == [("1357", 60_000),
                                                                              ("4827", 60_000)]
    assert ama("4827").replies[0].text != refused.replies[0].text  # the form is over: no third try
    assert len(payments.transfers) == 2


def test_a_voucher_confirmation_says_by_which_channel_the_code_travels(customers: Customers,
                                                                      payments: Payments) -> None:
    ama = Phone(Dialog(services(payments, customers)), AMA)
    confirm = ama("envoyer 2000 à 93000111")
    assert confirm.replies[-1].text == (
        "+22893000111 n'a pas de portefeuille Sika : nous lui envoyons par SMS un code pour retirer "
        "2 000 F CFA (7 jours).\nFrais : 20 F CFA. Total : 2 020 F CFA. Envoyer ?")
