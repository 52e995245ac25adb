"""Campaign money: budgets funded from the sponsor, rewards paid in the earning payment's own chain,
never more than the budget (even under concurrent payments), returned at the end, clawed back on
refunds, reserved with held purchases. Each test ends with the budget identity and a clean audit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from promotions_support import Town, assert_adds_up, assert_statement_adds_up, audited_containers

from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.texts.statement import history_line
from sika.errors import SikaError
from sika.payments import Kind, Status, new_movement_id
from sika.payments.hooks import Additions, Draft
from sika.promotions import CampaignStateError, Reason
from sika.promotions.schema import rewards
from sika.rides.geo import Point
from sika_fakes.local import LocalFakes


@pytest.fixture
def containers(database_url: str) -> Iterator[list[Container]]:
    """Three containers on one database, as three processes would have; audited at the end."""
    with audited_containers(database_url, 3) as built:
        yield built


@pytest.fixture
def town(containers: list[Container]) -> Town:
    return Town.open(containers[0])


def test_a_cashback_pays_each_transfer_from_the_budget_then_transfers_go_on_without_it(town: Town) -> None:
    campaign = town.campaign(budget=1_000)  # 5 %, at most 250 a payment
    ama, kofi = town.wallet("Ama", 100_000), town.wallet("Kofi")
    assert town.money(campaign).budget == 1_000 and town.money(campaign).funded == 1_000  # start funded it
    sent = [town.send(ama, kofi, 5_000) for _ in range(6)]
    assert [m.status for m in sent] == [Status.COMPLETED] * 6
    assert [m.details.get("extras", {}) != {} for m in sent] == [True] * 4 + [False] * 2
    assert town.balance(ama) == 100_000 - 6 * 5_000 + 4 * 250
    assert town.balance(kofi) == 30_000
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.reserved, money.remaining) == (1_000, 0, 0)
    why = town.container.promotions.why(sent[-1])
    assert [(v.campaign.id, v.reason) for v in why] == [(campaign.id, Reason.BUDGET_EXHAUSTED)]
    assert town.container.promotions.campaigns.view(campaign.id).rewards == 4


def test_concurrent_transfers_from_several_processes_never_overspend(
    containers: list[Container], town: Town
) -> None:
    campaign = town.campaign(budget=2_000)  # eight rewards of 250
    payers = [town.wallet(f"Payer {i}", 50_000) for i in range(8)]
    payee = town.wallet("Payee")

    def pay(i: int) -> Status:
        container = containers[i % len(containers)]
        payer = container.customers.get(payers[i % len(payers)].msisdn)
        return container.payments.transfer(new_movement_id(), payer, payee.msisdn, 5_000).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(pay, range(40)))
    assert statuses == [Status.COMPLETED] * 40  # no payment failed because the budget ran out
    money = assert_adds_up(town, campaign)
    assert (money.budget, money.spent, money.remaining) == (2_000, 2_000, 0)
    with town.container.engine.connect() as connection:
        paid = connection.execute(rewards.select().where(rewards.c.campaign_id == campaign.id)).all()
    assert len(paid) == 8 and sum(r.amount for r in paid) == 2_000
    assert sum(town.balance(p) for p in payers) == 8 * 50_000 - 40 * 5_000 + 2_000
    assert town.balance(payee) == 40 * 5_000


def test_funding_is_a_real_transfer_and_ending_returns_the_unspent_budget_to_the_sponsor(town: Town) -> None:
    merchant = town.merchant(cash=50_000)
    before = town.container.ledger.get_account(merchant.account_id).balance
    campaign = town.campaign(budget=0, start=False, sponsor=f"merchant:{merchant.id}")
    promotions = town.container.promotions.campaigns
    promotions.fund(campaign.id, 3_000, key="fund-1")
    promotions.fund(campaign.id, 3_000, key="fund-1")  # the same key moves it once
    assert town.container.ledger.get_account(merchant.account_id).balance == before - 3_000
    with pytest.raises(SikaError) as refused:
        promotions.fund(campaign.id, 10**9, key="fund-2")
    assert refused.value.code == "insufficient_funds"
    promotions.start(campaign.id)
    ama, kofi = town.wallet("Ama", 20_000), town.wallet("Kofi")
    town.send(ama, kofi, 5_000)
    ended = promotions.end(campaign.id)
    assert ended.status.value == "ended"
    assert (ended.money.budget, ended.money.spent, ended.money.remaining, ended.money.returned) == (
        250,
        250,
        0,
        2_750,
    )
    assert town.container.ledger.get_account(merchant.account_id).balance == before - 250
    assert town.send(ama, kofi, 5_000).details.get("extras") is None  # ended: nothing more
    with pytest.raises(CampaignStateError):
        promotions.start(campaign.id)
    assert_adds_up(town, campaign)


def test_a_refund_claws_the_reward_back_into_the_budget(town: Town) -> None:
    merchant = town.merchant()
    campaign = town.campaign(
        budget=5_000, rules={"percent": 10, "reward_max": 1_000, "operations": ["merchant"]}
    )
    ama = town.wallet("Ama", 20_000)
    payments = town.container.payments
    paid = payments.merchant_payment(new_movement_id(), merchant, ama, 8_000)
    assert paid.details["extras"][f"c{campaign.id[3:]}"]["amount"] == 800
    assert town.balance(ama) == 20_000 - 8_000 + 800
    payments.merchant_refund(new_movement_id(), merchant, paid.id, 4_000)  # half: half the reward back
    assert town.balance(ama) == 20_000 - 8_000 + 800 + 4_000 - 400
    assert_statement_adds_up(town, ama)
    refund, payment = town.container.statements.page(ama, limit=2).items  # newest first
    assert (payment.amount, payment.reward, refund.amount, refund.reward) == (-7_200, 800, 3_600, -400)
    assert history_line(translator("en"), refund).endswith(
        "Refund from Assigame Market (less 400 F CFA: a reward taken back)")
    assert history_line(translator("en"), payment).endswith(
        "Payment to Assigame Market (with a reward of 800 F CFA)")
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.clawed_back, money.remaining) == (400, 400, 4_600)
    (line,) = town.container.promotions.rewards_of(ama.id)
    assert (line.amount, line.clawed_back, line.status) == (800, 400, "clawed_back")


def test_a_held_purchase_reserves_its_reward_and_the_reward_follows_the_holds_fate(town: Town) -> None:
    campaign = town.campaign(
        budget=5_000, rules={"percent": 10, "reward_max": 1_000, "operations": ["airtime"]}
    )
    ama = town.wallet("Ama", 50_000)
    purchases = town.container.purchases
    silent = purchases.buy(
        new_movement_id(),
        ama,
        provider="togocom",
        product="airtime",
        reference="+22890000002",
        amount=2_000,
    )
    assert silent.status is Status.PENDING
    assert (assert_adds_up(town, campaign).reserved, town.money(campaign).remaining) == (200, 4_800)
    town.container.payments.settle(silent.id, success=False, error_code="provider_timeout")
    assert (assert_adds_up(town, campaign).reserved, town.money(campaign).remaining) == (0, 5_000)
    declined = purchases.buy(
        new_movement_id(),
        ama,
        provider="togocom",
        product="airtime",
        reference="+22890000001",
        amount=2_000,
    )
    assert declined.status is Status.FAILED and town.money(campaign).remaining == 5_000
    bought = purchases.buy(
        new_movement_id(), ama, provider="togocom", product="airtime", reference=ama.msisdn, amount=3_000
    )
    assert bought.status is Status.COMPLETED
    money = assert_adds_up(town, campaign)
    assert (money.spent, money.reserved, money.remaining) == (300, 0, 4_700)
    assert town.balance(ama) == 50_000 - 3_000 - bought.fee + 300


def test_an_airtime_bonus_is_delivered_by_the_provider_and_paid_for_by_the_budget(town: Town) -> None:
    campaign = town.campaign("airtime_bonus", 5_000, rules={"percent": 20, "reward_max": 500})
    ama = town.wallet("Ama", 50_000)
    purchases = town.container.purchases
    provider_account = town.container.payments.accounts.provider("togocom")
    before = town.container.ledger.get_account(provider_account).balance
    bought = purchases.buy(
        new_movement_id(), ama, provider="togocom", product="airtime", reference=ama.msisdn, amount=1_000
    )
    assert bought.status is Status.COMPLETED
    fakes = purchases.providers.find_owned(LocalFakes)
    assert fakes is not None
    (delivered,) = fakes.africastalking.sent.values()
    assert (delivered.phone, delivered.amount) == (
        ama.msisdn,
        1_200,
    )  # the customer's 1 000 and the campaign's 200
    assert town.container.ledger.get_account(provider_account).balance == before + 1_200
    assert town.balance(ama) == 50_000 - 1_000 - bought.fee
    assert assert_adds_up(town, campaign).spent == 200


def test_a_cap_per_customer_holds_under_concurrent_payments(containers: list[Container], town: Town) -> None:
    campaign = town.campaign(
        budget=100_000,
        rules={"percent": 5, "reward_max": 250, "operations": ["transfer"], "per_customer_count_max": 2},
    )
    ama, kofi = town.wallet("Ama", 100_000), town.wallet("Kofi")

    def pay(i: int) -> Status:
        container = containers[i % len(containers)]
        return container.payments.transfer(
            new_movement_id(), container.customers.get(ama.msisdn), kofi.msisdn, 5_000
        ).status

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(pay, range(12))) == [Status.COMPLETED] * 12
    money = assert_adds_up(town, campaign)
    assert money.spent == 500 and town.balance(ama) == 100_000 - 12 * 5_000 + 500
    late = town.send(ama, kofi, 5_000)
    assert [v.reason for v in town.container.promotions.why(late)] == [Reason.CAP_REACHED]


def test_exclusive_offers_pay_the_best_one_and_additive_ones_add_up(town: Town) -> None:
    small = town.campaign(name="Small", rules={"percent": 1, "reward_max": 1_000, "operations": ["transfer"]})
    big = town.campaign(name="Big", rules={"percent": 3, "reward_max": 1_000, "operations": ["transfer"]})
    extra = town.campaign(
        name="Extra",
        rules={"percent": 2, "reward_max": 1_000, "operations": ["transfer"], "stacking": "additive"},
    )
    ama, kofi = town.wallet("Ama", 50_000), town.wallet("Kofi")
    sent = town.send(ama, kofi, 10_000)
    assert town.balance(ama) == 50_000 - 10_000 - sent.fee + 300 + 200
    verdicts = {v.campaign.name: (v.reason, v.amount) for v in town.container.promotions.why(sent)}
    assert verdicts == {"Big": (None, 300), "Extra": (None, 200), "Small": (Reason.BETTER_OFFER, 0)}
    for campaign in (small, big, extra):
        assert_adds_up(town, campaign)


def test_a_referral_rewards_both_sides_after_the_newcomers_first_payment_only(town: Town) -> None:
    campaign = town.campaign("referral", 5_000, rules={"referrer_amount": 500, "referee_amount": 300})
    akosua, yaw, kofi = town.wallet("Akosua"), town.wallet("Yaw", 20_000), town.wallet("Kofi")
    promotions = town.container.promotions
    assert promotions.redeem(yaw, akosua.msisdn).id == campaign.id
    with pytest.raises(SikaError) as twice:
        promotions.redeem(yaw, kofi.msisdn)
    assert twice.value.code == "referred_already"
    with pytest.raises(SikaError) as self_referral:
        promotions.redeem(akosua, akosua.msisdn)
    assert self_referral.value.code == "self_referral"
    town.send(yaw, kofi, 2_000)
    town.send(yaw, kofi, 2_000)
    assert (town.balance(akosua), promotions.referrals.pay_due(), promotions.referrals.pay_due()) == (0, 1, 0)
    assert (town.balance(akosua), town.balance(yaw)) == (500, 20_000 - 4_000 + 300)
    for person in (akosua, yaw, kofi):
        assert_statement_adds_up(town, person)
    assert assert_adds_up(town, campaign).spent == 800
    with pytest.raises(SikaError) as paid_already:
        promotions.redeem(yaw, kofi.msisdn)
    assert paid_already.value.code in ("referred_already", "not_new")


def test_a_ride_discount_is_paid_back_with_the_fare_of_a_wallet_ride(town: Town) -> None:
    rides = town.container.rides
    assert rides is not None
    campaign = town.campaign(
        "ride_discount", 5_000, rules={"percent": 10, "reward_max": 1_000, "cities": ["lome"]}
    )
    pickup, dropoff = Point(6.1319, 1.2228), Point(6.1725, 1.2145)
    kofi = rides.onboard(town.wallet("Kofi"), city_id="lome", vehicle_type="moto", plate="TG-7001-AA")
    rides.set_documents(kofi.id, "approved")
    rides.update_location(kofi.id, Point(6.1330, 1.2240))
    rides.set_online(kofi.id, online=True)
    ama = town.wallet("Ama", 20_000)
    trip = rides.request(
        "trip-promo-1",
        ama,
        city_id="lome",
        vehicle_type="moto",
        pickup=pickup,
        dropoff=dropoff,
        payment_method="wallet",
    )
    assert town.money(campaign).reserved == 0  # the hold earns nothing: the fare will
    rides.accept(kofi.id, trip.id)
    rides.arrive(kofi.id, trip.id)
    rides.start(kofi.id, trip.id)
    rides.complete(kofi.id, trip.id)
    fare = rides.trip(trip.id).final_fare
    assert fare is not None
    assert town.balance(ama) == 20_000 - fare + fare // 10
    assert assert_adds_up(town, campaign).spent == fare // 10
    (line,) = town.container.promotions.rewards_of(ama.id)
    assert (line.kind, line.amount) == ("ride_discount", fare // 10)
    # The rider's statement shows the ride with its discount, and still adds up to the balance.
    assert_statement_adds_up(town, ama)
    ride_item = town.container.statements.page(ama, limit=1).items[0]
    assert (ride_item.kind, ride_item.amount, ride_item.reward) == ("ride", -fare + fare // 10, fare // 10)


def test_a_bundle_takes_no_airtime_bonus_and_the_cashback_it_would_have_beaten_pays(town: Town) -> None:
    bonus = town.campaign("airtime_bonus", 5_000, rules={"percent": 20, "reward_max": 500})
    cashback = town.campaign(budget=5_000, rules={"percent": 5, "reward_max": 250, "operations": ["airtime"]})
    ama = town.wallet("Ama", 50_000)
    grants = town.container.promotions.grants

    def offered(product: str) -> Additions:
        return grants.extras(Draft(
            id=new_movement_id(), kind=Kind.AIRTIME, amount=1_000, fee=0, legs=(), details={},
            payer_customer_id=ama.id, payee_customer_id=None, merchant_id=None, provider="togocom",
            product=product, now_ns=time.time_ns()))

    bundle = offered("data:J1GO")  # a fixed-price bundle: the bonus is no offer here
    assert [e.info["campaign"] for e in bundle.extras] == [cashback.id]
    assert bonus.id not in bundle.notes.get("promotions", {})
    airtime = offered("airtime")  # airtime of any amount: the bonus (200) beats the cashback (50)
    assert [e.info["campaign"] for e in airtime.extras] == [bonus.id]
    assert airtime.notes["promotions"] == {cashback.id: "better_offer"}
