"""USSD as a feature-phone user meets it, screen by screen, on a real database: screens are paged and
never cut, a dial string with inputs goes through the menu, the balance and the history need the PIN,
only the gateway may call, rides are booked by place name, a mistyped meter number is refused where it
is typed, requests to pay name the registered merchant, and no PIN reaches the disk."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sika.api.app import create_app
from sika.bootstrap import Container, bootstrap
from sika.chat.dialog import Dialog
from sika.chat.messages import Inbound, InboundKind
from sika.chat.ussd import SCREEN_CHARS_MAX, UssdGateway, UssdRequest
from sika.config import Settings
from sika.ledger import audit
from sika.payments import new_movement_id
from sika.rides.geo import Point
from sika.rides.service import Driver
from sika.rides.trips import TripStatus
from sika.wallet import Pin

AMA, KOFI, NEW = "+22890112233", "+22897112233", "+22893000111"
AMA_PIN = "4827"
MORE = "\n99. >>"
_sessions = itertools.count()


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    agent, _ = built.agents.create("Boutique Bè")
    built.payments.credit_float(new_movement_id(), agent, 1_000_000)
    built.customers.open(AMA, "Ama Mensah", language="fr", pin=Pin(AMA_PIN), tier=1)
    built.customers.open(KOFI, "Kofi Agbeko", language="en", pin=Pin("5938"), tier=1)
    for msisdn in (AMA, KOFI):
        built.payments.cash_in(new_movement_id(), agent, msisdn, 50_000)
    yield built
    assert audit.check(built.engine) == []
    built.close()


class Phone:
    """A feature phone on one USSD session: each answer is appended to the session's text."""

    def __init__(self, gateway: UssdGateway, msisdn: str) -> None:
        self.gateway, self.msisdn = gateway, msisdn
        self.session = f"ATUid_{next(_sessions)}"
        self.inputs: list[str] = []

    def dial(self, *typed: str) -> str:
        """Dial the code, with inputs when the dial string carries them (``*155*1#``)."""
        self.session, self.inputs = f"ATUid_{next(_sessions)}", list(typed)
        return self._send()

    def answer(self, typed: str) -> str:
        self.inputs.append(typed)
        return self._send()

    def read_all(self, screen: str) -> tuple[str, str]:
        """Page through a screen with 99: the whole text, and the last page."""
        texts = []
        while screen.endswith(MORE):
            assert screen.startswith("CON "), screen
            texts.append(screen.removeprefix("CON ").removesuffix(MORE))
            screen = self.answer("99")
        texts.append(screen[4:])
        return "\n".join(texts), screen

    def _send(self) -> str:
        screen = self.gateway.handle(UssdRequest(self.session, "*155#", self.msisdn, "61501",
                                                 "*".join(self.inputs)))
        assert len(screen) <= SCREEN_CHARS_MAX and screen.startswith(("CON ", "END ")), screen
        return screen


def balance(container: Container, msisdn: str) -> int:
    return container.ledger.get_account(container.customers.get(msisdn).account_id or 0).balance


# Paging and dial strings ------------------------------------------------------------------------------

def test_a_first_request_with_inputs_is_read_through_the_menu(container: Container) -> None:
    phone = Phone(UssdGateway(Dialog(container.chat)), AMA)
    asked = phone.dial("1")  # *155*1#: balance, straight from the dial string
    assert asked == "CON Saisissez votre code PIN à 4 chiffres pour voir votre solde."
    assert phone.answer(AMA_PIN) == "END Votre solde : 50 000 F CFA."
    history = phone.dial("7", AMA_PIN)  # *155*7*PIN#
    assert history.startswith("END Vos dernières opérations :") and "50 000 F CFA" in history
    assert "…" not in asked + history


def test_a_long_closing_screen_is_paged_never_cut(container: Container) -> None:
    container.payments.transfer(new_movement_id(), container.customers.get(AMA), NEW, 3_000,
                                pin=Pin(AMA_PIN))
    phone = Phone(UssdGateway(Dialog(container.chat)), NEW)
    welcome, languages = phone.read_all(phone.dial())
    assert welcome.startswith("Bienvenue sur Sika !") and "cela prend une minute." in welcome
    assert "1. Français" in languages and "7. العربية" in languages
    phone.answer("1")
    phone.answer("Kafui Mensah")
    phone.answer("3691")
    opened, last = phone.read_all(phone.answer("3691"))
    assert last.startswith("CON ")  # the money waiting: its code is asked at once
    assert "Votre portefeuille Sika est ouvert, Kafui Mensah !" in opened
    assert "De l'argent vous attend : 3 000 F CFA." in opened
    assert "…" not in opened
    # Ama sends to a number without a wallet that no message reaches: a long closing screen.
    sender = Phone(UssdGateway(Dialog(container.chat)), AMA)
    told, last = sender.read_all(sender.dial("2", "97112299", "1000", "1", AMA_PIN))
    assert last.startswith("END ") and sender.inputs[-1] == "99"  # it took more than one screen
    assert told.startswith("Vous avez envoyé 1 000 F CFA au +22897112299")
    assert "Frais : 50 F CFA. Référence : mv_" in told and "…" not in told  # to its last word


def test_balance_and_history_on_ussd_need_the_pin_and_a_wrong_one_counts(container: Container) -> None:
    phone = Phone(UssdGateway(Dialog(container.chat)), AMA)
    phone.dial()
    asked = phone.answer("1")
    assert "PIN" in asked and "F CFA" not in asked
    wrong = phone.answer("1357")
    assert wrong.startswith("CON Code PIN incorrect. Il vous reste 2 essais.") and "50 000" not in wrong
    assert container.customers.get(AMA).pin_failures == 1
    assert phone.answer(AMA_PIN) == "END Votre solde : 50 000 F CFA."
    assert container.customers.get(AMA).pin_failures == 0
    phone.dial()
    assert "PIN" in phone.answer("7") and "50 000" not in phone.answer("0")
    typed = Phone(UssdGateway(Dialog(container.chat)), AMA)
    assert "PIN" in typed.dial("solde")  # a typed shortcut asks it too


def test_whatsapp_and_the_terminal_show_the_balance_without_the_pin(container: Container) -> None:
    for channel in ("whatsapp", "terminal"):
        turn = Dialog(container.chat).handle(Inbound(channel=channel, msisdn=AMA, kind=InboundKind.TEXT,
                                                message_id=f"{channel}-1", text="solde"))
        assert turn.replies[0].text == "Votre solde : 50 000 F CFA."


def test_only_the_gateway_may_call_the_ussd_route(database_url: str) -> None:
    form = {"sessionId": "ATUid_x", "serviceCode": "*155#", "phoneNumber": AMA, "networkCode": "61501",
            "text": ""}
    token = "a-secret-token-for-the-callback"
    built = bootstrap(Settings(database_url=database_url, providers="instant",
                               africastalking_callback_token=token))
    built.customers.open(AMA, "Ama Mensah", pin=Pin(AMA_PIN), tier=1)
    with TestClient(create_app(built, run_workers=False)) as client:
        for refused in (client.post("/ussd", data=form), client.post("/ussd?token=guess", data=form)):
            assert refused.status_code == 403 and refused.text.startswith("END ")
            assert "Solde" not in refused.text
        allowed = client.post(f"/ussd?token={token}", data=form)
        assert allowed.status_code == 200 and allowed.text.startswith("CON ") and "1. Solde" in allowed.text
    elsewhere = bootstrap(Settings(database_url=database_url, providers="instant",
                                   africastalking_allowed_ips="196.201.214.0/24"))
    with TestClient(create_app(elsewhere, run_workers=False)) as client:  # the test client's address
        refused = client.post("/ussd", data=form)
        assert refused.status_code == 403 and refused.text.startswith("END ")


# Rides by place name ---------------------------------------------------------------------------------

def _driver_at_grand_marche(container: Container) -> Driver:
    rides = container.rides
    assert rides is not None
    wallet = container.customers.open("+22870100001", "Komlan Adzo", pin=Pin("7314"), tier=1)
    driver = rides.onboard(wallet, city_id="lome", vehicle_type="moto", plate="TG-4821-AZ")
    rides.set_documents(driver.id, "approved")
    rides.update_location(driver.id, Point(6.1312, 1.2220))
    rides.set_online(driver.id, online=True)
    return driver


def test_a_ride_is_booked_by_place_names_followed_and_cancelled_on_ussd(container: Container) -> None:
    rides = container.rides
    assert rides is not None
    driver = _driver_at_grand_marche(container)
    phone = Phone(UssdGateway(Dialog(container.chat)), AMA)
    phone.dial()
    assert phone.answer("5").startswith("CON Où le chauffeur doit-il vous prendre ?")
    several = phone.answer("GRA")
    assert "1. Grand Marché, Lomé\n2. Grand Marché, Kara" in several  # the rider's country, Togo
    assert phone.answer("1") == "CON Où allez-vous ? Tapez les premières lettres d'un lieu."
    vehicles = phone.answer("universite")  # no accent, one place of Lomé: taken at once
    assert vehicles.startswith("CON Départ : Grand Marché. Arrivée : Université de Lomé.\n")
    assert "1. Moto" in vehicles
    phone.answer("1")
    confirm = phone.answer("2")  # paid from the wallet
    fare = int(re.sub(r"\D", "", re.search(r": ([\d  ]+) F CFA", confirm).group(1)))  # type: ignore[union-attr]
    phone.answer("1")
    assert phone.answer(AMA_PIN).startswith("END Nous cherchons un chauffeur près de vous…")
    ama = container.customers.get(AMA)
    trip = rides.active_trip_of_rider(ama.id)
    assert trip is not None and trip.payment_method == "wallet" and trip.quoted_fare == fare
    assert (trip.pickup, trip.dropoff) == (Point(6.1306, 1.2214), Point(6.1738, 1.2131))
    assert container.ledger.get_account(ama.account_id or 0).available <= 50_000 - fare  # held
    rides.accept(driver.id, trip.id)
    status = Phone(UssdGateway(Dialog(container.chat)), AMA).dial("5")
    assert status == ("CON Votre course : Komlan Adzo arrive, plaque TG-4821-AZ.\n"
                      "1. Annuler la course\n2. Menu")
    cancelled = Phone(UssdGateway(Dialog(container.chat)), AMA).dial("5", "1")
    assert cancelled.startswith("END La course a été annulée.")
    assert rides.trip(trip.id).status is TripStatus.CANCELLED
    assert container.ledger.get_account(ama.account_id or 0).available == 50_000
    again = Phone(UssdGateway(Dialog(container.chat)), AMA).dial("5")
    assert again.endswith("\n1. Université de Lomé\n2. Grand Marché")  # the last places first


def test_back_from_the_destination_shows_the_places_listed_again(container: Container) -> None:
    phone = Phone(UssdGateway(Dialog(container.chat)), AMA)
    listed = phone.dial("5", "gra")
    phone.answer("1")
    assert phone.answer("0") == listed  # back: the same list of places
    assert phone.answer("2") == "CON Où allez-vous ? Tapez les premières lettres d'un lieu."
    assert "Départ : Grand Marché. Arrivée : Université de Kara." in phone.answer("univ")  # Kara's, this time


def test_a_place_nobody_knows_is_said_and_asked_again(container: Container) -> None:
    phone = Phone(UssdGateway(Dialog(container.chat)), AMA)
    refused = phone.dial("5", "zzz")
    assert refused.startswith('CON Aucun lieu ne commence par "zzz". Tapez d\'autres lettres.\n')
    assert "Tapez les premières lettres" in refused


# Bills and requests to pay ------------------------------------------------------------------------------

def test_a_mistyped_meter_is_refused_at_the_meter_step_and_never_at_the_amount(container: Container) -> None:
    phone = Phone(UssdGateway(Dialog(container.chat)), AMA)
    phone.dial("4", "1")
    refused, question = phone.read_all(phone.answer("12345678901"))  # a bad check digit
    assert refused.startswith("Ce n'est pas un numéro de compteur Cash Power valide. Il a 11 chiffres")
    assert question == "CON Saisissez votre numéro de compteur Cash Power (11 chiffres)."
    refused, question = phone.read_all(phone.answer("1234567890"))  # 10 digits
    assert refused.startswith("Ce n'est pas un numéro de compteur Cash Power valide.")
    assert phone.answer("123 4567 8903") == "CON Combien d'électricité voulez-vous acheter, en francs ?"
    confirm = phone.answer("2000")
    assert "Montant : 2 000 F CFA" in confirm and confirm.endswith("1. Confirmer\n2. Annuler")
    # one screen: of what the biller's quote adds, what fits with the choices (the holder's name)
    assert "\nTitulaire : " in confirm and "kWh" not in confirm, confirm


def test_a_reference_refused_at_the_amount_goes_back_to_the_reference(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    from sika.payments.purchases import PurchaseQuote
    from sika.providers import ProviderRejected

    phone = Phone(UssdGateway(Dialog(container.chat)), AMA)
    phone.dial("4", "1", "12345678903")
    real = container.purchases.quote

    def meter_closed_since(provider: str, product: str, reference: str, amount: int | None) -> PurchaseQuote:
        if amount is not None:
            raise ProviderRejected("this meter was closed", code="invalid_reference")
        return real(provider, product, reference, amount)

    monkeypatch.setattr(container.purchases, "quote", meter_closed_since)
    said, question = phone.read_all(phone.answer("2000"))
    assert said.startswith("Ce n'est pas un numéro de compteur Cash Power valide.")
    assert question == "CON Saisissez votre numéro de compteur Cash Power (11 chiffres)."  # not the amount


def test_a_request_to_pay_names_the_registered_merchant_first(container: Container) -> None:
    merchant, _ = container.merchants.create("Boutique Kodjo")
    container.approvals.request_payment(new_movement_id(), merchant, AMA, 3_500,
                                        description="Sika Support - remboursement")
    phone = Phone(UssdGateway(Dialog(container.chat)), AMA)
    listed = phone.dial("6")
    assert listed.endswith("\n1. Boutique Kodjo") and "Sika Support" not in listed
    assert phone.answer("1") == ("CON Boutique Kodjo vous demande de payer 3 500 F CFA. Frais : 0 F CFA.\n"
                                 'Leur note : "Sika Support - remboursement"\n1. Valider\n2. Refuser')
    phone.answer("1")
    assert phone.answer(AMA_PIN).startswith("END Vous avez payé 3 500 F CFA à Boutique Kodjo.")


# PINs never reach the disk ------------------------------------------------------------------------------

def test_no_pin_typed_on_ussd_or_in_the_terminal_reaches_the_sqlite_file_or_its_wal(
        sqlite_url: str) -> None:
    built = bootstrap(Settings(database_url=sqlite_url, providers="instant"))
    agent, _ = built.agents.create("Boutique Bè")
    built.payments.credit_float(new_movement_id(), agent, 100_000)
    pin = "7391"
    built.customers.open(AMA, "Ama Mensah", pin=Pin(pin), tier=1)
    built.payments.cash_in(new_movement_id(), agent, AMA, 20_000)
    phone = Phone(UssdGateway(Dialog(built.chat)), AMA)
    assert phone.dial("1", pin).startswith("END Votre solde")
    _, last = phone.read_all(phone.dial("2", "97112233", "1000", "1", pin))  # a voucher: no wallet there
    assert last.startswith("END ")
    terminal = Dialog(built.chat)
    for n, text in enumerate(["envoyer 500 à 97112233", "1", pin]):
        turn = terminal.handle(Inbound(channel="terminal", msisdn=AMA, kind=InboundKind.TEXT,
                                       message_id=f"t{n}", text=text))
    assert turn.secret_input and turn.replies[0].text.startswith("Vous avez envoyé 500 F CFA")
    files = [path for path in Path(sqlite_url.removeprefix("sqlite:///")).parent.iterdir()
             if path.name.startswith("sika.db")]
    assert any(path.name.endswith("-wal") for path in files)
    for path in files:
        assert re.search(rb"(?<![0-9A-Za-z])" + pin.encode() + rb"(?![0-9A-Za-z])", path.read_bytes()) is None
    built.close()
