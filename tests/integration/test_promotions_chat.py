"""Promotions in the chat: on USSD (numbered screens of 182 characters at most, paged) in French and on
WhatsApp in English: the offers running, a code entered (a typo asked again), a payment's reward under
its confirmation and on its receipt, my rewards, and why the last payment earned nothing."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from promotions_support import Town

from sika.bootstrap import Container, bootstrap
from sika.chat.dialog import Dialog
from sika.chat.messages import Inbound, InboundKind
from sika.chat.texts.notifications import NotificationText
from sika.chat.ussd import SCREEN_CHARS_MAX, UssdGateway, UssdRequest
from sika.config import Settings
from sika.ledger import audit
from sika.payments.schema import outbox

_ids = itertools.count()


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    yield built
    assert audit.check(built.engine) == []
    built.close()


@pytest.fixture
def town(container: Container) -> Town:
    return Town.open(container)


class Ussd:
    """One USSD session: each call adds an input and returns the screen (checked against the limits)."""

    def __init__(self, container: Container, msisdn: str) -> None:
        self.gateway, self.msisdn = UssdGateway(Dialog(container.chat)), msisdn
        self.inputs: list[str] = []
        self.session = f"ATUid_{next(_ids)}"

    def __call__(self, value: str | None = None) -> str:
        if value is not None:
            self.inputs.append(value)
        screen = self.gateway.handle(
            UssdRequest(self.session, "*555#", self.msisdn, "61501", "*".join(self.inputs))
        )
        assert len(screen) <= SCREEN_CHARS_MAX and screen.startswith(("CON ", "END ")), screen
        return screen

    def choose(self, screen: str, title: str) -> str:
        number = next(line.split(".")[0] for line in screen.splitlines() if line.endswith(title))
        return self(number)


def test_a_ussd_customer_sees_offers_enters_a_code_earns_and_asks_why(town: Town) -> None:
    campaign = town.campaign(
        name="Ramadan",
        budget=250,
        rules={"percent": 5, "reward_max": 250, "operations": ["transfer"], "code_required": True},
    )
    _, (code, *_) = town.container.promotions.codes.generate(campaign.id, 1)
    ama, kofi = town.wallet("Ama", 50_000), town.wallet("Kofi")
    ussd = Ussd(town.container, ama.msisdn)
    promotions = ussd.choose(ussd(), "Promotions")
    assert promotions.startswith("CON Promotions : que souhaitez-vous ?")
    offers = ussd.choose(promotions, "Offres en cours")
    assert "Ramadan : 5 % remboursés sur transferts, jusqu'à 250 F CFA par paiement." in offers
    assert "Saisissez d'abord votre code." in offers

    ussd = Ussd(town.container, ama.msisdn)
    asked = ussd.choose(ussd.choose(ussd(), "Promotions"), "Saisir un code")
    assert asked == "CON Tapez votre code, ou le numéro de l'ami qui vous a invité."
    typo = ussd("AAAA-BBBBB")
    assert typo.startswith("CON Aucune offre n'a ce code.")
    assert ussd(code.lower().replace("-", " ")) == (
        "END Code accepté : Ramadan. Vos prochains paiements peuvent en profiter."
    )

    ussd = Ussd(town.container, ama.msisdn)
    ussd.choose(ussd(), "Envoyer de l'argent")
    ussd(kofi.msisdn[4:])
    ussd("5000")
    ussd("1")
    sent = ussd("4827")
    assert sent.startswith("END Vous avez envoyé 5 000 F CFA à Kofi.") and sent.endswith(
        "Gain : 250 F CFA (Ramadan)."
    )
    with town.container.engine.connect() as connection:
        receipt = connection.execute(
            outbox.select().where(outbox.c.msisdn == ama.msisdn, outbox.c.kind == "receipt_transfer_sent")
        ).one()

    told = NotificationText(town.container.customers, town.container.statements)
    text = told(receipt.kind, json.loads(receipt.params), ama.msisdn)
    assert "Montant : 5 000 F CFA" in text and text.endswith("Gain : 250 F CFA (Ramadan).")  # paid, then won

    ussd = Ussd(town.container, ama.msisdn)
    mine = ussd.choose(ussd.choose(ussd(), "Promotions"), "Mes gains et tickets")
    assert "250 F CFA remise (Ramadan)" in mine

    town.send(ama, kofi, 5_000)  # the budget is spent: no reward this time
    ussd = Ussd(town.container, ama.msisdn)
    why = ussd.choose(ussd.choose(ussd(), "Promotions"), "Pourquoi pas de gain ?")
    assert why.startswith("END Votre dernier paiement : 5 000 F CFA")
    assert why.endswith("Ramadan : le budget de l'offre est épuisé.")


def test_whatsapp_shows_the_offers_in_the_customers_language(town: Town) -> None:
    town.campaign(
        name="Iftar rush",
        budget=5_000,
        rules={
            "percent": 2.5,
            "reward_max": 300,
            "operations": ["transfer", "merchant"],
            "windows": [{"start": "maghrib", "end": "isha"}],
        },
    )
    kofi = town.wallet("Kofi")
    town.container.customers.set_language(kofi.msisdn, "en")
    dialog = Dialog(town.container.chat)

    def choose(choice: str) -> list[str]:
        turn = dialog.handle(
            Inbound(
                channel="whatsapp",
                msisdn=kofi.msisdn,
                kind=InboundKind.CHOICE,
                message_id=f"w{next(_ids)}",
                text="",
                choice_id=choice,
            )
        )
        return [reply.text for reply in turn.replies]

    menu = dialog.handle(
        Inbound(
            channel="whatsapp",
            msisdn=kofi.msisdn,
            kind=InboundKind.TEXT,
            message_id=f"w{next(_ids)}",
            text="menu",
        )
    )
    assert ("promotions", "Promotions") in [(c.id, c.title) for c in menu.replies[-1].choices]
    assert choose("promotions") == ["Promotions: what would you like?"]
    offers = choose("offers")[0]
    assert offers.startswith(
        "Iftar rush: 2.5% back on transfers and merchant payments, up to 300 F CFA a payment."
    )
    assert "Open now, until" in offers or "Closed now; opens at" in offers
    choose("promotions")
    assert choose("why")[0] == "You have made no payment yet."
