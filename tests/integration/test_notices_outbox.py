"""The notification policy in the outbox, on a real database and a clock the test moves: in Lomé on
1 March 2026 (Ramadan day 12; Maghrib 18:07, Isha 19:13 UTC+0) a receipt goes at once while a
promotion waits for the end of the prayer window; the opted-out get none; STOP in every language."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime

import pytest
from reads_support import statements_run
from sqlalchemy import select

from sika.bootstrap import Container, bootstrap
from sika.chat import state
from sika.chat.dialog import Dialog
from sika.chat.i18n import translator
from sika.chat.messages import Inbound, InboundKind
from sika.chat.texts.notices import reason_text
from sika.config import Settings
from sika.db import writing
from sika.notices.store import PreferenceStore
from sika.payments.channels import Message, Route, Router
from sika.payments.outbox import LEASE_S, Outbox, enqueue
from sika.payments.schema import outbox
from sika.wallet import Pin

AMA, KOFI = "+22890112233", "+22897112233"
_ids = itertools.count()


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * 10**9


class Clock:
    def __init__(self, at: str) -> None:
        self.now_ns = _ns(at)

    def __call__(self) -> int:
        return self.now_ns


class Phone:
    """A channel that records what reached each number."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

    def deliver(self, message: Message) -> None:
        self.got.append((message.msisdn, message.kind))


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="off"))
    built.customers.open(AMA, "Ama Mensah", language="fr", pin=Pin("4827"), tier=1)
    built.customers.open(KOFI, "Kofi Agbeko", language="en", pin=Pin("5938"), tier=1)
    yield built
    built.close()


def _queue(container: Container, clock: Clock, msisdn: str, kind: str, params: dict[str, object]) -> None:
    with container.engine.begin() as connection:
        enqueue(connection, dedupe_key=f"t{next(_ids)}", msisdn=msisdn, kind=kind, params=params,
                now_ns=clock())


def _rows(container: Container, msisdn: str) -> dict[str, dict[str, object]]:
    with container.engine.connect() as connection:
        rows = connection.execute(select(outbox).where(outbox.c.msisdn == msisdn)).mappings().all()
    return {row["kind"]: dict(row) for row in rows}


def test_a_promotion_waits_past_maghrib_while_the_receipt_goes_at_once(container: Container) -> None:
    clock, phone = Clock("2026-03-01T18:00:00+00:00"), Phone()
    box = Outbox(container.engine, phone, clock_ns=clock, gate=container.notices)
    PreferenceStore(container.engine).change(AMA, quiet="prayer", marketing=True, city="lome")
    _queue(container, clock, AMA, "receipt_transfer_received", {"id": "mv1", "amount": 5_000})
    _queue(container, clock, AMA, "marketing_ramadan", {"text": "Iftar: -10 % on rides tonight"})

    box.deliver_due()
    assert phone.got == [(AMA, "receipt_transfer_received")]
    held = _rows(container, AMA)["marketing_ramadan"]
    assert (held["status"], held["next_attempt_ns"], held["attempts"]) == (
        "queued", _ns("2026-03-01T18:27:00+00:00"), 0)
    assert reason_text(translator("fr"), str(held["reason"])) == "retenu jusqu'à 18:27, après Maghrib"
    assert reason_text(translator("en"), str(held["reason"])) == "held until 18:27, after Maghrib"

    clock.now_ns = _ns("2026-03-01T18:15:00+00:00")
    box.deliver_due()
    assert len(phone.got) == 1  # still inside the window: nothing more

    clock.now_ns = _ns("2026-03-01T18:27:00+00:00")
    box.deliver_due()
    assert phone.got[-1] == (AMA, "marketing_ramadan")
    sent = _rows(container, AMA)["marketing_ramadan"]
    assert sent["status"] == "delivered"
    assert json.loads(str(sent["reason"]))["reason"] == "open"


def test_the_second_promotion_of_the_day_waits_for_tomorrow(container: Container) -> None:
    clock, phone = Clock("2026-03-01T10:00:00+00:00"), Phone()
    box = Outbox(container.engine, phone, clock_ns=clock, gate=container.notices)
    PreferenceStore(container.engine).change(AMA, marketing=True)
    _queue(container, clock, AMA, "marketing_one", {"text": "one"})
    box.deliver_due()
    _queue(container, clock, AMA, "marketing_two", {"text": "two"})
    box.deliver_due()
    assert phone.got == [(AMA, "marketing_one")]
    second = _rows(container, AMA)["marketing_two"]
    assert second["next_attempt_ns"] == _ns("2026-03-02T00:00:00+00:00")
    assert reason_text(translator("en"), str(second["reason"])) == (
        "held until 2026-03-02 00:00: at most 1 marketing messages a day")


def test_two_promotions_claimed_in_one_pass_go_one_a_day_all_the_same(container: Container) -> None:
    clock, phone = Clock("2026-03-01T10:00:00+00:00"), Phone()
    box = Outbox(container.engine, phone, clock_ns=clock, gate=container.notices)
    PreferenceStore(container.engine).change(AMA, marketing=True)
    _queue(container, clock, AMA, "marketing_one", {"text": "one"})
    _queue(container, clock, AMA, "marketing_two", {"text": "two"})
    _queue(container, clock, AMA, "receipt_transfer_received", {"id": "mv1", "amount": 5_000})
    assert box.deliver_due() == 3  # one claim: each asks the policy after the one before it went
    assert phone.got == [(AMA, "marketing_one"), (AMA, "receipt_transfer_received")]
    assert _rows(container, AMA)["marketing_two"]["next_attempt_ns"] == _ns("2026-03-02T00:00:00+00:00")


def test_a_customer_who_never_agreed_or_said_stop_gets_no_marketing_but_their_receipts(
        container: Container) -> None:
    clock, phone = Clock("2026-03-01T10:00:00+00:00"), Phone()
    box = Outbox(container.engine, phone, clock_ns=clock, gate=container.notices)
    store = PreferenceStore(container.engine)
    store.change(AMA, marketing=True)
    assert store.opt_out(AMA) is True
    for msisdn in (AMA, KOFI):  # Ama said STOP; Kofi never said yes
        _queue(container, clock, msisdn, "marketing_promo", {"text": "promo"})
        _queue(container, clock, msisdn, "receipt_transfer_received", {"id": "mv2", "amount": 100})
    box.deliver_due()
    assert sorted(phone.got) == [(AMA, "receipt_transfer_received"), (KOFI, "receipt_transfer_received")]
    for msisdn in (AMA, KOFI):
        dropped = _rows(container, msisdn)["marketing_promo"]
        assert dropped["status"] == "dropped"
        assert reason_text(translator("en"), str(dropped["reason"])) == (
            "dropped: the customer has not agreed to receive marketing")
    assert store.get(AMA).consent_via == "stop"


STOPS = {"fr": "ARRÊT", "en": "STOP", "es": "PARAR", "it": "BASTA", "pt": "Parar", "ru": "СТОП", "ar": "توقف"}
CONFIRMATIONS = {
    "fr": "C'est fait : Sika ne vous enverra plus d'offres ni de promotions.",
    "en": "Done: Sika will send you no more offers or promotions.",
    "es": "Hecho: Sika no le enviará más ofertas ni promociones.",
    "it": "Fatto: Sika non ti invierà più offerte né promozioni.",
    "pt": "Feito: a Sika não lhe enviará mais ofertas nem promoções.",
    "ru": "Готово: Sika больше не будет присылать вам предложения и акции.",
    "ar": "تم: لن ترسل لك Sika أي عروض أو تخفيضات بعد الآن.",
}


@pytest.mark.parametrize("language", sorted(STOPS))
def test_stop_in_each_language_opts_out_at_once_with_a_confirmation_in_that_language(
        container: Container, language: str) -> None:
    store = PreferenceStore(container.engine)
    store.change(AMA, marketing=True, via="chat")
    container.customers.set_language(AMA, language)
    dialog = Dialog(container.chat)
    turn = dialog.handle(Inbound(channel="whatsapp", msisdn=AMA, kind=InboundKind.TEXT,
                                 message_id=f"s{next(_ids)}", text=STOPS[language]))
    assert CONFIRMATIONS[language] in turn.replies[0].text
    preferences = store.get(AMA)
    assert (preferences.marketing, preferences.consent_via) == (False, "whatsapp")


def test_stop_in_the_middle_of_a_transfer_also_cancels_it(container: Container) -> None:
    PreferenceStore(container.engine).change(KOFI, marketing=True)
    dialog = Dialog(container.chat)

    def say(text: str) -> str:
        turn = dialog.handle(Inbound(channel="terminal", msisdn=KOFI, kind=InboundKind.TEXT,
                                     message_id=f"c{next(_ids)}", text=text))
        return "\n".join(reply.text for reply in turn.replies)

    say("send 500 to 90112233")
    text = say("stop")
    assert "Cancelled. Nothing was sent." in text and "no more offers" in text
    assert PreferenceStore(container.engine).get(KOFI).marketing is False


def test_the_notifications_entry_asks_the_quiet_hours_then_consent(container: Container) -> None:
    dialog = Dialog(container.chat)

    def pick(text: str, choice: str | None = None) -> str:
        kind = InboundKind.CHOICE if choice else InboundKind.TEXT
        turn = dialog.handle(Inbound(channel="whatsapp", msisdn=KOFI, kind=kind, message_id=f"n{next(_ids)}",
                                     text=text, choice_id=choice))
        return "\n".join(reply.text for reply in turn.replies)

    pick("menu")
    assert "Settings: what would you like to change?" in pick("Settings", "settings")
    assert "When should Sika keep quiet?" in pick("Notifications", "notices")
    assert "Would you like to receive Sika's offers" in pick("Quiet at prayer times", "quiet:prayer")
    assert "Saved: you will receive offers, outside your quiet hours." in pick("Yes", "consent:yes")
    preferences = PreferenceStore(container.engine).get(KOFI)
    assert (preferences.quiet, preferences.marketing, preferences.consent_via) == ("prayer", True, "whatsapp")
    assert preferences.consent_at_ns is not None and preferences.consent_asked_at_ns is not None


def test_consent_is_asked_once_in_the_customers_language_and_yes_turns_offers_on(
        container: Container) -> None:
    dialog = Dialog(container.chat)

    def say(text: str, channel: str = "whatsapp") -> list[str]:
        turn = dialog.handle(Inbound(channel=channel, msisdn=AMA, kind=InboundKind.TEXT,
                                     message_id=f"y{next(_ids)}", text=text))
        return [reply.text for reply in turn.replies]

    first = say("menu")
    assert first[0].startswith("Souhaitez-vous recevoir les offres et promotions de Sika ?")  # in French
    assert first[-1].startswith("Que voulez-vous faire")  # the menu stays the last screen
    assert not any("Souhaitez-vous" in text for text in say("menu"))  # asked once, never again
    assert say("oui")[0] == "Enregistré : vous recevrez des offres, en dehors de vos heures calmes."
    preferences = PreferenceStore(container.engine).get(AMA)
    assert (preferences.marketing, preferences.consent_via) == (True, "whatsapp")
    assert not any("Enregistré" in text for text in say("oui"))  # answered: "oui" means nothing more


def test_whether_consent_was_asked_is_read_once_for_a_batch_of_numbers(container: Container) -> None:
    PreferenceStore(container.engine).mark_asked(AMA)
    store = PreferenceStore(container.engine)  # another process: it knows nothing yet
    with statements_run(container.engine) as reads:
        store.learn_asked([AMA, KOFI])
        assert len(reads) == 1
        assert store.asked(AMA) and len(reads) == 1  # learnt with the batch
        assert not store.asked(KOFI) and len(reads) == 1  # never asked: learnt with the batch too
        assert not store.asked(KOFI) and len(reads) == 2  # that answer is taken once: read again
    assert store.mark_asked(KOFI) and store.asked(KOFI)
    assert not store.mark_asked(AMA)


def test_a_batch_marks_its_numbers_asked_with_its_answers_in_one_statement(container: Container) -> None:
    PreferenceStore(container.engine).change(KOFI, quiet="prayer")  # a row already, never asked
    dialog = Dialog(container.chat)
    with state.batch(container.engine, "whatsapp", [AMA, KOFI]) as held:
        for number, question in ((AMA, "Souhaitez-vous recevoir"), (KOFI, "Would you like to receive")):
            turn = dialog.handle(Inbound(channel="whatsapp", msisdn=number, kind=InboundKind.TEXT,
                                         message_id=f"b{next(_ids)}", text="menu"))
            assert turn.replies[0].text.startswith(question)
        # Not yet: it lands with the batch's record of its answers.
        assert PreferenceStore(container.engine).get(AMA).consent_asked_at_ns is None
        with statements_run(container.engine) as run, writing(container.engine).begin() as connection:
            held.write(connection)
    assert len([statement for statement in run if "notice_preferences" in statement]) == 1
    fresh = PreferenceStore(container.engine)  # another process
    for number in (AMA, KOFI):
        assert fresh.get(number).consent_asked_at_ns is not None and fresh.asked(number)
    assert fresh.get(KOFI).quiet == "prayer"  # the rest of the row as it was


def test_a_batch_s_not_asked_yet_is_its_own_thread_s(container: Container) -> None:
    store = PreferenceStore(container.engine)  # shared by a process's inbox threads
    store.learn_asked([KOFI])
    other = threading.Thread(target=lambda: store.learn_asked([AMA]))  # another thread's batch
    other.start()
    other.join()  # neither wipes this thread's answers...
    reads_elsewhere: list[int] = []

    def ask_elsewhere() -> None:
        with statements_run(container.engine) as reads:
            store.asked(KOFI)
        reads_elsewhere.append(len(reads))

    asker = threading.Thread(target=ask_elsewhere)
    asker.start()
    asker.join()
    assert reads_elsewhere == [1]  # ...nor feeds another thread: read there
    with statements_run(container.engine) as reads:
        assert not store.asked(KOFI) and reads == []  # taken here, from this thread's batch


def test_a_batch_s_not_asked_yet_gives_way_to_an_answer_within_the_batch(container: Container) -> None:
    store = PreferenceStore(container.engine)
    store.learn_asked([KOFI])  # not asked yet, as the batch read it
    store.opt_out(KOFI, via="stop")  # then STOP, in the same batch: it counts as an answer
    assert store.asked(KOFI)  # read again, not taken from the batch: never asked again after a STOP


class Slow:
    """A one-by-one channel (SMS) whose delivery outlasts the claim's leases: meanwhile another worker
    claims what the first one still held."""

    def __init__(self, clock: Clock, other: Outbox) -> None:
        self.clock, self.other = clock, other
        self.got: list[str] = []
        self.taken: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.got.append(message.msisdn)
        self.clock.now_ns += (LEASE_S + 1) * 10**9
        self.taken += self.other.claim()


class Batch:
    """A channel that takes batches (WhatsApp): what reached each number, and how."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.kinds: list[tuple[str, str]] = []

    def deliver(self, message: Message) -> None:
        self.kinds.append((message.kind, "alone"))

    def deliver_many(self, messages: Sequence[Message]) -> list[BaseException | None]:
        self.got += [m.msisdn for m in messages]
        self.kinds += [(m.kind, "batch") for m in messages]
        return [None] * len(messages)


def test_two_promotions_claimed_in_one_pass_go_one_a_day_on_a_batch_route_too(container: Container) -> None:
    clock, batch = Clock("2026-03-01T10:00:00+00:00"), Batch()
    box = Outbox(container.engine, Router([Route("whatsapp", batch)]), clock_ns=clock, gate=container.notices)
    PreferenceStore(container.engine).change(AMA, marketing=True)
    _queue(container, clock, AMA, "marketing_one", {"text": "one"})
    _queue(container, clock, AMA, "marketing_two", {"text": "two"})
    _queue(container, clock, AMA, "receipt_transfer_received", {"id": "mv1", "amount": 5_000})
    assert box.deliver_due() == 3
    assert batch.kinds == [("marketing_one", "alone"), ("receipt_transfer_received", "batch")]
    assert _rows(container, AMA)["marketing_two"]["next_attempt_ns"] == _ns("2026-03-02T00:00:00+00:00")


def test_a_batch_whose_leases_ran_out_meanwhile_is_left_to_the_worker_that_took_it(
        container: Container) -> None:
    clock = Clock("2026-03-01T10:00:00+00:00")
    other = Outbox(container.engine, Phone(), clock_ns=clock)
    batch, slow = Batch(), Slow(clock, other)
    box = Outbox(container.engine, Router([Route("whatsapp", batch, reaches=KOFI.__eq__),
                                           Route("sms", slow)]), clock_ns=clock)
    _queue(container, clock, AMA, "receipt_transfer_sent", {"id": "mv1", "amount": 5_000})
    _queue(container, clock, KOFI, "receipt_transfer_received", {"id": "mv1", "amount": 5_000})
    assert box.deliver_due() == 2
    assert slow.got == [AMA] and KOFI in [m.msisdn for m in slow.taken]
    assert batch.got == []  # the other worker has it now: sent once, by the other
