"""What a completed movement's promotions leave behind, written in the transaction that records the
movement's outcome (once, with it): reward rows, draw entries, referrals marked rewarded, clawbacks
and, when the wallet could not pay a reward back, what is owed; and what a reward kept back for a
reward owed (:mod:`sika.promotions.debts`), on both rows.

This runs for every rewarded payment, inside its outcome transaction: the rows of each table go in
one statement, built once (building a statement costs more than running it).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, bindparam, case, insert, update

from sika.payments.movements import Movement
from sika.prepared import Prepared
from sika.promotions.schema import entries, referrals, rewards

__all__ = ["new_entry_id", "record"]

# Built once and run straight through the driver (sika.prepared): through SQLAlchemy's execution,
# these cost more than the rest of a rewarded payment's outcome (docs/benchmarks.md, promotions).
_REWARD_COLUMNS = ("campaign_id", "movement_id", "customer_id", "kind", "amount", "base_amount", "withheld",
                   "created_at_ns", "updated_at_ns")
_ENTRY_COLUMNS = ("id", "campaign_id", "customer_id", "movement_id", "created_at_ns")
_INSERT_REWARDS = Prepared(insert(rewards).values({name: bindparam(name) for name in _REWARD_COLUMNS}))
_INSERT_ENTRIES = Prepared(insert(entries).values({name: bindparam(name) for name in _ENTRY_COLUMNS}))
_CLAWED_BACK = Prepared(
    update(rewards)
    .where(rewards.c.id == bindparam("reward_id"))
    .values(
        clawed_back=rewards.c.clawed_back + bindparam("taken"),
        status="clawed_back",
        updated_at_ns=bindparam("now_ns"),
    )
)
_OWED = Prepared(
    update(rewards)
    .where(rewards.c.id == bindparam("reward_id"))
    .values(owed=rewards.c.owed + bindparam("taken"), status="owed", updated_at_ns=bindparam("now_ns"))
)
# Later rewards of the campaign kept back ``taken`` of what is owed: settled once nothing is left.
_COLLECTED = Prepared(
    update(rewards)
    .where(rewards.c.id == bindparam("reward_id"))
    .values(
        owed=rewards.c.owed - bindparam("taken"),
        collected=rewards.c.collected + bindparam("taken"),
        status=case((rewards.c.owed == bindparam("taken"), "settled"), else_=rewards.c.status),
        updated_at_ns=bindparam("now_ns"),
    )
)
_REFERRAL_REWARDED = Prepared(
    update(referrals)
    .where(
        referrals.c.referee_customer_id == bindparam("referee"),
        referrals.c.campaign_id == bindparam("campaign"),
    )
    .values(status=bindparam("status"), movement_id=bindparam("movement"))
)


def new_entry_id() -> str:
    """A draw entry's public id: random, so the published list says nothing about anyone."""
    return "en_" + secrets.token_hex(8)


def record(connection: Connection, movement: Movement, now_ns: int) -> None:
    extras: dict[str, Any] = movement.details.get("extras") or {}
    base = max(int(movement.details.get("fare", movement.amount)), 1)
    paid: list[dict[str, Any]] = []
    entered: list[dict[str, Any]] = []
    collected: list[dict[str, Any]] = []

    def reward(info: dict[str, Any], customer_id: int) -> None:
        row, taken = _reward_row(info, movement.id, customer_id, base, now_ns)
        collected.extend(taken)
        if row is not None:
            paid.append(row)

    for info in extras.values():
        if not isinstance(info, dict) or "campaign" not in info:
            continue  # another hook's group
        if "clawback" in info:
            _CLAWED_BACK.execute(
                connection,
                {"reward_id": int(info["clawback"]), "taken": int(info["taken"]), "now_ns": now_ns},
            )
        elif info.get("entry"):
            entered.append(
                {
                    "id": new_entry_id(),
                    "campaign_id": info["campaign"],
                    "customer_id": int(info["customer"]),
                    "movement_id": movement.id,
                    "created_at_ns": now_ns,
                }
            )
        elif info.get("kind") == "referral":
            reward(info, int(info["customer"]))
            status = "due" if int(info.get("referrer_amount") or 0) else "rewarded"  # the referrer's turn
            _REFERRAL_REWARDED.execute(
                connection,
                {
                    "referee": int(info["customer"]),
                    "campaign": info["campaign"],
                    "movement": movement.id,
                    "status": status,
                },
            )
        else:
            reward(info, int(info["customer"]))
    _INSERT_REWARDS.execute_many(connection, paid)
    _COLLECTED.execute_many(connection, collected)
    _INSERT_ENTRIES.execute_many(connection, entered)
    dropped: dict[str, Any] = movement.details.get("dropped") or {}
    for group, planned in dict(movement.details.get("clawbacks") or {}).items():
        if group in dropped:  # the wallet could not pay the reward back: it is owed
            _OWED.execute(
                connection,
                {"reward_id": int(planned["clawback"]), "taken": int(planned["taken"]), "now_ns": now_ns},
            )


def _reward_row(info: dict[str, Any], movement_id: str, customer_id: int, base: int,
                now_ns: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A reward's row (None for nothing earned), and what it kept back for rewards owed (_COLLECTED).

    The row keeps the whole reward earned (a refund claws back its share of it); what was kept back
    for an earlier reward owed is ``withheld``, and that reward's row says it was collected."""
    withheld = int(info.get("withheld") or 0)
    amount = int(info.get("amount") or 0) + withheld
    taken = [{"reward_id": int(reward_id), "taken": int(francs), "now_ns": now_ns}
             for reward_id, francs in info.get("collects") or ()]
    assert withheld == sum(t["taken"] for t in taken), info
    if amount <= 0:
        return None, taken
    row = {
        "campaign_id": info["campaign"],
        "movement_id": movement_id,
        "customer_id": customer_id,
        "kind": info["kind"],
        "amount": amount,
        "base_amount": base,
        "withheld": withheld,
        "created_at_ns": now_ns,
        "updated_at_ns": now_ns,
    }
    return row, taken
