"""The dialog engine end to end on a real database: a new number opens a wallet, money comes in at an
agent, then send money, airtime, bills, approvals, history, language, back/cancel, idle expiry and the
USSD gateway, in French, English and Arabic."""

from __future__ import annotations

import itertools
import re
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from sika.bootstrap import Container, bootstrap
from sika.chat.dialog import Dialog
from sika.chat.messages import Choice, Inbound, InboundKind, Turn
from sika.chat.state import Conversations
from sika.chat.ussd import SCREEN_CHARS_MAX, UssdGateway, UssdRequest
from sika.config import Settings
from sika.ledger import audit
from sika.payments import new_movement_id
from sika.wallet import Pin

_ids = itertools.count()
AMA, KOFI, NEW = "+22890112233", "+22897112233", "+22893000111"


class Clock:
    def __init__(self) -> None:
        self.now_ns = 1_800_000_000 * 10**9

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    yield built
    assert audit.check(built.engine) == []
    built.close()


@pytest.fixture
def town(container: Container) -> Container:
    agent, _ = container.agents.create("Boutique Bè")
    container.payments.credit_float(new_movement_id(), agent, 1_000_000)
    people = [(AMA, "Ama Mensah", "fr", "4827"), (KOFI, "Kofi Agbeko", "en", "5938")]
    for msisdn, name, language, pin in people:
        container.customers.open(msisdn, name, language=language, pin=Pin(pin), tier=1)
        container.payments.cash_in(new_movement_id(), agent, msisdn, 50_000)
    return container


class Chat:
    def __init__(self, dialog: Dialog, msisdn: str, channel: str = "whatsapp") -> None:
        self.dialog, self.msisdn, self.channel = dialog, msisdn, channel
        self.last: Turn | None = None

    def __call__(self, text: str, *, choice: str | None = None) -> Turn:
        kind = InboundKind.CHOICE if choice else InboundKind.TEXT
        self.last = self.dialog.handle(Inbound(channel=self.channel, msisdn=self.msisdn, kind=kind,
                                               message_id=f"m{next(_ids)}", text=text, choice_id=choice))
        return self.last

    def choices(self) -> list[str]:
        assert self.last is not None
        return [c.id for c in self.last.replies[-1].choices]

    def pick(self, choice_id: str) -> Turn:
        """Type the number of the choice, as a USSD or SMS user would."""
        return self(str(self.choices().index(choice_id) + 1))

    def text(self) -> str:
        assert self.last is not None
        return "\n".join(r.text for r in self.last.replies)


def balance(container: Container, msisdn: str) -> int:
    account = container.customers.get(msisdn).account_id
    assert account is not None
    return container.ledger.get_account(account).balance


def test_a_new_number_opens_a_wallet_in_arabic(town: Container) -> None:
    chat = Chat(Dialog(town.chat), NEW)
    chat("مرحبا")
    assert [c for c in chat.choices() if c.startswith("lang:")]
    chat.pick("lang:ar")
    chat("Kafui Mensah")
    turn = chat("1234")
    assert turn.secret_input
    assert "0000" in chat.text()  # weak: asked again
    chat("3691")
    turn = chat("3692")
    assert turn.secret_input
    chat("3691")
    chat("3691")
    customer = town.customers.get(NEW)
    assert (customer.name, customer.language, customer.tier) == ("Kafui Mensah", "ar", 0)
    assert customer.has_pin
    assert chat.text().startswith("\u200f")  # right to left
    assert "balance" in chat.choices()


def test_send_money_with_a_french_shortcut_and_the_pin(town: Container) -> None:
    chat = Chat(Dialog(town.chat), AMA)
    chat("envoyer 5000 à 97112233")
    assert "5 000 F CFA" in chat.text() and "Kofi Agbeko" in chat.text()
    chat.pick("confirm")
    turn = chat("4827")
    assert turn.secret_input
    assert any(r.end for r in turn.replies)
    assert (balance(town, AMA), balance(town, KOFI)) == (50_000 - 5_000, 55_000)
    # The same message delivered again (same id) moves nothing more: the inbox dedupes, and so does the
    # movement id derived from the message id.


def test_a_wrong_pin_is_counted_and_back_and_cancel_work(town: Container) -> None:
    chat = Chat(Dialog(town.chat), KOFI)
    chat("menu")
    chat.pick("send")
    chat("90112233")
    chat("0")  # back to the number
    chat("90112233")
    chat("2000")
    chat.pick("confirm")
    chat("1357")
    assert "2" in chat.text()  # tries left
    chat("cancel")
    assert balance(town, KOFI) == 50_000
    assert town.customers.get(KOFI).pin_failures == 1


def test_airtime_for_another_number_in_english(town: Container) -> None:
    chat = Chat(Dialog(town.chat), KOFI)
    chat("airtime 1000 for 99123456")
    assert chat.choices() == ["op:moov", "op:togocom"]  # the prefix is a hint: Moov first
    chat.pick("op:moov")
    assert "1,000 F CFA" in chat.text()
    assert chat.text().startswith("Moov Africa airtime for +22899123456\n"), chat.text()
    chat.pick("confirm")
    chat("5938")
    assert balance(town, KOFI) == 49_000


def test_airtime_is_confirmed_and_receipted_in_the_persons_language(town: Container) -> None:
    chat = Chat(Dialog(town.chat), AMA)
    chat("menu")
    chat.pick("airtime")
    chat.pick("me")
    chat.pick("op:togocom")
    chat.pick("airtime")
    chat("500")
    assert chat.text().startswith("Crédit Togocom pour le +22890112233\n"), chat.text()
    assert "500 F CFA" in chat.text() and "Airtime" not in chat.text()
    chat.pick("confirm")
    chat("4827")
    assert "Crédit Togocom pour le +22890112233" in chat.text() and "Airtime" not in chat.text()
    assert balance(town, AMA) == 50_000 - 500


def test_a_ceet_bill_gives_the_token_in_the_chat(town: Container) -> None:
    chat = Chat(Dialog(town.chat), AMA)
    chat("menu")
    chat.pick("bills")
    chat.pick("ceet")
    chat("12345678903")
    chat("2000")
    confirmation = chat.text()
    head = "Électricité CEET Cash Power, compteur 12345678903\nTitulaire : "
    assert confirmation.startswith(head), confirmation
    energy = re.search(r"\nÉnergie : (\d+(?:,\d)?) kWh\n", confirmation)  # a decimal comma in French
    assert energy is not None, confirmation
    chat.pick("confirm")
    chat("4827")
    assert "-" in chat.text().rsplit(":", 1)[-1]  # the 20-digit token, in groups
    assert balance(town, AMA) == 50_000 - 2_000 - 100


def test_a_canal_subscription_is_named_in_the_persons_language_and_once(town: Container) -> None:
    chat = Chat(Dialog(town.chat), AMA)
    chat("menu")
    chat.pick("bills")
    chat.pick("canal")
    chat("12345678901234")
    evasion = next(choice for choice in chat.choices() if choice.startswith("tv:") and "EVASION" in choice)
    chat.pick(evasion)
    # The biller describes it in English ("Canal+ Evasion, 1 month"); the product's name has its brand.
    assert chat.text().startswith("Abonnement Canal+ Evasion, carte 12345678901234\n"), chat.text()
    # what else the biller's quote says, in French: whose card, how many months
    assert "\nTitulaire : " in chat.text() and "\nNombre de mois : 1\n" in chat.text(), chat.text()
    chat.pick("confirm")
    chat("4827")
    assert "Abonnement Canal+ Evasion" in chat.text() and "month" not in chat.text(), chat.text()
    chat("menu")
    chat.pick("history")
    assert "Abonnement Canal+ Evasion, carte ••••1234" in chat.text(), chat.text()
    assert "Canal+ Canal+" not in chat.text()


def test_a_merchant_request_is_approved_in_the_chat(town: Container) -> None:
    merchant, _ = town.merchants.create("Assigamé Market")
    town.approvals.request_payment(new_movement_id(), merchant, AMA, 7_500, description="Order 12")
    chat = Chat(Dialog(town.chat), AMA)
    chat("menu")
    chat.pick("approvals")
    chat(str(1))
    chat.pick("confirm")
    chat("4827")
    assert balance(town, AMA) == 50_000 - 7_500
    assert town.ledger.get_account(merchant.account_id).balance == 7_500 - 75


def test_history_language_and_idle_expiry(town: Container) -> None:
    clock = Clock()
    dialog = Dialog(town.chat, Conversations(town.engine, clock_ns=clock))
    chat = Chat(dialog, AMA)
    chat("solde")
    assert "50 000 F CFA" in chat.text()
    chat("menu")
    chat.pick("settings")
    chat.pick("language")
    chat.pick("lang:en")
    assert town.customers.get(AMA).language == "en"
    chat("history")
    assert "50,000 F CFA" in chat.text()
    chat("menu")
    chat.pick("send")
    clock.now_ns += 6 * 60 * 10**9  # five idle minutes: the form is forgotten
    chat("90112233")
    assert chat.choices()[:2] == ["balance", "send"]


def test_ussd_sessions_send_money_within_182_characters(town: Container) -> None:
    gateway = UssdGateway(Dialog(town.chat))
    inputs: list[str] = []

    def dial(value: str | None = None) -> str:
        if value is not None:
            inputs.append(value)
        screen = gateway.handle(UssdRequest(session_id="ATUid_1", service_code="*555#", phone_number=AMA,
                                            network_code="61501", text="*".join(inputs)))
        assert len(screen) <= SCREEN_CHARS_MAX
        assert screen.startswith(("CON ", "END "))
        return screen

    assert dial().startswith("CON ")
    dial("2")
    dial("97112233")
    dial("3000")
    dial("1")
    done = dial("4827")
    assert done.startswith("END ")
    assert balance(town, KOFI) == 53_000
    # The gateway repeats the last request: same screen, nothing moves twice.
    again = gateway.handle(UssdRequest("ATUid_1", "*555#", AMA, "61501", "*".join(inputs)))
    assert again == done
    assert balance(town, KOFI) == 53_000


def test_an_attachment_is_never_opened(town: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    from sika.chat.messages import Attachment

    reached: list[object] = []

    def no_network(*args: object, **kwargs: object) -> None:
        reached.append(args)  # fetching a file from the channel needs the network: fail loudly
        raise AssertionError("the dialog reached for the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    dialog = Dialog(town.chat)
    # As the channel hands them over: screened on arrival, described, never downloaded.
    letter = Attachment(media_type="document", filename="LOVE-LETTER-FOR-YOU.txt.vbs", dangerous=True)
    photo = Attachment(media_type="image", mime_type="image/jpeg")
    warned, ignored = (dialog.handle(Inbound(channel="whatsapp", msisdn=AMA, kind=InboundKind.ATTACHMENT,
                                             message_id=f"a{n}", attachment=file))
                       for n, file in enumerate((letter, photo)))
    assert warned.replies[0].text == (
        "Attention : ce fichier pourrait endommager votre téléphone et n'a pas été ouvert. Sika ne vous "
        "demande jamais d'ouvrir des fichiers. Supprimez-le si vous ne savez pas d'où il vient.")
    assert ignored.replies[0].text == "Sika ne lit ni les fichiers ni les photos ; rien n'a été ouvert."
    assert [len(turn.replies) for turn in (warned, ignored)] == [1, 1]  # that sentence, nothing else
    assert reached == [] and balance(town, AMA) == 50_000


def test_the_ussd_route_speaks_africas_talking(town: Container) -> None:
    from fastapi.testclient import TestClient

    from sika.api.app import create_app

    with TestClient(create_app(town, run_workers=False)) as client:
        form = {"sessionId": "ATUid_9", "serviceCode": "*555#", "phoneNumber": AMA, "networkCode": "61501",
                "text": ""}
        first = client.post("/ussd", data=form)
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("text/plain")
        assert first.text.startswith("CON ") and len(first.text) <= SCREEN_CHARS_MAX
        pin_screen = client.post("/ussd", data={**form, "text": "1"})
        assert pin_screen.text.startswith("CON ") and "PIN" in pin_screen.text
        balance_screen = client.post("/ussd", data={**form, "text": "1*4827"})
        assert balance_screen.text.startswith("END ") and "50 000 F CFA" in balance_screen.text
        junk = client.post("/ussd", content=b"\xff\xfe%%%", headers={"content-type": "text/plain"})
        assert junk.status_code == 200 and junk.text.startswith("END ")


_TYPED = st.one_of(st.text(max_size=200), st.sampled_from(["0", "00", "1", "2", "3", "9", "99", "menu",
                                                           "cancel", "4827", "envoyer 5000 à 97112233",
                                                           "solde", "*", "**", "1*2", "\x00", "ا"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inputs=st.lists(_TYPED, max_size=8), channel=st.sampled_from(["whatsapp", "terminal"]))
def test_whatever_is_typed_the_engine_answers(sqlite_town: Container, inputs: list[str],
                                              channel: str) -> None:
    chat = Chat(Dialog(sqlite_town.chat), AMA, channel=channel)
    for text in inputs:
        turn = chat(text)
        assert turn.replies
        assert all(reply.text for reply in turn.replies)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300), phone=st.sampled_from([AMA, NEW, "", "abc", "+33612345678", "9" * 40]),
       session=st.text(max_size=200))
def test_whatever_the_ussd_gateway_gets_it_answers_a_screen(sqlite_town: Container, text: str, phone: str,
                                                            session: str) -> None:
    screen = UssdGateway(Dialog(sqlite_town.chat)).handle(UssdRequest(session, "*555#", phone, "61501", text))
    assert screen.startswith(("CON ", "END ")) and len(screen) <= SCREEN_CHARS_MAX


@pytest.fixture
def sqlite_town(sqlite_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=sqlite_url, providers="instant"))
    agent, _ = built.agents.create("Boutique Bè")
    built.payments.credit_float(new_movement_id(), agent, 1_000_000)
    built.customers.open(AMA, "Ama Mensah", pin=Pin("4827"), tier=1)
    built.customers.open(KOFI, "Kofi Agbeko", pin=Pin("5938"), tier=1)
    built.payments.cash_in(new_movement_id(), agent, AMA, 50_000)
    yield built
    assert audit.check(built.engine) == []
    built.close()


def test_a_pin_typed_after_the_form_expired_is_masked_and_moves_nothing(town: Container) -> None:
    clock = Clock()
    chat = Chat(Dialog(town.chat, Conversations(town.engine, clock_ns=clock)), AMA)
    chat("envoyer 5000 à 97112233")
    chat.pick("confirm")
    clock.now_ns += 6 * 60 * 10**9
    turn = chat("4827")
    assert turn.secret_input
    assert balance(town, KOFI) == 50_000
    assert chat.choices()[:2] == ["balance", "send"]


# Reading ahead for a batch ----------------------------------------------------------------------------

class Statements:
    """The SQL statements an engine runs while counting, by the tables they name."""

    def __init__(self, container: Container) -> None:
        self.seen: list[str] = []
        event.listen(container.engine, "before_cursor_execute", self._record)
        self._engine = container.engine

    def _record(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        self.seen.append(statement)

    def naming(self, table: str) -> int:
        return sum(table in statement for statement in self.seen)

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)


def test_a_batch_reads_wallets_and_requests_at_once_and_a_second_message_afresh(town: Container) -> None:
    merchant, _ = town.merchants.create("Assigamé Market")
    for amount in (1_000, 2_000, 3_000):
        town.approvals.request_payment(new_movement_id(), merchant, AMA, amount, description="Order")
    dialog = Dialog(town.chat)
    ama, kofi, new = Chat(dialog, AMA), Chat(dialog, KOFI), Chat(dialog, NEW)
    counted = Statements(town)
    try:
        with dialog.prefetch({AMA, KOFI, NEW}):
            read_ahead = [counted.naming(table) for table in TABLES]
            menu = ama("menu").replies[-1].choices
            kofi("solde")
            new("bonjour")
            during = [counted.naming(table) for table in TABLES]
            ama("solde")  # Ama's second message of the batch: read again
            after = [counted.naming(table) for table in TABLES]
    finally:
        counted.close()
    assert read_ahead == [1, 1, 1] and during == read_ahead
    assert after[0] > during[0] and after[2] > during[2]
    assert "50,000 F CFA" in kofi.text() and "50 000 F CFA" in ama.text()  # Kofi reads English
    assert approvals_title(menu) == approvals_title(Chat(dialog, AMA)("menu").replies[-1].choices)
    assert "(3)" in approvals_title(menu)
    assert new.choices() != [] and "Sika" in new.text()  # no wallet: welcomed, as without the batch


TABLES = ("wallet_customers", "pay_approvals", "ledger_accounts")


def approvals_title(choices: list[Choice]) -> str:
    return next(c.title for c in choices if c.id == "approvals")


def test_requests_read_ahead_are_forgotten_once_one_is_answered(town: Container) -> None:
    merchant, _ = town.merchants.create("Assigamé Market")
    town.approvals.request_payment(new_movement_id(), merchant, AMA, 7_500, description="Order 12")
    dialog = Dialog(town.chat)
    chat = Chat(dialog, AMA)
    chat("menu")
    chat.pick("approvals")
    chat("1")
    with dialog.prefetch({AMA}):
        turn = chat.pick("decline")  # the menu that follows counts the requests again: none left
    assert approvals_title(turn.replies[-1].choices) == "Valider une demande"  # Ama reads French


def test_many_customers_and_their_first_requests_in_one_query_each(town: Container) -> None:
    merchant, _ = town.merchants.create("Assigamé Market")
    for n in range(12):
        town.approvals.request_payment(new_movement_id(), merchant, AMA, 100 + n, description=f"#{n}")
    town.approvals.request_payment(new_movement_id(), merchant, KOFI, 900, description="Kofi's")
    found = town.customers.find_many([AMA, KOFI, NEW])
    assert set(found) == {AMA, KOFI} and found[AMA] == town.customers.get(AMA)
    pending = town.approvals.pending_for_many([found[AMA].id, found[KOFI].id], limit=10)
    assert [a.amount for a in pending[found[AMA].id]] == [100 + n for n in range(10)]
    assert [a.description for a in pending[found[KOFI].id]] == ["Kofi's"]
    assert pending[found[AMA].id] == town.approvals.pending_for(found[AMA].id, limit=10)
    assert town.customers.find_many([]) == {} and town.approvals.pending_for_many([]) == {}


def test_a_payment_in_the_batch_makes_later_balances_of_the_batch_read_afresh(town: Container) -> None:
    dialog = Dialog(town.chat)
    ama, kofi = Chat(dialog, AMA), Chat(dialog, KOFI)
    ama("envoyer 5000 à 97112233")
    ama.pick("confirm")
    with dialog.prefetch({AMA, KOFI}):
        ama("4827")  # the PIN: Kofi's account, read ahead at 50,000, is read again
        kofi("balance")
    assert "55,000 F CFA" in kofi.text()


def test_when_reading_ahead_fails_each_message_reads_for_itself(town: Container,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_numbers: object) -> object:
        raise ConnectionError("database went away")

    monkeypatch.setattr(town.customers, "find_many", broken)
    dialog = Dialog(town.chat)
    with dialog.prefetch({AMA}):
        turn = Chat(dialog, AMA)("solde")
    assert "50 000 F CFA" in "\n".join(reply.text for reply in turn.replies)


@pytest.mark.parametrize("steps", [
    [("pick", "bills"), ("pick", "ceet"), ("say", "12345678903")],  # the meter's step
    [("pick", "bills"), ("pick", "tde"), ("say", "12345678")],  # TdE quotes at the reference
    [("say", "airtime 1000 for 99123456"), ("pick", "op:moov")],  # airtime quotes at the operator
], ids=["ceet", "tde", "airtime"])
def test_a_purchase_whose_provider_is_off_ends_at_the_menu_not_in_a_loop(
        database_url: str, steps: list[tuple[str, str]]) -> None:
    """Nothing typed could make an unconfigured provider work: say so once, then the menu, rather
    than asking the same question again and again."""
    container = bootstrap(Settings(database_url=database_url, providers="off"))
    try:
        container.customers.open(AMA, "Ama Mensah", language="en", pin=Pin("4827"), tier=1)
        chat = Chat(Dialog(container.chat), AMA)
        chat("menu")
        for how, what in steps:
            chat.pick(what) if how == "pick" else chat(what)
        assert "This service is not available yet. Nothing was taken from your wallet." in chat.text()
        assert "bills" in chat.choices() and "send" in chat.choices()  # the menu, to go elsewhere
    finally:
        container.close()
