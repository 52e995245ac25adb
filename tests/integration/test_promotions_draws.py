"""Prize draws re-run by an independent implementation written here from the contract's words; codes
used once under races; the forecast of a budget's burn from the last days' payments."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from promotions_support import Town, assert_adds_up, assert_statement_adds_up, audited_containers
from sqlalchemy import select, update

from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.texts.promotions import verdict_text
from sika.chat.texts.statement import description
from sika.errors import SikaError
from sika.payments.schema import outbox
from sika.promotions import CampaignStateError, CodeRefused
from sika.promotions.codes import as_csv
from sika.promotions.schema import entries
from sika.wallet import Customer


@pytest.fixture
def containers(database_url: str) -> Iterator[list[Container]]:
    with audited_containers(database_url, 3) as built:
        yield built


@pytest.fixture
def town(containers: list[Container]) -> Town:
    return Town.open(containers[0])


def rerun(seed: str, entrant_ids: list[str], prizes: int) -> list[str]:
    """The contract's algorithm, written again: rank ids by HMAC-SHA256 keyed with the seed's bytes."""
    key = bytes.fromhex(seed)
    scored = [(hmac.new(key, entry.encode(), hashlib.sha256).hexdigest(), entry) for entry in entrant_ids]
    return [entry for _, entry in sorted(scored)][:prizes]


def test_a_draw_commits_then_reveals_winners_anyone_can_recompute(town: Town) -> None:
    campaign = town.campaign(
        "prize_draw", 10_000, rules={"prizes": [5_000, 3_000, 1_000], "operations": ["transfer"]}
    )
    payee = town.wallet("Payee")
    players = [town.wallet(f"Player {i}", 10_000) for i in range(12)]
    paid = [town.send(player, payee, 1_000) for player in players]
    (verdict,) = town.container.promotions.why(paid[0])
    ticket = "prize_draw test: this payment is a ticket for the draw."
    assert verdict_text(translator("en"), verdict) == ticket
    draws = town.container.promotions.draws
    committed = draws.commit(campaign.id)
    assert committed.seed is None and committed.winners is None and committed.entrants == 12
    assert assert_adds_up(town, campaign).reserved == 9_000  # the prizes are held from the start
    late = town.wallet("Late", 5_000)
    town.send(late, payee, 1_000)  # after the commitment: for the next draw
    published = draws.entrants(committed.id)
    assert len(published) == 12 and published == sorted(published)
    assert hashlib.sha256("\n".join(published).encode()).hexdigest() == committed.entrants_sha256

    revealed = draws.reveal(committed.id)
    assert revealed.seed is not None and revealed.winners is not None
    assert hashlib.sha256(bytes.fromhex(revealed.seed)).hexdigest() == committed.commitment
    assert list(revealed.winners) == rerun(revealed.seed, published, 3)
    assert draws.verify(committed.id) == []
    assert draws.reveal(committed.id) == revealed  # revealing again changes nothing
    owners = _owners(town, list(revealed.winners))
    for prize, winner in zip((5_000, 3_000, 1_000), revealed.winners, strict=True):
        assert town.balance(owners[winner]) == 10_000 - 1_000 + prize  # one entry each: three people won
        assert_statement_adds_up(town, owners[winner])  # a prize is a movement naming its winner
        items = town.container.statements.page(owners[winner], limit=10).items
        (prized,) = [item for item in items if item.amount == prize]
        assert description(translator("fr"), prized) == f"Gain offert par {campaign.name}"
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.reserved, money.remaining) == (9_000, 0, 1_000)
    with town.container.engine.connect() as connection:
        told = (
            connection.execute(select(outbox.c.msisdn).where(outbox.c.kind == "promo_prize_won"))
            .scalars()
            .all()
        )
    assert sorted(told) == sorted(owners[w].msisdn for w in revealed.winners)


def test_a_tampered_entrant_list_no_longer_verifies(town: Town) -> None:
    campaign = town.campaign("prize_draw", 1_000, rules={"prizes": [1_000], "operations": ["transfer"]})
    payee = town.wallet("Payee")
    for i in range(4):
        town.send(town.wallet(f"Player {i}", 5_000), payee, 1_000)
    draws = town.container.promotions.draws
    draw = draws.reveal(draws.commit(campaign.id).id)
    removed = next(e for e in draws.entrants(draw.id) if e not in (draw.winners or ()))
    with town.container.engine.begin() as connection:
        connection.execute(update(entries).where(entries.c.id == removed).values(draw_id=None))
    assert draws.verify(draw.id) == ["the entrant list does not hash to entrants_sha256"]


def test_prizes_without_enough_entries_go_back_and_a_thin_budget_cannot_commit(town: Town) -> None:
    campaign = town.campaign(
        "prize_draw", 9_000, rules={"prizes": [5_000, 3_000, 1_000], "operations": ["transfer"]}
    )
    payee = town.wallet("Payee")
    for i in range(2):
        town.send(town.wallet(f"Player {i}", 5_000), payee, 1_000)
    draws = town.container.promotions.draws
    draw = draws.reveal(draws.commit(campaign.id).id)
    assert draw.winners is not None and len(draw.winners) == 2
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.remaining) == (8_000, 1_000)  # the third prize came back
    with pytest.raises(CampaignStateError):
        draws.commit(campaign.id)  # 1 000 left cannot hold 9 000 of prizes
    assert draws.of_campaign(campaign.id) == [draw]


def test_a_code_is_used_by_one_customer_however_many_race_for_it(
    containers: list[Container], town: Town
) -> None:
    campaign = town.campaign(
        budget=5_000,
        rules={"percent": 5, "reward_max": 250, "operations": ["transfer"], "code_required": True},
    )
    batch, made = town.container.promotions.codes.generate(campaign.id, 3, prefix="rmd")
    assert all(code.startswith("RMD-") and len(code) == 15 for code in made)
    csv_text = as_csv(campaign, batch, made)
    assert csv_text.splitlines()[0] == "code,campaign,batch" and len(csv_text.splitlines()) == 4
    racers = [town.wallet(f"Racer {i}", 10_000) for i in range(8)]

    def redeem(i: int) -> str:
        container = containers[i % len(containers)]
        try:
            container.promotions.redeem(container.customers.get(racers[i].msisdn), made[0].lower())
        except CodeRefused as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(redeem, range(8)))
    assert sorted(outcomes) == ["code_used"] * 7 + ["ok"]
    winner = racers[outcomes.index("ok")]
    loser = racers[outcomes.index("code_used")]
    payee = town.wallet("Payee")
    assert town.send(winner, payee, 5_000).details.get("extras")  # the code opened the offer
    assert not town.send(loser, payee, 5_000).details.get("extras")
    with pytest.raises(SikaError) as again:
        town.container.promotions.redeem(winner, made[1])  # a second code of the same offer stays free
    assert again.value.code == "offer_claimed"
    assert assert_adds_up(town, campaign).spent == 250


def test_the_forecast_replays_recent_payments_through_the_rules(town: Town) -> None:
    ama, kofi = town.wallet("Ama", 200_000), town.wallet("Kofi")
    for amount in (1_000, 2_000, 10_000, 500):
        town.send(ama, kofi, amount)
    campaign = town.campaign(
        budget=300,
        start=False,
        rules={"percent": 10, "reward_max": 500, "operations": ["transfer"], "amount_min": 1_000},
    )
    forecast = town.container.promotions.forecast(campaign.id, days=7)
    assert (forecast.payments, forecast.rewarded, forecast.amount) == (4, 3, 100 + 200 + 500)
    assert forecast.daily_average == 800 // 7 and forecast.budget_left == 300
    assert forecast.runs_out_after_days == round(300 / (800 // 7), 1)
    assert forecast.runs_out_on is not None


def _owners(town: Town, winners: list[str]) -> dict[str, Customer]:
    with town.container.engine.connect() as connection:
        rows = connection.execute(
            select(entries.c.id, entries.c.customer_id).where(entries.c.id.in_(winners))
        ).all()
    return {row.id: town.container.customers.by_id(row.customer_id) for row in rows}
