"""Referrals: a new customer names who brought them (the referrer's number); both are rewarded by a
live referral campaign once the newcomer makes a first qualifying payment (sika.promotions.grants,
with a meter that pays each newcomer once).

Only a wallet that has paid nothing yet can be referred, once, by someone else.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from sika import phones
from sika.payments.movements import Status
from sika.payments.schema import movements
from sika.promotions.errors import CodeRefused
from sika.promotions.model import Campaign
from sika.promotions.rules import CampaignKind
from sika.promotions.schema import referrals
from sika.promotions.store import CampaignStore
from sika.wallet import Customer, Customers

__all__ = ["Referrals"]


class Referrals:
    def __init__(
        self,
        engine: Engine,
        store: CampaignStore,
        customers: Customers,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self._store = store
        self._customers = customers
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
