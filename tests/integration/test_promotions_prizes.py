"""A prize whose winner's wallet is full waits for the winner: told so, paid once the wallet has room,
given back (and the winner told) when the wait is over; no franc is lost or paid twice."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from promotions_support import Town, assert_adds_up, assert_statement_adds_up, audited_containers
from sqlalchemy import func, select, update

from sika import jsoncodec
from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.texts.notifications import render
from sika.chat.texts.promotions import entry_text
from sika.payments import new_movement_id
from sika.payments.schema import movements, outbox
from sika.promotions.model import Campaign
from sika.promotions.schema import prizes_waiting, rewards
from sika.wallet import Customer

PRIZE = 50_000


@pytest.fixture
def containers(database_url: str) -> Iterator[list[Container]]:
    with audited_containers(database_url, 2) as built:
        yield built


@pytest.fixture
def town(containers: list[Container]) -> Town:
    return Town.open(containers[0])


def _full_winner(town: Town) -> tuple[Campaign, Customer, str]:
    """A basic (tier 0, 200 000 F at most) wallet holding 194 000 F wins a 50 000 F prize: the draw."""
    campaign = town.campaign("prize_draw", PRIZE, rules={"prizes": [PRIZE], "operations": ["transfer"]})
    winner = town.wallet("Abla Full", 97_500, tier=0)
    town.container.payments.cash_in(new_movement_id(), town.agent, winner.msisdn, 97_500)
    town.send(winner, town.wallet("Payee"), 1_000)  # the ticket
    draws = town.container.promotions.draws
    draw = draws.reveal(draws.commit(campaign.id).id)
    assert draw.winners is not None and len(draw.winners) == 1
    return campaign, town.container.customers.get(winner.msisdn), draw.id


def _told(town: Town, msisdn: str) -> list[str]:
    """The messages queued for ``msisdn``, as the person reads them (French)."""
    with town.container.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.kind, outbox.c.params).where(outbox.c.msisdn == msisdn)
                                  .order_by(outbox.c.id)).all()
    return [render(translator("fr"), row.kind, jsoncodec.loads(row.params)) for row in rows
            if row.kind.startswith("promo_prize")]


def _due_now(town: Town, **values: Any) -> None:
    """Make the waiting prizes due (as if their fifteen minutes, or their thirty days, had passed)."""
    with town.container.engine.begin() as connection:
        connection.execute(update(prizes_waiting).values(next_try_ns=0, **values))


def _movements_of(town: Town, customer: Customer) -> int:
    with town.container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(movements).where(
            movements.c.payee_customer_id == customer.id)).scalar_one())


def test_a_full_wallet_is_told_its_prize_waits_then_paid_once_it_has_room(
        town: Town, containers: list[Container]) -> None:
    campaign, winner, draw_id = _full_winner(town)
    assert town.balance(winner) == 194_000  # nothing paid: the wallet would hold 244 000
    (waiting,) = _told(town, winner.msisdn)
    assert waiting.startswith("Félicitations ! Votre ticket ")
    assert ("Votre portefeuille ne peut pas le recevoir pour l'instant (les plafonds de votre niveau sur "
            "ce qu'il détient et reçoit en un mois) : le prix vous attend 30 jours. Sika le verse dans les "
            "15 minutes dès qu'il passe") in waiting
    assert f"Référence : {draw_id}.w0." in waiting
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.remaining) == (PRIZE, 0)  # awarded: it waits in the prize holding account
    (ticket,) = town.container.promotions.entries_of(winner.id)
    assert entry_text(translator("fr"), ticket) == (
        f"Ticket {ticket.id} (prize_draw test) : gagnant ! "
        "Le prix attend de la place sur votre portefeuille.")

    prizes = town.container.promotions.draws.prizes
    refused_before = _movements_of(town, winner)
    assert refused_before == 2  # the two cash-ins: no prize was tried, none reads as failed in the history
    _due_now(town)
    assert prizes.retry_due() == 1
    assert town.balance(winner) == 194_000 and _movements_of(town, winner) == refused_before  # no try
    assert len(_told(town, winner.msisdn)) == 1
    (row,) = prizes.waiting_for(winner.id)
    assert row["attempts"] == 0 and row["next_try_ns"] > 0  # looked again in fifteen minutes

    town.send(winner, town.wallet("Kofi"), 60_000)  # room for it now: 133 800 held (a 200 F fee)
    held = town.balance(winner)
    assert held == 133_800
    _due_now(town)
    with ThreadPoolExecutor(2) as pool:  # two workers run the job at once: one payment, one message
        list(pool.map(lambda c: c.promotions.draws.prizes.retry_due(), containers))
    assert town.balance(winner) == held + PRIZE
    waiting, won = _told(town, winner.msisdn)
    assert won == (f"Félicitations ! Votre ticket {row['entry_id']} a gagné 50 000 F CFA au tirage de "
                   f"prize_draw test. Le prix est sur votre portefeuille. Référence : {draw_id}.w0.1.")
    assert prizes.waiting_for(winner.id) == []
    (ticket,) = [e for e in town.container.promotions.entries_of(winner.id) if e.id == row["entry_id"]]
    assert entry_text(translator("fr"), ticket) == f"Ticket {ticket.id} (prize_draw test) : gagnant !"
    with town.container.engine.connect() as connection:
        paid = connection.execute(select(rewards.c.movement_id, rewards.c.amount).where(
            rewards.c.customer_id == winner.id)).all()
    assert [tuple(r) for r in paid] == [(f"{draw_id}.w0.1", PRIZE)]
    assert_statement_adds_up(town, winner)
    assert assert_adds_up(town, campaign).spent == PRIZE
    assert prizes.retry_due() == 0  # nothing waits any more


def test_a_prize_the_wallet_never_had_room_for_goes_back_and_the_winner_is_told(town: Town) -> None:
    campaign, winner, draw_id = _full_winner(town)
    _due_now(town, until_ns=0)
    assert town.container.promotions.draws.prizes.retry_due() == 1
    _, returned = _told(town, winner.msisdn)
    assert returned == ("Votre prix de 50 000 F CFA au tirage de prize_draw test a attendu 30 jours sans que "
                        "votre portefeuille puisse le recevoir : il est retourné à la campagne. "
                        f"Référence : {draw_id}.w0.")
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.remaining) == (0, PRIZE)  # a live campaign: back in its budget
    assert town.balance(winner) == 194_000
    assert town.container.promotions.draws.prizes.retry_due() == 0


def test_a_prize_given_back_after_its_campaign_ended_returns_to_the_sponsor(town: Town) -> None:
    campaign, _, _ = _full_winner(town)
    town.container.promotions.campaigns.end(campaign.id)
    _due_now(town, until_ns=0)
    town.container.promotions.draws.prizes.retry_due()
    money = assert_adds_up(town, campaign)
    assert (money.budget, money.spent, money.remaining) == (0, 0, 0)  # all of it returned to the sponsor


def test_a_run_that_stopped_after_paying_is_finished_by_the_next_once(
        town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign, winner, draw_id = _full_winner(town)
    town.send(winner, town.wallet("Kofi"), 60_000)
    held = town.balance(winner)
    prizes = town.container.promotions.draws.prizes
    real = prizes.paid

    def crashed(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the database went away after the ledger paid")

    monkeypatch.setattr(prizes, "paid", crashed)
    _due_now(town)
    assert prizes.retry_due() == 1  # (logged: the prize is looked at again later, its claim kept)
    assert town.balance(winner) == held + PRIZE  # paid in the ledger, not yet recorded
    (claimed,) = prizes.waiting_for(winner.id)
    assert claimed["movement_id"] == f"{draw_id}.w0.1" and claimed["next_try_ns"] > 0
    monkeypatch.setattr(prizes, "paid", real)
    _due_now(town, until_ns=0)  # and its wait is over meanwhile: the claimed try wins, nothing goes back
    assert prizes.retry_due() == 1
    assert town.balance(winner) == held + PRIZE
    assert [m.split(".")[0] for m in _told(town, winner.msisdn)][1].startswith("Félicitations ! Votre ticket")
    assert len(_told(town, winner.msisdn)) == 2
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.remaining) == (PRIZE, 0)
    assert prizes.retry_due() == 0
    with town.container.engine.connect() as connection:
        (row,) = connection.execute(select(prizes_waiting)).mappings().all()
    assert (row["status"], row["movement_id"], row["attempts"]) == ("paid", f"{draw_id}.w0.1", 1)
