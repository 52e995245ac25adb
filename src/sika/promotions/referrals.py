"""Referrals: a new customer names who brought them (the referrer's number); both are rewarded by a
live referral campaign once the newcomer makes a first qualifying payment.

The newcomer's reward moves in that payment's own chain (sika.promotions.grants, with a meter that pays
each newcomer once); the referral is then ``due``, and the referrer is paid by a movement of their own
(:meth:`Referrals.pay_due`, the ``referral-payouts`` job, every few seconds), so that the money appears in the
referrer's statement as a movement naming them. Its id derives from the referral: paid once. A budget
empty by then leaves the referral ``unpaid``.

Only a wallet that has paid nothing yet can be referred, once, by someone else.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from sika import phones
from sika.payments import Kind, Movements, Status
from sika.payments.movements import Code, Leg, Role
from sika.payments.schema import movements
from sika.promotions.errors import CodeRefused
from sika.promotions.model import Campaign
from sika.promotions.rules import CampaignKind
from sika.promotions.schema import referrals, rewards
from sika.promotions.store import CampaignStore
from sika.wallet import Customer, Customers

__all__ = ["PAY_SWEEP_MAX", "Referrals"]

PAY_SWEEP_MAX = 100


class Referrals:
    def __init__(
        self,
        engine: Engine,
        store: CampaignStore,
        customers: Customers,
        movements: Movements,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self._store = store
        self._customers = customers
        self._movements = movements
        self._clock_ns = clock_ns

    def refer(self, referee: Customer, referrer_number: str) -> Campaign:
        now = self._clock_ns()
        campaign = next(
            (c for c in self._store.live() if c.kind is CampaignKind.REFERRAL and c.running(now)), None
        )
        if campaign is None:
            raise CodeRefused("no referral offer runs now", code="no_referral_offer")
        referrer = self._customers.find(phones.normalize(referrer_number))
        if referrer is None:
            raise CodeRefused("this number has no Sika wallet", code="unknown_referrer")
        if referrer.id == referee.id:
            raise CodeRefused("you cannot refer yourself", code="self_referral")
        with self._engine.connect() as connection:
            paid = connection.execute(
                select(movements.c.id)
                .where(
                    movements.c.payer_customer_id == referee.id,
                    movements.c.status == str(Status.COMPLETED),
                )
                .limit(1)
            ).first()
        if paid is not None:
            raise CodeRefused("a referral is for a new wallet, before its first payment", code="not_new")
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(referrals).values(
                        referee_customer_id=referee.id,
                        referrer_customer_id=referrer.id,
                        campaign_id=campaign.id,
                        status="pending",
                        created_at_ns=now,
                    )
                )
        except IntegrityError as exc:
            raise CodeRefused("you were referred already", code="referred_already") from exc
        return campaign

    def pay_due(self, limit: int = PAY_SWEEP_MAX) -> int:
        """Pay the referrers whose newcomer made a first qualifying payment; how many were handled."""
        with self._engine.connect() as connection:
            due = (
                connection.execute(
                    select(referrals)
                    .where(referrals.c.status == "due")
                    .order_by(referrals.c.created_at_ns)
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        for row in due:
            self._pay(
                int(row["referee_customer_id"]), int(row["referrer_customer_id"]), str(row["campaign_id"])
            )
        return len(due)

    def _pay(self, referee_id: int, referrer_id: int, campaign_id: str) -> None:
        campaign = self._store.get(campaign_id)
        referrer = self._customers.by_id(referrer_id)
        amount = campaign.rules.referrer_amount or 0
        assert referrer.account_id is not None and amount > 0
        movement_id = f"rf_{campaign.id.removeprefix('cp_')}_{referee_id}"
        legs = [
            Leg(
                f"{movement_id}.0",
                campaign.account_id,
                referrer.account_id,
                amount,
                Code.REWARD,
                Role.PLATFORM,
            ),
            self._movements.limits.meter_leg(movement_id, referrer, amount),
        ]
        moved = self._movements.run(
            movement_id,
            legs,
            kind=Kind.REWARD,
            amount=amount,
            payee_customer_id=referrer.id,
            counterparty=campaign.name,
            details={"campaign": campaign.id, "referee": referee_id},
        )
        now = self._clock_ns()
        paid = moved.status is Status.COMPLETED
        with self._engine.begin() as connection:
            done = connection.execute(
                update(referrals)
                .where(
                    referrals.c.referee_customer_id == referee_id,
                    referrals.c.status == "due",
                )
                .values(status="rewarded" if paid else "unpaid")
            ).rowcount
            if done and paid:
                connection.execute(
                    insert(rewards).values(
                        campaign_id=campaign.id,
                        movement_id=movement_id,
                        customer_id=referrer.id,
                        kind="referral",
                        amount=amount,
                        base_amount=amount,
                        created_at_ns=now,
                        updated_at_ns=now,
                    )
                )
