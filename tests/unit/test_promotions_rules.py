"""Promotions' plain rules: what a campaign's rules accept, how a reward is computed, who is eligible
and why not, how offers stack, and the draw's algorithm on a fixed example."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sika.promotions import Campaign, CampaignKind, InvalidCampaign, Reason, Sponsor
from sika.promotions.drawing import commitment, entrants_sha256, verify, winners
from sika.promotions.eligibility import Customerish, Facts, Offer, When, choose, judge
from sika.promotions.model import State
from sika.promotions.rules import Operation, parse_rules

NOW = 1_800_000_000 * 10**9
DAY = 86_400 * 10**9


class Always(When):
    def __init__(self, *, open_: bool = True, ramadan: bool = True) -> None:
        self.open, self.ramadan = open_, ramadan

    def in_windows(self, campaign: Campaign, at: datetime) -> bool:
        return self.open

    def is_ramadan(self, campaign: Campaign, at: datetime) -> bool:
        return self.ramadan

    def country_of(self, city: str) -> str | None:
        return {"lome": "TG", "cotonou": "BJ"}.get(city)


def campaign(kind: str = "cashback", **rules: object) -> Campaign:
    parsed = parse_rules(
        CampaignKind(kind), rules or {"percent": 5, "reward_max": 250, "operations": ["transfer"]}
    )
    return Campaign(
        id="cp_000000000001",
        name="Test",
        kind=CampaignKind(kind),
        state=State.LIVE,
        sponsor=Sponsor("platform"),
        city="lome",
        planned=1_000,
        account_id=1,
        starts_at_ns=NOW - DAY,
        ends_at_ns=NOW + DAY,
        rules=parsed,
        created_at_ns=NOW - DAY,
        updated_at_ns=NOW - DAY,
    )


def facts(
    amount: int = 5_000,
    *,
    tier: int = 1,
    opened_days_ago: int = 100,
    country: str = "TG",
    operation: Operation = Operation.TRANSFER,
) -> Facts:
    return Facts(
        operation=operation,
        amount=amount,
        customer_id=7,
        now_ns=NOW,
        at=datetime.fromtimestamp(NOW / 1e9, UTC),
        read_customer=lambda: Customerish(
            tier=tier, opened_at_ns=NOW - opened_days_ago * DAY, country=country
        ),
    )


def test_rules_say_what_is_missing_or_wrong_in_one_sentence() -> None:
    cases = {
        (
            "cashback",
            '{"percent": 5, "operations": ["transfer"]}',
        ): "a cashback campaign needs rules.reward_max",
        ("cashback", '{"percent": 5.555, "reward_max": 1, "operations": ["bill"]}'): "at most two decimals",
        ("cashback", '{"percent": 5, "reward_max": 1, "operations": ["lottery"]}'): "rules.operations.0",
        ("ride_discount", '{"percent": 5, "amount": 100}'): "one of them",
        ("airtime_bonus", '{"percent": 5, "reward_max": 9, "operations": ["bill"]}'): "rewards airtime only",
        ("prize_draw", '{"prizes": [], "operations": ["transfer"]}'): "needs rules.prizes",
        ("referral", "{}"): "referrer_amount",
        (
            "cashback",
            '{"percent": 5, "reward_max": 1, "operations": ["transfer"], "tiers": [7]}',
        ): "KYC tiers",
        (
            "cashback",
            '{"percent": 5, "reward_max": 1, "operations": ["transfer"], "surprise": 1}',
        ): "surprise",
    }

    for (kind, raw), expected in cases.items():
        with pytest.raises(InvalidCampaign) as refused:
            parse_rules(CampaignKind(kind), json.loads(raw))
        assert expected in refused.value.message, (raw, refused.value.message)


@given(
    amount=st.integers(min_value=1, max_value=10**9),
    percent=st.integers(min_value=1, max_value=10_000),
    cap=st.integers(min_value=1, max_value=10**6),
)
def test_a_percent_reward_is_rounded_down_capped_and_never_a_float(
    amount: int, percent: int, cap: int
) -> None:
    rules = parse_rules(
        CampaignKind.CASHBACK, {"percent": percent / 100, "reward_max": cap, "operations": ["bill"]}
    )
    reward = rules.reward(amount)
    assert isinstance(reward, int) and 0 <= reward <= cap
    assert reward == min(amount * percent // 10_000, cap)


def test_the_first_reason_that_stands_in_the_way_is_given() -> None:
    c = campaign(
        percent=5,
        reward_max=250,
        operations=["transfer"],
        amount_min=1_000,
        tiers=[1, 2],
        new_customers_days=30,
        cities=["lome"],
        ramadan_only=True,
        windows=[{"start": "maghrib", "end": "isha"}],
    )
    ok = Always()
    assert judge(c, facts(500), ok, claimed=lambda: True) is Reason.AMOUNT_BELOW_MIN
    assert judge(c, facts(tier=0), ok, claimed=lambda: True) is Reason.TIER
    assert judge(c, facts(opened_days_ago=31), ok, claimed=lambda: True) is Reason.NOT_NEW
    assert judge(c, facts(opened_days_ago=1, country="BJ"), ok, claimed=lambda: True) is Reason.CITY
    assert (
        judge(c, facts(opened_days_ago=1), Always(ramadan=False), claimed=lambda: True) is Reason.NOT_RAMADAN
    )
    assert (
        judge(c, facts(opened_days_ago=1), Always(open_=False), claimed=lambda: True) is Reason.OUTSIDE_WINDOW
    )
    assert judge(c, facts(opened_days_ago=1), ok, claimed=lambda: True) == Offer(c, 250)
    assert (
        judge(c, facts(opened_days_ago=1, operation=Operation.BILL), ok, claimed=lambda: True)
        is Reason.NOT_RUNNING
    )
    coded = campaign(percent=5, reward_max=250, operations=["transfer"], code_required=True)
    assert judge(coded, facts(), ok, claimed=lambda: False) is Reason.CODE_REQUIRED
    assert (
        judge(campaign(percent=1, reward_max=9, operations=["transfer"]), facts(50), ok, claimed=lambda: True)
        is Reason.TOO_SMALL
    )
    paused = replace(c, state=State.PAUSED)
    assert judge(paused, facts(opened_days_ago=1), ok, claimed=lambda: True) is Reason.NOT_RUNNING


def test_exclusive_offers_keep_the_best_and_additive_ones_and_entries_always_stack() -> None:
    a = Offer(replace(campaign(), id="cp_a"), 100)
    b = Offer(replace(campaign(), id="cp_b"), 300)
    plus = Offer(
        replace(campaign(percent=1, reward_max=5, operations=["transfer"], stacking="additive"), id="cp_c"), 5
    )
    ticket = Offer(replace(campaign("prize_draw", prizes=[1], operations=["transfer"]), id="cp_d"), 0)
    kept, lost = choose([a, b, plus, ticket])
    assert kept == [b, plus, ticket] and lost == [a]


def test_the_draw_algorithm_on_a_fixed_example() -> None:
    seed = "00" * 31 + "01"
    ids = ["en_a", "en_b", "en_c", "en_d"]
    assert commitment(seed) == hashlib.sha256(bytes(31) + b"\x01").hexdigest()
    assert entrants_sha256(ids) == hashlib.sha256(b"en_a\nen_b\nen_c\nen_d").hexdigest()
    first_two = winners(seed, ids, 2)
    assert (
        len(first_two) == 2 and set(first_two) <= set(ids) and winners(seed, ids, 9) == winners(seed, ids, 4)
    )
    assert (
        verify(
            seed=seed,
            commitment_hex=commitment(seed),
            entry_ids=ids,
            entrants_hex=entrants_sha256(ids),
            prizes=2,
            published_winners=first_two,
        )
        == []
    )
    assert verify(
        seed="zz", commitment_hex="", entry_ids=ids, entrants_hex="", prizes=2, published_winners=[]
    ) == ["the seed is not hexadecimal"]
