"""A driver turns fasting mode on and off in the chat (Settings, then Fasting mode), as a driver on a
feature phone would, and the driver's hours (``GET /v1/drivers/{id}``'s source) follow; a customer who
does not drive is never offered the entry."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from sika.bootstrap import Container, bootstrap
from sika.chat.dialog import Dialog
from sika.chat.messages import Inbound, InboundKind
from sika.config import Settings
from sika.wallet import Pin

DRIVER = "+22870100071"
RIDER = "+22890100072"
_ids = itertools.count(1)


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    yield built
    built.close()


class Chat:
    def __init__(self, container: Container, msisdn: str) -> None:
        self.dialog = Dialog(container.chat)
        self.msisdn = msisdn
        self.choices: list[tuple[str, str]] = []

    def pick(self, text: str, choice: str | None = None) -> str:
        kind = InboundKind.CHOICE if choice else InboundKind.TEXT
        turn = self.dialog.handle(Inbound(channel="whatsapp", msisdn=self.msisdn, kind=kind,
                                          message_id=f"f{next(_ids)}", text=text, choice_id=choice))
        self.choices = [(c.id, c.title) for reply in turn.replies for c in reply.choices]
        return "\n".join(reply.text for reply in turn.replies)


def test_a_driver_turns_fasting_mode_on_then_off_from_the_settings(container: Container) -> None:
    rides = container.rides
    assert rides is not None
    container.customers.open(DRIVER, "Komlan", language="en", pin=Pin("7314"), tier=1)
    driver = rides.onboard(container.customers.get(DRIVER), city_id="lome", vehicle_type="moto",
                           plate="TG-7007-FM")
    chat = Chat(container, DRIVER)
    chat.pick("menu")
    assert "Settings: what would you like to change?" in chat.pick("Settings", "settings")
    assert ("fasting", "Fasting mode") in chat.choices
    shown = chat.pick("Fasting mode", "fasting")
    assert shown == ("Fasting mode is off. Turned on: at most 8 hours online in 24, no long trip in the half"
                     " hour before Maghrib.")
    assert [c for c, _ in chat.choices] == ["fasting:on", "fasting:keep"]
    saved = chat.pick("Turn it on", "fasting:on")
    assert saved.startswith("Saved: fasting mode is on.")
    assert rides.driver_hours(driver.id).fasting is True
    chat.pick("Settings", "settings")
    assert chat.pick("Fasting mode", "fasting").startswith("Fasting mode is on: at most 8 hours online in 24")
    assert chat.pick("Leave it on", "fasting:keep").startswith("Nothing was changed.")
    assert rides.driver_hours(driver.id).fasting is True
    chat.pick("Settings", "settings")
    chat.pick("Fasting mode", "fasting")
    assert chat.pick("Turn it off", "fasting:off").startswith("Saved: fasting mode is off.")
    assert rides.driver_hours(driver.id).fasting is False


def test_a_customer_who_does_not_drive_is_not_offered_fasting_mode(container: Container) -> None:
    container.customers.open(RIDER, "Ama", language="fr", pin=Pin("4827"), tier=1)
    chat = Chat(container, RIDER)
    chat.pick("menu")
    chat.pick("Paramètres", "settings")
    assert [c for c, _ in chat.choices] == ["language", "notices"]
    assert "Veuillez choisir" in chat.pick("fasting", "fasting")  # typed by hand: refused, nothing changes


def test_a_driver_of_a_city_no_longer_served_is_not_offered_fasting_mode(container: Container) -> None:
    rides = container.rides
    assert rides is not None
    container.customers.open(DRIVER, "Komlan", language="en", pin=Pin("7314"), tier=1)
    rides.onboard(container.customers.get(DRIVER), city_id="lome", vehicle_type="moto", plate="TG-7008-FM")
    rides.cities = [city for city in rides.cities if city.id != "lome"]  # the operator dropped Lomé
    chat = Chat(container, DRIVER)
    chat.pick("menu")
    assert "Settings: what would you like to change?" in chat.pick("Settings", "settings")
    assert [c for c, _ in chat.choices] == ["language", "notices"]
    assert "Please choose one of the options." in chat.pick("fasting", "fasting")  # and no crash
