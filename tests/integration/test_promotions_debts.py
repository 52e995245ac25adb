"""Owed clawbacks collected: a refund whose clawback the wallet could not pay leaves the reward owed,
and the customer's next rewards of the same campaign keep it back (docs/promotions.md). Checked from
what the customer sees (wallet, receipt, statement, "My rewards", "why"), from the campaign's figures
and from the ledger's audit; retries and concurrent payments never keep the same franc twice."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from promotions_support import Town, assert_adds_up, assert_statement_adds_up, audited_containers

from sika.api.auth import Caller
from sika.api.payments import transfer_out
from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.texts.promotions import receipt_reward_lines, reward_lines, reward_text, verdict_text
from sika.chat.texts.statement import history_line
from sika.payments import Merchant, Movement, Status, crashpoints, new_movement_id
from sika.payments.hooks import Additions, Draft, receipt_params
from sika.promotions import Campaign
from sika.promotions.debts import meter_key
from sika.promotions.eligibility import Reason
from sika.promotions.followups import _OWED
from sika.promotions.schema import rewards
from sika.wallet import Customer

_RULES = {"percent": 10, "reward_max": 1_000, "operations": ["merchant"]}


@pytest.fixture
def containers(database_url: str) -> Iterator[list[Container]]:
    """Two containers on one database, as two processes would have; audited at the end."""
    with audited_containers(database_url, 2) as built:
        yield built


@pytest.fixture
def town(containers: list[Container]) -> Town:
    return Town.open(containers[0])


@contextlib.contextmanager
def wallet_cannot_pay_back(container: Container) -> Iterator[None]:
    """Refunds' clawbacks refused by the ledger, as when the wallet cannot pay the reward back: each
    clawback leg asks more than any wallet holds (what it means, ``taken``, is left as it was)."""
    grants = container.promotions.grants
    plain = grants.extras

    def extras(draft: Draft) -> Additions:
        added = plain(draft)
        if "clawbacks" not in added.notes:
            return added
        refused = tuple(replace(extra, legs=tuple(replace(leg, amount=10**15) for leg in extra.legs))
                        for extra in added.extras)
        return Additions(refused, added.notes)

    grants.extras = extras  # type: ignore[method-assign]
    try:
        yield
    finally:
        del grants.extras


def owing(town: Town, campaign: Campaign, merchant: Merchant, customer: Customer) -> int:
    """The customer pays 8,000 (a reward of 800), then half is refunded and the clawback (400) cannot
    be taken: the reward's row id, owed 400."""
    payments = town.container.payments
    paid = payments.merchant_payment(new_movement_id(), merchant, customer, 8_000)
    assert paid.details["extras"][f"c{campaign.id[3:]}"]["amount"] == 800
    with wallet_cannot_pay_back(town.container):
        refund = payments.merchant_refund(new_movement_id(), merchant, paid.id, 4_000)
    assert refund.status is Status.COMPLETED and f"k{campaign.id[3:]}" in refund.details["dropped"]
    (line,) = town.container.promotions.rewards_of(customer.id)
    assert (line.amount, line.status, line.owed, line.clawed_back) == (800, "owed", 400, 0)
    with town.container.engine.connect() as connection:
        return int(connection.execute(rewards.select().where(rewards.c.movement_id == paid.id)).one().id)


def owed_row(town: Town, reward_id: int) -> tuple[str, int, int]:
    with town.container.engine.connect() as connection:
        row = connection.execute(rewards.select().where(rewards.c.id == reward_id)).one()
    return row.status, int(row.owed), int(row.collected)


def withheld(movement: Movement) -> int:
    return sum(int(info.get("withheld") or 0) for info in (movement.details.get("extras") or {}).values())


def test_an_owed_clawback_is_kept_back_from_the_next_rewards_of_the_campaign(town: Town) -> None:
    merchant = town.merchant()
    campaign = town.campaign(budget=5_000, rules=_RULES, name="Ramadan")
    ama = town.wallet("Ama", 20_000)
    owed_id = owing(town, campaign, merchant, ama)
    assert town.balance(ama) == 20_000 - 8_000 + 800 + 4_000  # the 400 could not be taken back
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.clawed_back, money.remaining) == (800, 0, 4_200)
    payments = town.container.payments

    # A reward of 250, all kept back: nothing comes into the wallet, 150 still owed.
    second = payments.merchant_payment(new_movement_id(), merchant, ama, 2_500)
    assert town.balance(ama) == 16_800 - 2_500
    assert owed_row(town, owed_id) == ("owed", 150, 250)
    en = translator("en")
    assert reward_lines(en, second) == [
        "Reward: 0 F CFA (Ramadan), after 250 F CFA kept back for a reward owed after a refund."]
    reward = transfer_out(second, Caller(None, customer_id=ama.id)).reward  # as Ama sees it
    assert reward is not None and (reward.amount, reward.withheld) == (0, 250)

    # A reward of 300: 150 kept back (the rest of what was owed), 150 paid; the owed reward is settled.
    third = payments.merchant_payment(new_movement_id(), merchant, ama, 3_000)
    assert town.balance(ama) == 16_800 - 2_500 - 3_000 + 150
    assert owed_row(town, owed_id) == ("settled", 0, 400)
    assert withheld(third) == 150
    params = receipt_params(third)
    assert (params["reward"], params["reward_withheld"]) == (150, 150)
    assert receipt_reward_lines(en, params) == [
        "Reward: 150 F CFA (Ramadan), after 150 F CFA kept back for a reward owed after a refund."]
    reward = transfer_out(third, Caller(None, customer_id=ama.id)).reward
    assert reward is not None and (reward.amount, reward.withheld) == (150, 150)
    (why,) = town.container.promotions.why(third)
    assert verdict_text(en, why) == (
        "Ramadan: you earned 300 F CFA, of which 150 F CFA was kept back for a reward owed after a refund.")

    # The statement says what came into the wallet, and adds up to the balance.
    assert_statement_adds_up(town, ama)
    newest, middle = town.container.statements.page(ama, limit=2).items
    assert (newest.amount, newest.reward, middle.amount, middle.reward) == (-2_850, 150, -2_500, 0)
    assert history_line(en, newest).endswith("Payment to Assigame Market (with a reward of 150 F CFA)")

    # "My rewards": the reward earned and what of it was kept back; the owed one taken back in full.
    lines = [reward_text(en, line).split(": ", 1)[1] for line in town.container.promotions.rewards_of(ama.id)]
    assert lines == [
        "300 F CFA cashback (Ramadan), of which 150 F CFA was kept back for a reward owed after a refund",
        "250 F CFA cashback (Ramadan), of which 250 F CFA was kept back for a reward owed after a refund",
        "800 F CFA cashback (Ramadan), taken back after a refund: 400 F CFA",
    ]

    # The campaign paid 800 + 0 + 150: the 400 owed never left its budget.
    money = assert_adds_up(town, campaign)
    assert (money.budget, money.spent, money.clawed_back, money.remaining) == (5_000, 950, 0, 4_050)
    meter = town.container.promotions.grants.meters.used(meter_key(campaign.id, owed_id))
    assert meter == 400

    # Nothing more is kept back once it is settled.
    fourth = payments.merchant_payment(new_movement_id(), merchant, ama, 1_000)
    assert withheld(fourth) == 0 and fourth.details["extras"][f"c{campaign.id[3:]}"]["amount"] == 100
    assert_adds_up(town, campaign)


def test_a_retried_payment_keeps_back_nothing_twice(town: Town) -> None:
    merchant = town.merchant()
    campaign = town.campaign(budget=5_000, rules=_RULES)
    ama = town.wallet("Ama", 20_000)
    owed_id = owing(town, campaign, merchant, ama)
    payments = town.container.payments
    movement_id = new_movement_id()

    def crash(step: str) -> None:
        if step == "ledger_committed":
            raise crashpoints.ProcessCrash(step)

    # The process dies once the ledger has the legs, before the outcome is written; the client retries
    # with the same id (twice), as it would after a timeout.
    with crashpoints.installed(crash), contextlib.suppress(crashpoints.ProcessCrash):
        payments.merchant_payment(movement_id, merchant, ama, 2_000)
    first = payments.merchant_payment(movement_id, merchant, ama, 2_000)
    again = payments.merchant_payment(movement_id, merchant, ama, 2_000)
    assert first.status is again.status is Status.COMPLETED
    assert withheld(first) == withheld(again) == 200
    assert owed_row(town, owed_id) == ("owed", 200, 200)
    assert town.balance(ama) == 20_000 - 8_000 + 800 + 4_000 - 2_000  # the 200 earned all kept back
    assert town.container.promotions.grants.meters.used(meter_key(campaign.id, owed_id)) == 200
    assert_statement_adds_up(town, ama)
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.remaining) == (800, 4_200)


def test_concurrent_payments_never_keep_back_more_than_is_owed(
    containers: list[Container], town: Town
) -> None:
    merchant = town.merchant()
    campaign = town.campaign(budget=50_000, rules=_RULES)
    ama = town.wallet("Ama", 100_000)
    owed_id = owing(town, campaign, merchant, ama)

    def pay(i: int) -> Movement:
        container = containers[i % len(containers)]
        payer = container.customers.get(ama.msisdn)
        return container.payments.merchant_payment(new_movement_id(), merchant, payer, 1_500)  # 150 each

    with ThreadPoolExecutor(max_workers=6) as pool:
        paid = list(pool.map(pay, range(6)))
    assert [m.status for m in paid] == [Status.COMPLETED] * 6  # no payment fails because of a debt
    kept = sum(withheld(m) for m in paid)
    status, owed, collected = owed_row(town, owed_id)
    assert kept == collected <= 400 and owed == 400 - collected
    assert status == ("settled" if owed == 0 else "owed")
    assert town.container.promotions.grants.meters.used(meter_key(campaign.id, owed_id)) == collected
    infos = [info for m in paid for info in (m.details.get("extras") or {}).values()]
    # A payment whose reward planned to keep back francs another payment kept a moment before goes on
    # without that reward (its meter refuses the group): never does it keep them twice.
    refused = [m for m in paid if "extras" not in m.details]
    assert all(m.details["dropped"][f"c{campaign.id[3:]}"][1] == "exceeds_balance_max" for m in refused)
    for late in refused:  # and "why no reward?" says what happened, not "limit reached"
        (verdict,) = town.container.promotions.why(late)
        assert verdict.reason is Reason.OWED_TAKEN
        assert verdict_text(translator("en"), verdict) == (
            f"{campaign.name}: another payment at the same moment kept back the reward you owe, so this "
            "one earned nothing.")
    assert [int(i["amount"]) + int(i.get("withheld") or 0) for i in infos] == [150] * (6 - len(refused))
    received = sum(int(i["amount"]) for i in infos)
    assert town.balance(ama) == 100_000 - 8_000 + 800 + 4_000 - 6 * 1_500 + received
    assert_statement_adds_up(town, ama)
    money = assert_adds_up(town, campaign)
    assert money.spent == 800 + received


def test_another_campaign_s_rewards_do_not_settle_what_is_owed(town: Town) -> None:
    merchant = town.merchant()
    campaign = town.campaign(budget=5_000, rules=_RULES)
    ama = town.wallet("Ama", 20_000)
    owed_id = owing(town, campaign, merchant, ama)
    town.container.promotions.campaigns.pause(campaign.id)
    other = town.campaign(budget=5_000, rules=_RULES, name="Other sponsor")
    paid = town.container.payments.merchant_payment(new_movement_id(), merchant, ama, 2_000)
    assert paid.details["extras"][f"c{other.id[3:]}"]["amount"] == 200 and withheld(paid) == 0
    assert owed_row(town, owed_id) == ("owed", 400, 0)
    assert_adds_up(town, other)
    assert_adds_up(town, campaign)


def test_a_reward_owed_more_after_its_meter_opened_is_collected_whole(town: Town) -> None:
    """Two refunds of one payment planned while its reward was still paid, the second recorded after a
    later reward had started collecting the first's debt: the owed row grows past the cap its meter
    was opened with. The meter's cap follows, and the whole debt is collected."""
    merchant = town.merchant()
    campaign = town.campaign(budget=5_000, rules=_RULES, name="Ramadan")
    ama = town.wallet("Ama", 20_000)
    owed_id = owing(town, campaign, merchant, ama)
    payments = town.container.payments
    payments.merchant_payment(new_movement_id(), merchant, ama, 2_500)  # 250 kept back: the meter opens
    assert owed_row(town, owed_id) == ("owed", 150, 250)
    # The second refund's clawback, refused as the first was, recorded now (as followups.record does).
    with town.container.engine.begin() as connection:
        _OWED.execute(connection, {"reward_id": owed_id, "taken": 200, "now_ns": 1})
    assert owed_row(town, owed_id) == ("owed", 350, 250)
    before = town.balance(ama)
    fourth = payments.merchant_payment(new_movement_id(), merchant, ama, 10_000)  # a reward of 1,000
    assert withheld(fourth) == 350  # all that is owed, not the 150 left under the meter's first cap
    assert owed_row(town, owed_id) == ("settled", 0, 600)
    assert town.balance(ama) == before - 10_000 + 1_000 - 350
    assert_adds_up(town, campaign)


def test_downgrading_0022_keeps_what_was_collected_as_taken_back(town: Town) -> None:
    """Back at 0021 (which knows no collection): a settled debt reads as taken back whole, a reward that
    kept part back as what it paid, and one kept back whole as no reward; the CHECKs all hold."""
    from alembic import command

    from sika.migration import _config, upgrade

    merchant = town.merchant()
    campaign = town.campaign(budget=5_000, rules=_RULES, name="Ramadan")
    ama = town.wallet("Ama", 20_000)
    owed_id = owing(town, campaign, merchant, ama)
    payments = town.container.payments
    whole = payments.merchant_payment(new_movement_id(), merchant, ama, 2_000)  # 200 kept back whole
    part = payments.merchant_payment(new_movement_id(), merchant, ama, 2_500)  # 200 of 250 kept back
    assert owed_row(town, owed_id) == ("settled", 0, 400)
    engine = town.container.engine
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0021_conversation_days")
    with engine.connect() as connection:
        rows = {row.movement_id: row for row in connection.execute(
            rewards.select().with_only_columns(rewards.c.movement_id, rewards.c.id, rewards.c.amount,
                                               rewards.c.status, rewards.c.clawed_back))}
    owed = next(row for row in rows.values() if row.id == owed_id)
    assert (owed.status, owed.clawed_back) == ("clawed_back", 400)
    assert whole.id not in rows
    assert rows[part.id].amount == 50
    upgrade(engine)  # and back to head, for the audit at the end
