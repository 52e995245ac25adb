"""Movement hooks: collaborators (promotions today) that add optional legs to a movement and follow
its outcome, without the payments runner knowing what they mean.

Before a movement is recorded, the runner (:mod:`sika.payments.runner`) shows each hook a
:class:`Draft` (what the movement is, its legs) and takes back *extras*: named groups of legs (a
reward from a campaign budget, a meter counting it against a cap) with what they mean, kept in
``details["extras"][group]``. The groups go
into the movement's one linked chain, before its guard leg, so a reward moves in the same ledger
batch as the payment that earns it.

Extras are optional. When the ledger refuses a leg of a group (the budget ran out in a race, a cap
was reached), the movement goes on without the whole group: it never fails because of a reward. The
drop is made final in the ledger first, as a refused movement's is (``Runner._make_final``): the
first leg of a group (whose id only this movement uses) is its guard, and dropping the group takes
that id with a tombstone (a count between two counting accounts, no money). A concurrent try of the
same movement that still carries the group then fails on that leg and drops the group too; a try that
finds the leg with its own fields learns that the group was paid. Every try agrees, and the
movement's row is rewritten without the group (``details["dropped"][group]`` says which leg the
ledger refused, by its code and the last part of its id, and why), the drop done to its details as
they are then (a note written meanwhile stays: :mod:`sika.payments.details`). No leg is added for
this: a reward costs the ledger its own legs only.

Once the movement completes, each hook's :meth:`MovementHook.completed` runs in the transaction that
records the outcome, so what a hook writes (a reward row, a draw entry) is written once, with it.

Per-kind hooks (:class:`KindHooks`) are the other half: what one *kind* of movement means beyond its
money, registered in :class:`Kinds` by the domain that owns the kind (vouchers and merchants in
payments, rides for its fares and payouts): the amount its receipts name, its follow-ups when it
completes or fails, whether a failed one needs an operator, the error when one of its legs is already
another movement's. A kind nobody registered is a plain payment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, update

from sika import jsoncodec
from sika.db import begin
from sika.ledger import Ledger, Transfer, TransferResult
from sika.payments.details import stored_details_and_legs
from sika.payments.movements import Code, Kind, Leg, Movement, Role, Status, legs_from_json, legs_json
from sika.payments.schema import movements

__all__ = [
    "GROUPS_MAX",
    "Additions",
    "Draft",
    "Extra",
    "KindHooks",
    "Kinds",
    "MovementHook",
    "drop_group",
    "extend",
    "rewards_of",
    "seen_by",
    "without_group",
]

GROUPS_MAX = 8  # optional groups one movement carries at most (each refusal costs one more try)
_GROUP = re.compile(r"^[a-z0-9_]{1,16}$")
# A dropped group's tombstone moves this count between two counting accounts (never money).
_TOMBSTONE_AMOUNT = 1


@dataclass(frozen=True, slots=True)
class Draft:
    """A movement about to be recorded (or a capture about to be posted), as a hook sees it."""

    id: str
    kind: Kind
    amount: int
    fee: int
    legs: tuple[Leg, ...]
    details: Mapping[str, Any]
    payer_customer_id: int | None
    payee_customer_id: int | None
    merchant_id: int | None
    provider: str | None
    product: str | None
    now_ns: int

    @property
    def holds(self) -> bool:
        return any(leg.pending for leg in self.legs)

    @property
    def hold_timeout_s(self) -> int:
        """The timeout of the movement's holds: an extra reserved with them expires with them."""
        return max((leg.timeout_s for leg in self.legs if leg.pending), default=0)

    @property
    def payer_account_id(self) -> int | None:
        """The wallet that pays (the debit of the first payer leg), when a customer pays."""
        return next((leg.debit for leg in self.legs if leg.role == Role.PAYER), None)

    @property
    def payee_account_id(self) -> int | None:
        """The account the first leg credits: the wallet a refund or a transfer pays into."""
        return self.legs[0].credit if self.legs and self.payee_customer_id is not None else None


@dataclass(frozen=True, slots=True)
class Extra:
    """One optional group: its legs (each marked ``optional=group``) and what it means."""

    group: str
    legs: tuple[Leg, ...]
    info: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Additions:
    extras: tuple[Extra, ...] = ()
    # Merged into the movement's details: why nothing was added (what "why no cashback" reads).
    notes: Mapping[str, Any] = field(default_factory=dict)


NOTHING = Additions()


class MovementHook(Protocol):
    def extras(self, draft: Draft) -> Additions:
        """The optional groups this movement carries (called before it is recorded)."""
        ...

    def completed(self, connection: Connection, movement: Movement, now_ns: int) -> None:
        """Follow-ups of a completed movement, written in the transaction that records it."""
        ...

    def follows_up(self, movement: Movement) -> bool:
        """Whether :meth:`completed` writes anything for this movement (else the outcome may be
        recorded without it, in one statement: :mod:`sika.payments.completion`)."""
        ...


class KindHooks:
    """What one kind of movement does beyond moving money. Every method has a default: a subclass
    overrides what its kind needs."""

    # (error code, reason) when a leg of the movement is already another movement's: two movements
    # share a leg id on purpose when only one of them may happen (a voucher paid out once).
    taken = ("voucher_settled", "this was paid out already")

    def receipt_amount(self, movement: Movement) -> int:
        """The amount the movement's receipts name."""
        return movement.amount

    def completed(self, connection: Connection, movement: Movement, now_ns: int) -> None:
        """Follow-ups of a completed movement, written in the transaction that records it (before the
        receipts and the movement hooks)."""

    def failed(self, connection: Connection, movement: Movement) -> None:
        """Follow-ups of a failed movement, written in the transaction that records the failure."""

    def needs_attention(self, movement: Movement) -> bool:
        """Whether a failed movement with a provider is for an operator to look at (reconciliation)."""
        return False


_PLAIN = KindHooks()


class Kinds:
    """The registry of per-kind hooks one movement runner uses (each domain registers at wiring)."""

    def __init__(self) -> None:
        self._hooks: dict[Kind, KindHooks] = {}

    def register(self, kind: Kind, hooks: KindHooks) -> None:
        """What ``kind`` does (registering again replaces: a service built twice over one runner)."""
        self._hooks[Kind(kind)] = hooks

    def of(self, kind: Kind) -> KindHooks:
        return self._hooks.get(kind, _PLAIN)


def extend(hooks: Sequence[MovementHook], draft: Draft) -> tuple[list[Leg], dict[str, Any]]:
    """The draft's legs with every hook's groups, and its details with what they mean."""
    legs, details = list(draft.legs), dict(draft.details)
    extras: dict[str, Any] = {}
    for hook in hooks:
        added = hook.extras(draft)
        details.update(added.notes)
        for extra in added.extras:
            assert _GROUP.match(extra.group) and extra.group not in extras, extra.group
            assert all(leg.optional == extra.group for leg in extra.legs), extra.group
            # The first leg guards the group (see the module's docstring): its id is this movement's.
            assert not extra.legs or extra.legs[0].id.startswith(f"{draft.id}."), extra.legs[0].id
            extras[extra.group] = dict(extra.info)
            legs += extra.legs
    assert len(extras) <= GROUPS_MAX, len(extras)
    if extras:
        details["extras"] = extras
    return legs, details


def drop_group(
    ledger: Ledger,
    engine: Engine,
    movement: Movement,
    refusal: tuple[Leg, TransferResult],
    *,
    now_ns: int,
    counting: tuple[int, int],
) -> Movement | None:
    """The movement without the group of the refused leg (``refusal``: the leg and the ledger's answer),
    dropped for good (and so rewritten while it is still being processed); None when another try
    carried the group through with the chain already. ``counting``: the accounts a tombstone uses."""
    kept = without_group(ledger, movement.id, movement.legs, movement.details, refusal, counting=counting)
    if kept is None:
        return None
    legs, _ = kept
    group = refusal[0].optional
    with begin(engine) as connection:
        # The drop is done again to the row's details and legs as they are now, not written from
        # ``movement``'s copy: a note another writer added since stays, and so does another try's drop
        # of another group (its legs gone with its details). Merging the copy's keys over the row would
        # not do: its ``extras`` would bring that group back, and with no ``extras`` left in the copy,
        # the row's would keep this one.
        stored, stored_legs = stored_details_and_legs(connection, movement.id)
        details = _without(stored, refusal)
        if stored_legs is not None:
            legs = [leg for leg in legs_from_json(stored_legs) if leg.optional != group]
        connection.execute(
            update(movements)
            .where(movements.c.id == movement.id, movements.c.status == Status.PROCESSING)
            .values(
                legs=legs_json(legs), details=jsoncodec.dumps(details), updated_at_ns=now_ns
            )
        )
    # With the details as written: an outcome recorded inside sika.db.together (SQLite) lays its own
    # over these without reading the row again.
    return replace(movement, legs=legs, details=details)


def without_group(
    ledger: Ledger,
    movement_id: str,
    legs: Sequence[Leg],
    details: Mapping[str, Any],
    refusal: tuple[Leg, TransferResult],
    *,
    counting: tuple[int, int],
) -> tuple[list[Leg], dict[str, Any]] | None:
    """Legs and details without the refused leg's group once a tombstone holds its first leg's id;
    None when that leg is there with its own fields (the group went through with the chain)."""
    group = refusal[0].optional
    guard = next(leg for leg in legs if leg.optional == group)
    tombstone = Transfer(
        id=guard.id,
        debit_account_id=counting[0],
        credit_account_id=counting[1],
        amount=_TOMBSTONE_AMOUNT,
        code=Code.GUARD,
        metadata={"movement": movement_id, "dropped": group},
    )
    (answer,) = ledger.submit([tombstone])
    if answer not in (TransferResult.OK, TransferResult.EXISTS):
        assert answer is TransferResult.EXISTS_WITH_DIFFERENT_FIELDS, answer
        stored = ledger.get_transfer(guard.id)
        assert stored is not None
        if "dropped" not in stored.metadata:
            return None
    return [leg for leg in legs if leg.optional != group], _without(details, refusal)


def _without(details: Mapping[str, Any], refusal: tuple[Leg, TransferResult]) -> dict[str, Any]:
    """``details`` without the refused leg's group in ``extras``, and with it in ``dropped``."""
    refused, result = refusal
    group = refused.optional
    kept = dict(details)
    extras = dict(kept.get("extras", {}))
    dropped = dict(kept.get("dropped", {}))
    if group not in extras and group in dropped:
        return kept  # another try dropped it first: its reason stands (this one's is the tombstone's)
    extras.pop(group, None)
    kept.pop("extras", None)
    if extras:
        kept["extras"] = extras
    # [code, result, the refused leg's own part of its id]: which meter said no, for "why no reward?"
    kept["dropped"] = {**dropped, group: [refused.code, str(result), refused.id.rsplit(".", 1)[-1]]}
    return kept


def rewards_of(movement: Movement) -> list[dict[str, Any]]:
    """What the movement's groups paid its customer (``reward`` in answers and receipts): each group
    whose info names a ``campaign`` and an ``amount`` (what was paid) or a ``withheld`` part (what was
    kept back for a reward owed: sika.promotions.debts), or both."""
    extras = movement.details.get("extras") or {}
    return [
        dict(info)
        for info in extras.values()
        if isinstance(info, dict) and (info.get("amount") or info.get("withheld")) and info.get("campaign")
    ]


# What the campaigns said of a payment (sika.promotions.explain), and what a refund took back of its
# rewards (sika.promotions.clawbacks): the judged customer's alone.
_VERDICTS = ("dropped", "promotions", "clawbacks")


def seen_by(movement: Movement, customer_id: int | None) -> Movement:
    """``movement`` as one of its parties may see it: of the groups' rewards, only those paid to
    ``customer_id`` (or taken back from them), and the campaigns' verdicts only when the payment is
    theirs to be judged on (its payer; a refund's payee, whose rewards it takes back). ``None``: a
    business's key (the merchant, the agent), which sees no customer's rewards. Nothing else changes
    (for_parties trims what no party sees)."""
    extras = movement.details.get("extras")
    trimmed = dict(movement.details)
    if isinstance(extras, dict):
        kept = {group: info for group, info in extras.items()
                if _concerns(movement, info) in (None, customer_id)}
        if kept:
            trimmed["extras"] = kept
        else:
            trimmed.pop("extras")
    if customer_id is None or customer_id != _judged(movement):
        for key in _VERDICTS:
            trimmed.pop(key, None)
    return replace(movement, details=trimmed)


def _judged(movement: Movement) -> int | None:
    """The customer whose rewards the movement's campaigns judged: a refund's payee (the customer
    paid back), else the payer."""
    clawing = movement.details.get("clawbacks")
    return movement.payee_customer_id if clawing else movement.payer_customer_id


def _concerns(movement: Movement, info: object) -> int | None:
    """The customer a group's reward concerns (None: no customer's reward)."""
    if not isinstance(info, dict):
        return None
    if info.get("customer") is not None:
        return int(info["customer"])
    if "clawback" in info:
        return movement.payee_customer_id
    # A campaign's group that names nobody (none is written so): the judged customer's, never shown
    # to everyone.
    return _judged(movement) if "campaign" in info else None


def receipt_params(movement: Movement) -> dict[str, Any]:
    """What a payer's receipt says the payment earned: ``reward`` (francs into the wallet; with
    ``reward_withheld``, what was kept back for a reward owed) and ``bonus`` (extra airtime delivered),
    each with the campaign's name."""
    params: dict[str, Any] = {}
    for info in rewards_of(movement):
        key = "bonus" if info.get("delivered") == "airtime" else "reward"
        params[key] = int(params.get(key, 0)) + int(info.get("amount") or 0)
        params.setdefault(f"{key}_name", str(info.get("name", "")))
        if info.get("withheld"):
            params["reward_withheld"] = int(params.get("reward_withheld", 0)) + int(info["withheld"])
    return params
