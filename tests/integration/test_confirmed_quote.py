"""The PIN pays the price the person confirmed: a bill bought in the chat is charged what its
confirmation showed, without asking the biller again while the quote is fresh; a stale quote is asked
again, and a price that moved meanwhile is refused with nothing taken."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import pytest

from sika.bootstrap import Container, bootstrap
from sika.chat.dialog import Dialog
from sika.chat.messages import Inbound, InboundKind
from sika.config import Settings
from sika.ledger import audit
from sika.payments import new_movement_id, quotes
from sika.payments.quotes import PurchaseQuote
from sika.wallet import Pin

AMA, AMA_PIN = "+22890112233", "4827"
METER = "12345678903"
_messages = itertools.count()


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant"))
    agent, _ = built.agents.create("Boutique Bè")
    built.payments.credit_float(new_movement_id(), agent, 1_000_000)
    built.customers.open(AMA, "Ama Mensah", language="fr", pin=Pin(AMA_PIN), tier=1)
    built.payments.cash_in(new_movement_id(), agent, AMA, 50_000)
    yield built
    assert audit.check(built.engine) == []
    built.close()


@pytest.fixture
def quotes_asked(container: Container, monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """Every quote asked of the providers, in order (the purchases' own ``quote``, wrapped)."""
    asked: list[tuple[object, ...]] = []
    real = container.purchases.quote

    def counted(provider: str, product: str, reference: str, amount: int | None) -> PurchaseQuote:
        asked.append((provider, product, reference, amount))
        return real(provider, product, reference, amount)

    monkeypatch.setattr(container.purchases, "quote", counted)
    return asked


def chat(container: Container, *typed: str) -> list[str]:
    """What Ama reads after each message she types in the terminal chat (the replies joined)."""
    dialog = Dialog(container.chat)
    read = []
    for text in typed:
        turn = dialog.handle(Inbound(channel="terminal", msisdn=AMA, kind=InboundKind.TEXT,
                                     message_id=f"q{next(_messages)}", text=text))
        read.append("\n".join(reply.text for reply in turn.replies))
    return read


def _balance(container: Container) -> str:
    return chat(container, "1")[0].split("\n")[0]


def _to_the_confirmation(container: Container) -> str:
    """Menu, Bills, CEET, the meter, 2,000 francs: the confirmation Ama reads."""
    *_, confirmation = chat(container, "menu", "4", "1", METER, "2000")
    return confirmation


def test_the_pin_pays_the_price_confirmed_without_asking_the_biller_again(
        container: Container, quotes_asked: list[tuple[object, ...]]) -> None:
    confirmation = _to_the_confirmation(container)
    assert "Montant : 2 000 F CFA. Frais : 100 F CFA. Total : 2 100 F CFA." in confirmation
    assert quotes_asked == [("ceet", "electricity", METER, None), ("ceet", "electricity", METER, 2000)]
    asked, receipt = chat(container, "1", AMA_PIN)
    assert asked == "Saisissez votre code PIN à 4 chiffres pour confirmer."
    assert receipt.startswith(
        "Payé : Électricité CEET Cash Power, compteur 12345678903. Montant : 2 000 F CFA.")
    assert "Votre code électricité : " in receipt
    assert len(quotes_asked) == 2  # the reference, the amount; the PIN paid what was confirmed
    assert _balance(container) == "Votre solde : 47 900 F CFA."


def test_a_stale_confirmation_at_the_same_price_is_quoted_again_and_paid(
        container: Container, quotes_asked: list[tuple[object, ...]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _to_the_confirmation(container)
    monkeypatch.setattr(quotes, "FRESH_S", -1)  # every kept quote is older than that
    _, receipt = chat(container, "1", AMA_PIN)
    assert receipt.startswith("Payé : Électricité CEET Cash Power"), receipt
    assert quotes_asked[-1] == ("ceet", "electricity", METER, 2000) and len(quotes_asked) == 3
    assert _balance(container) == "Votre solde : 47 900 F CFA."


def test_a_price_that_moved_after_a_stale_confirmation_is_refused_and_nothing_is_taken(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    _to_the_confirmation(container)
    monkeypatch.setattr(quotes, "FRESH_S", -1)
    real = container.purchases.quote

    def dearer(provider: str, product: str, reference: str, amount: int | None) -> PurchaseQuote:
        return dataclasses.replace(real(provider, product, reference, amount), fee=150)  # fees went up

    monkeypatch.setattr(container.purchases, "quote", dearer)
    _, refused = chat(container, "1", AMA_PIN)
    assert refused.startswith("Le prix a changé depuis que vous l'avez confirmé. Rien n'a été prélevé sur "
                              "votre portefeuille : recommencez pour voir le nouveau prix.\n"), refused
    assert _balance(container) == "Votre solde : 50 000 F CFA."
    assert container.customers.find(AMA).pin_failures == 0  # type: ignore[union-attr]


def test_a_quote_too_large_to_keep_in_the_conversation_is_asked_again_at_the_pin(
        container: Container, quotes_asked: list[tuple[object, ...]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    counted = container.purchases.quote

    def verbose(provider: str, product: str, reference: str, amount: int | None) -> PurchaseQuote:
        found = counted(provider, product, reference, amount)  # a biller that says a lot, in 4-byte signs
        return dataclasses.replace(found, details={**found.details,
                                                   **{f"note_{n}": "𝄞" * 200 for n in range(16)}})

    monkeypatch.setattr(container.purchases, "quote", verbose)
    assert "Total : 2 100 F CFA." in _to_the_confirmation(container)
    _, receipt = chat(container, "1", AMA_PIN)
    assert receipt.startswith("Payé : Électricité CEET Cash Power"), receipt
    assert len(quotes_asked) == 3  # not kept (the conversation stays small): the PIN asked again
    assert _balance(container) == "Votre solde : 47 900 F CFA."


def test_a_quote_too_large_to_keep_still_refuses_a_price_that_moved(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    real = container.purchases.quote
    dearer = {"fee": 100}

    def verbose(provider: str, product: str, reference: str, amount: int | None) -> PurchaseQuote:
        found = real(provider, product, reference, amount)
        return dataclasses.replace(found, fee=dearer["fee"],
                                   details={f"note_{n}": "𝄞" * 200 for n in range(16)})

    monkeypatch.setattr(container.purchases, "quote", verbose)
    assert "Total : 2 100 F CFA." in _to_the_confirmation(container)
    dearer["fee"] = 150  # the fees went up before the PIN
    _, refused = chat(container, "1", AMA_PIN)
    assert refused.startswith("Le prix a changé depuis que vous l'avez confirmé."), refused
    assert _balance(container) == "Votre solde : 50 000 F CFA."


def test_a_kept_quote_is_paid_only_for_what_it_priced_and_while_fresh() -> None:
    now = 10**18
    kept = PurchaseQuote("ceet", "electricity", METER, 2_000, 100, "CEET", {"units_kwh": "17.8"}, now)
    assert PurchaseQuote.from_json(kept.as_json()) == kept
    assert kept.fresh_for("ceet", "electricity", METER, 2_000, now_ns=now + 60 * 10**9)
    assert not kept.fresh_for("ceet", "electricity", METER, None, now_ns=now)  # a buy naming no amount
    assert not kept.fresh_for("ceet", "electricity", METER, 3_000, now_ns=now)
    assert not kept.fresh_for("ceet", "electricity", "12345678904", 2_000, now_ns=now)
    assert not kept.fresh_for("tde", "electricity", METER, 2_000, now_ns=now)
    assert not kept.fresh_for("ceet", "electricity", METER, 2_000, now_ns=now + (quotes.FRESH_S + 1) * 10**9)
    assert not kept.fresh_for("ceet", "electricity", METER, 2_000, now_ns=now - 10**9)  # a clock gone back
    assert not dataclasses.replace(kept, quoted_ns=0).fresh_for("ceet", "electricity", METER, 2_000,
                                                                now_ns=now)
    for damaged in (None, "x", {}, {**kept.as_json(), "amount": "2000"}, {**kept.as_json(), "amount": 0},
                    {**kept.as_json(), "fee": -1}, {**kept.as_json(), "details": [1]},
                    {**kept.as_json(), "quoted_ns": True}):
        assert PurchaseQuote.from_json(damaged) is None, damaged
