"""What a completed movement's promotions leave behind, written in the transaction that records the
movement's outcome (once, with it): reward rows, draw entries, referrals marked rewarded, clawbacks
and, when the wallet could not pay a reward back, what is owed.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, insert, update

from sika.payments.movements import Movement
from sika.promotions.schema import entries, referrals, rewards

__all__ = ["new_entry_id", "record"]


def new_entry_id() -> str:
    """A draw entry's public id: random, so the published list says nothing about anyone."""
    return "en_" + secrets.token_hex(8)


def record(connection: Connection, movement: Movement, now_ns: int) -> None:
    extras: dict[str, Any] = movement.details.get("extras") or {}
    base = int(movement.details.get("fare", movement.amount))
    for info in extras.values():
        if not isinstance(info, dict) or "campaign" not in info:
            continue  # another hook's group
        if "clawback" in info:
            connection.execute(
                update(rewards)
                .where(rewards.c.id == int(info["clawback"]))
                .values(
                    clawed_back=rewards.c.clawed_back + int(info["taken"]),
                    status="clawed_back",
                    updated_at_ns=now_ns,
                )
            )
        elif info.get("entry"):
            connection.execute(
                insert(entries).values(
                    id=new_entry_id(),
                    campaign_id=info["campaign"],
                    customer_id=int(info["customer"]),
                    movement_id=movement.id,
                    created_at_ns=now_ns,
                )
            )
        elif info.get("kind") == "referral":
            _referral(connection, movement, info, base, now_ns)
        elif info.get("amount"):
            _reward(connection, movement.id, info, (int(info["customer"]), int(info["amount"]), base), now_ns)
    dropped: dict[str, Any] = movement.details.get("dropped") or {}
    for group, planned in dict(movement.details.get("clawbacks") or {}).items():
        if group in dropped:  # the wallet could not pay the reward back: it is owed
            connection.execute(
                update(rewards)
                .where(rewards.c.id == int(planned["clawback"]))
                .values(owed=rewards.c.owed + int(planned["taken"]), status="owed", updated_at_ns=now_ns)
            )


def _referral(
    connection: Connection, movement: Movement, info: dict[str, Any], base: int, now_ns: int
) -> None:
    referee, referrer = int(info["customer"]), int(info["referrer"])
    if int(info.get("amount") or 0):
        _reward(connection, movement.id, info, (referee, int(info["amount"]), base), now_ns)
    if int(info.get("referrer_amount") or 0):
        _reward(connection, movement.id, info, (referrer, int(info["referrer_amount"]), base), now_ns)
    connection.execute(
        update(referrals)
        .where(
            referrals.c.referee_customer_id == referee,
            referrals.c.campaign_id == info["campaign"],
        )
        .values(status="rewarded", movement_id=movement.id)
    )


def _reward(
    connection: Connection, movement_id: str, info: dict[str, Any], paid: tuple[int, int, int], now_ns: int
) -> None:
    """``paid``: (customer, reward, the amount of the movement that earned it)."""
    customer_id, amount, base = paid
    connection.execute(
        insert(rewards).values(
            campaign_id=info["campaign"],
            movement_id=movement_id,
            customer_id=customer_id,
            kind=info["kind"],
            amount=amount,
            base_amount=max(base, 1),
            created_at_ns=now_ns,
            updated_at_ns=now_ns,
        )
    )
