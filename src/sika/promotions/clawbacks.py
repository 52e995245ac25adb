"""Refunds take their rewards back: a refund of a rewarded payment carries, in its own chain, a leg
from the customer's wallet back to the campaign's budget for the refunded share of the reward.

The refund itself credits the wallet first, so the wallet can nearly always pay the reward back. When
it cannot (held money, a closed wallet), the clawback leg is optional like a reward: the refund goes
through without it and the reward is booked as owed (``promo_rewards.owed``), for an operator to
settle; the customer's rewards show it.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from sika.payments.hooks import NOTHING, Additions, Draft, Extra
from sika.payments.movements import Code, Kind, Leg, Role
from sika.promotions.schema import rewards
from sika.promotions.store import CampaignStore

__all__ = ["REVERSALS", "plan_clawbacks"]

# A reversal, and the detail naming the movement it reverses.
REVERSALS: dict[Kind, str] = {Kind.MERCHANT_REFUND: "payment", Kind.VOUCHER_REFUND: "voucher"}
_REWARDS_MAX = 8  # rewards one movement earned at most (one per campaign it qualified for)


def plan_clawbacks(engine: Engine, store: CampaignStore, draft: Draft) -> Additions:
    original = draft.details.get(REVERSALS[draft.kind])
    account = draft.payee_account_id
    if not original or account is None or draft.payee_customer_id is None:
        return NOTHING
    with engine.connect() as connection:
        rows = connection.execute(
            select(rewards.c.id, rewards.c.campaign_id, rewards.c.amount, rewards.c.base_amount)
            .where(
                rewards.c.movement_id == str(original),
                rewards.c.customer_id == draft.payee_customer_id,
                rewards.c.status == "paid",
            )
            .order_by(rewards.c.id)
            .limit(_REWARDS_MAX)
        ).all()
    extras: list[Extra] = []
    planned: dict[str, dict[str, object]] = {}
    for row in rows:
        # The refunded share of the reward, rounded down (a full refund takes all of it back).
        taken = int(row.amount) * min(draft.amount, int(row.base_amount)) // max(int(row.base_amount), 1)
        if taken <= 0:
            continue
        campaign = store.get(row.campaign_id)
        group = "k" + campaign.id.removeprefix("cp_")
        leg = Leg(
            f"{draft.id}.o{group}.k",
            account,
            campaign.account_id,
            taken,
            Code.CLAWBACK,
            Role.PROMOTION,
            optional=group,
        )
        info: dict[str, object] = {"clawback": int(row.id), "campaign": campaign.id, "taken": taken}
        extras.append(Extra(group, (leg,), info))
        planned[group] = info
    return Additions(tuple(extras), {"clawbacks": planned} if planned else {})
