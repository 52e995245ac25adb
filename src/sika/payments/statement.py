"""A wallet's statement: each movement once, as *this* customer sees it.

One model for every screen that shows money (REST history, ``sika wallet history``, the chat and USSD
history, receipts, the console). An :class:`Item` is one movement seen from one side:

- ``amount`` is read from the **ledger**, not from the movement row: the transfers of that movement
  that touched this customer's account, credits less debits, counted once posted (a hold counts when
  it is posted, for what was posted: a wallet ride shows the fare captured, not the hold). Every
  posted transfer on a wallet belongs to one movement that names the customer as payer or payee, so
  the ``amount``s of ``completed`` items add up to the balance, whatever a movement row says.
- ``pending`` items (money held for a provider, a top-up waiting for its provider) show what is held
  or expected; they are not part of the balance yet.
- ``failed`` items (nothing moved) are shown only to the person who tried; a recipient sees money
  that arrived, never the sender's attempts nor the sender's fee (``fee`` counts only this
  customer's fee legs).
- ``counterparty`` is the other party as this side should see it: the other wallet's name and
  number, the agent, the merchant's registered name, the provider, the driver; never the customer.

Descriptions for people are rendered from ``subject`` (structured fields) by the presentation layer,
in the reader's language (:mod:`sika.chat.texts.statement`).
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, and_, bindparam, cast, literal, or_, select, union_all
from sqlalchemy.types import Boolean, Integer

from sika.errors import SikaError
from sika.ledger import Ledger, TransferFlags, TransferRecord
from sika.payments.movements import Code, Kind, Movement, Status, movement_from_row
from sika.payments.schema import agents, movements, vouchers
from sika.prepared import Prepared
from sika.wallet import Customer
from sika.wallet.schema import customers

__all__ = ["PAGE_LIMIT_MAX", "Effect", "Item", "ItemStatus", "KindPage", "KindView", "Party", "StatementPage",
           "Statements", "effect", "mask", "product_names", "transfer_ids"]

PAGE_LIMIT_MAX = 200
# Receipts rendered at once (an outbox batch is at most 100 messages).
ITEMS_MAX = 200
# A page skips movements that are not this customer's to see (a sender's failed attempt); it reads
# at most this many batches before handing back a cursor, so a page costs a bounded number of reads.
ROUNDS_MAX = 4
_NEVER = (2**63 - 1, "")
# A customer starts the movements of these kinds as their payee (the others as payer).
_STARTED_BY_PAYEE = (Kind.TOP_UP, Kind.VOUCHER_CLAIM)
_PURCHASES = (Kind.AIRTIME, Kind.BILL, Kind.TOP_UP)
_PHONE_REFERENCES = ("airtime", "data", "mobile_money")
_BRAND = "Sika"
# Legs by which a campaign pays a reward inside a payment's chain, or takes it back with a refund.
_REWARD_CODES = (Code.REWARD, Code.CLAWBACK)


class ItemStatus(enum.StrEnum):
    COMPLETED = "completed"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Party:
    """Who is on the other side: a name, a number, or both."""

    name: str | None = None
    msisdn: str | None = None

    @property
    def label(self) -> str:
        if self.name and self.msisdn:
            return f"{self.name} ({self.msisdn})"
        return self.name or self.msisdn or ""

    @property
    def short(self) -> str:
        """The name when there is one (a history line), else the number."""
        return self.name or self.msisdn or ""


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    kind: str
    status: ItemStatus
    amount: int  # the signed change of this wallet's balance, fee included
    fee: int
    currency: str
    counterparty: Party
    at_ns: int
    # What a description is rendered from: ``direction`` (in/out), and by kind ``product_kind``,
    # ``provider``, ``product``, ``reference`` (a number, or a masked meter or card), ``trip_status``.
    subject: dict[str, str]
    error_code: str | None = None
    # The part of ``amount`` a campaign paid with the payment (a cashback, a ride discount), or took
    # back with a refund (negative): the line names it rather than showing a bare net figure. 0 for a
    # movement that is a reward in itself (a prize, a referral), which its description names.
    reward: int = 0


@dataclass(frozen=True, slots=True)
class StatementPage:
    items: list[Item]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Effect:
    """What a movement's ledger transfers did to one account."""

    posted: int = 0       # credits less debits, posted
    held: int = 0         # pending debits (negative) or credits (positive) still held
    fee_posted: int = 0   # fee legs posted from this account
    fee_held: int = 0
    reward_posted: int = 0  # a campaign's reward credited in the movement's chain, less a clawback


def effect(movement: Movement, account_id: int, records: dict[str, TransferRecord]) -> Effect:
    """The movement's transfers on ``account_id``, from the ledger's records of its legs.

    A leg ``X`` may have been posted (``X.post``, for the amount posted) or voided (``X.void``): both
    carry the movement's id. A record another movement owns (a voucher's settle leg, which its claim
    and its refund share) is not this movement's and is left out.
    """
    posted = held = fee_posted = fee_held = reward = 0
    for leg in movement.legs:
        if account_id not in (leg.debit, leg.credit):
            continue
        for transfer_id in (leg.id, f"{leg.id}.post", f"{leg.id}.void"):
            record = records.get(transfer_id)
            if record is None or record.metadata.get("movement") != movement.id:
                continue
            if account_id not in (record.debit_account_id, record.credit_account_id):
                continue
            sign = 1 if record.credit_account_id == account_id else -1
            fee = record.code == Code.FEE and sign < 0
            flags = record.flags
            if flags & TransferFlags.PENDING:
                if record.pending_status == "pending":
                    held += sign * record.amount
                    fee_held += record.amount if fee else 0
            elif not flags & TransferFlags.VOID_PENDING:
                posted += sign * record.amount
                fee_posted += record.amount if fee else 0
                reward += sign * record.amount if record.code in _REWARD_CODES else 0
    return Effect(posted=posted, held=held, fee_posted=fee_posted, fee_held=fee_held, reward_posted=reward)


def _planned(movement: Movement, account_id: int) -> tuple[int, int]:
    """(amount, fee) the movement's legs would move on the account: for one not in the ledger yet."""
    amount = fee = 0
    for leg in movement.legs:
        if leg.credit == account_id:
            amount += leg.amount
        elif leg.debit == account_id:
            amount -= leg.amount
            fee += leg.amount if leg.code == Code.FEE else 0
    return amount, fee


def _touches(movement: Movement, account_id: int) -> bool:
    return any(account_id in (leg.debit, leg.credit) for leg in movement.legs)


def transfer_ids(movement: Movement, account_id: int) -> Iterable[str]:
    """The ledger ids that may hold this movement's transfers on the account."""
    for leg in movement.legs:
        if account_id in (leg.debit, leg.credit):
            yield from (leg.id, f"{leg.id}.post", f"{leg.id}.void")


@dataclass(frozen=True, slots=True)
class _Seen:
    """A movement with the ledger's effect on the customer's account and whether they started it."""

    movement: Movement
    effect: Effect
    started: bool


# The hot statements, built once (building one costs as much as running it on SQLite).
_BY_IDS = Prepared(select(movements).where(movements.c.id.in_(bindparam("b_ids", expanding=True))))
_OLDER = or_(movements.c.created_at_ns < bindparam("b_at"),
             and_(movements.c.created_at_ns == bindparam("b_at"), movements.c.id < bindparam("b_last")))
_NEWEST_FIRST = (movements.c.created_at_ns.desc(), movements.c.id.desc())
# Every value typed in the SQL (the limit, the flags below): on PostgreSQL the statement then goes
# straight to libpq (sika.libpq_statements), a third of the client's CPU a statement.
_N = cast(bindparam("b_n", type_=Integer), Integer)
_PAID = select(movements).where(movements.c.payer_customer_id == bindparam("b_customer"), _OLDER) \
    .order_by(*_NEWEST_FIRST).limit(_N)
_RECEIVED = select(movements).where(
    movements.c.payee_customer_id == bindparam("b_customer"), _OLDER,
    or_(movements.c.status != str(Status.FAILED), movements.c.kind.in_([str(k) for k in _STARTED_BY_PAYEE]))
).order_by(*_NEWEST_FIRST).limit(_N)
# Both sides in one round trip; each half still walks its own index newest first, n rows at most.
_PAID_OR_RECEIVED = Prepared(union_all(select(_PAID.subquery()), select(_RECEIVED.subquery())))

_SENDERS = Prepared(select(vouchers.c.movement_id, vouchers.c.sender_customer_id).where(
    vouchers.c.movement_id.in_(bindparam("b_ids", expanding=True))))
# The agents and the people a page names, in one read (a cash-in beside a transfer were two).
_AGENTS_AND_PEOPLE = Prepared(union_all(
    select(cast(literal(True), Boolean).label("agent"), agents.c.id, agents.c.name, agents.c.msisdn).where(
        agents.c.id.in_(bindparam("b_agents", expanding=True))),
    select(cast(literal(False), Boolean), customers.c.id, customers.c.name, customers.c.msisdn).where(
        customers.c.id.in_(bindparam("b_people", expanding=True)))))


class Statements:
    """Statements of wallets, read from movements and the ledger.

    ``catalogue`` gives the providers' catalogue (``Providers.catalogue()``): display names of
    providers and products.
    """

    def __init__(self, engine: Engine, ledger: Ledger,
                 catalogue: Callable[[], list[dict[str, Any]]] = list) -> None:
        self._engine = engine
        self._ledger = ledger
        self._catalogue = catalogue
        self._views: dict[Kind, KindView] = {}
        # The display names of the catalogue last read, by that list (the same until it is remade).
        self._products: tuple[list[dict[str, Any]], dict[tuple[str, str], tuple[str, str, str]]] = ([], {})

    def register(self, kind: Kind, view: KindView) -> None:
        """How items of ``kind`` (another domain's) name their other side and what they are about."""
        self._views[Kind(kind)] = view

    def page(self, customer: Customer, *, limit: int = 50, cursor: str | None = None) -> StatementPage:
        """The customer's items, newest first, ``limit`` at a time (at most 200)."""
        if not 1 <= limit <= PAGE_LIMIT_MAX:
            raise SikaError(f"limit must be between 1 and {PAGE_LIMIT_MAX}", code="validation_error")
        assert customer.account_id is not None
        before = _decode(cursor) if cursor else _NEVER
        seen: list[_Seen] = []
        more = False
        for _ in range(ROUNDS_MAX):
            want = limit - len(seen)
            batch = self._movements(customer.id, before, want + 1)
            more = len(batch) > want
            examined = batch[:want]
            seen.extend(s for s in self._effects(customer, examined) if self._visible(s))
            if examined:
                before = (examined[-1].created_at_ns, examined[-1].id)
            if not more or len(seen) >= limit:
                break
        items = self._items(customer, seen)
        return StatementPage(items=items, next_cursor=_encode(before) if more else None)

    def item(self, customer: Customer, movement_id: str) -> Item | None:
        """One movement as this customer sees it (None: not theirs to see)."""
        return self.items([(customer, movement_id)])[0]

    def items(self, wanted: Sequence[tuple[Customer, str]]) -> list[Item | None]:
        """:meth:`item` for several (customer, movement id) pairs, in a few reads whatever their number
        (the receipts of an outbox batch): the movements, their transfers, and the other parties."""
        if len(wanted) > ITEMS_MAX:
            raise SikaError(f"at most {ITEMS_MAX} items at once", code="too_many")
        ids = sorted({movement_id for _, movement_id in wanted})
        found = {row.id: movement_from_row(row._mapping)
                 for row in _BY_IDS.all(self._engine, {"b_ids": ids})} if ids else {}
        theirs: list[tuple[Customer, Movement] | None] = []
        for customer, movement_id in wanted:
            account = customer.account_id
            assert account is not None
            m = found.get(movement_id)
            parties = (m.payer_customer_id, m.payee_customer_id) if m is not None else ()
            theirs.append((customer, m) if m is not None and customer.id in parties and _touches(m, account)
                          else None)
        records = self._ledger.get_transfers([tid for pair in theirs if pair is not None
                                              for tid in transfer_ids(pair[1], pair[0].account_id or 0)])
        seen: list[tuple[Customer, _Seen] | None] = []
        for pair in theirs:
            if pair is not None:
                customer, m = pair
                one = _Seen(m, effect(m, customer.account_id or 0, records), _started_by(m, customer.id))
                if self._visible(one):
                    seen.append((customer, one))
                    continue
            seen.append(None)
        names = _Parties(self._engine, [one.movement for _, one in filter(None, seen)], self._views)
        return [self._items(entry[0], [entry[1]], names)[0] if entry else None for entry in seen]

    # Reading ---------------------------------------------------------------------------------------

    def _movements(self, customer_id: int, before: tuple[int, str], n: int) -> list[Movement]:
        """The customer's movements older than ``before``, newest first: those they paid, and those
        they were paid unless failed (a recipient never sees a sender's failed attempt)."""
        at, last_id = before
        values = {"b_customer": customer_id, "b_at": at, "b_last": last_id, "b_n": n}
        found: dict[str, Movement] = {}
        for row in _PAID_OR_RECEIVED.all(self._engine, values):
            found[row.id] = movement_from_row(row._mapping)
        ordered = sorted(found.values(), key=lambda m: (m.created_at_ns, m.id), reverse=True)
        return ordered[:n]

    def _effects(self, customer: Customer, batch: Sequence[Movement]) -> list[_Seen]:
        account = customer.account_id
        assert account is not None
        mine = [m for m in batch if _touches(m, account)]
        records = self._ledger.get_transfers([tid for m in mine for tid in transfer_ids(m, account)])
        return [_Seen(m, effect(m, account, records), _started_by(m, customer.id)) for m in mine]

    @staticmethod
    def _visible(seen: _Seen) -> bool:
        """The one who started a movement sees it in every state; the other side, once money moved."""
        return seen.started or seen.effect.posted != 0

    def _items(self, customer: Customer, seen: list[_Seen], parties: _Parties | None = None) -> list[Item]:
        """``seen`` as items; ``parties`` read already for a batch that holds them (else read here)."""
        if parties is None:
            parties = _Parties(self._engine, [s.movement for s in seen], self._views)
        catalogue = self._catalogue()
        if catalogue is not self._products[0]:
            self._products = (catalogue, product_names(catalogue))
        products = self._products[1]
        out = []
        for s in seen:
            status, amount, fee = _figures(s, customer)
            m = s.movement
            # A prize or a referral is a reward in itself: its description says so.
            in_payment = status is ItemStatus.COMPLETED and m.kind is not Kind.REWARD
            out.append(Item(
                id=m.id, kind=str(m.kind), status=status, amount=amount, fee=fee, currency=m.currency,
                counterparty=parties.other(m, customer, products), at_ns=m.created_at_ns,
                subject=_subject(m, customer, amount, products, parties),
                error_code=m.error_code if status is ItemStatus.FAILED else None,
                reward=s.effect.reward_posted if in_payment else 0))
        return out


def _started_by(movement: Movement, customer_id: int) -> bool:
    if movement.kind in _STARTED_BY_PAYEE:
        return movement.payee_customer_id == customer_id
    return movement.payer_customer_id == customer_id


def _figures(seen: _Seen, customer: Customer) -> tuple[ItemStatus, int, int]:
    """(status, amount, fee) by the ledger: posted money is completed, whatever the row says."""
    e, m = seen.effect, seen.movement
    if e.posted:
        return ItemStatus.COMPLETED, e.posted, e.fee_posted
    if e.held:
        return ItemStatus.PENDING, e.held, e.fee_held
    if m.status in (Status.PENDING, Status.PROCESSING):
        assert customer.account_id is not None
        amount, fee = _planned(m, customer.account_id)
        return ItemStatus.PENDING, amount, fee
    if m.status is Status.FAILED:
        return ItemStatus.FAILED, 0, 0
    return ItemStatus.COMPLETED, 0, 0


class KindPage(Protocol):
    """What a kind's view read for one page of movements (see :class:`KindView`)."""

    people: set[int]  # the customers this page's movements of the kind name (drivers, say)

    def other(self, m: Movement, people: Mapping[int, Party]) -> Party | None:
        """The other side of ``m`` (None: Sika itself)."""
        ...

    def subject(self, m: Movement) -> dict[str, str]:
        """What a description of ``m`` is rendered from, beyond its direction."""
        ...


class KindView(Protocol):
    """How a statement shows the movements of a kind another domain owns (rides register theirs at
    wiring): what it reads for a page, in the page's own connection, in one query or a few."""

    def read(self, connection: Connection, batch: Sequence[Movement]) -> KindPage:
        ...


class _Parties:
    """Names and numbers of the other sides of a page of movements (one customer's, or the receipts of
    several), read in a few queries."""

    def __init__(self, engine: Engine, batch: list[Movement], views: Mapping[Kind, KindView]) -> None:
        voucher_ids = [str(m.details["voucher"]) for m in batch
                       if m.kind is Kind.VOUCHER_CLAIM and "voucher" in m.details]
        agent_ids = sorted({m.agent_id for m in batch if m.agent_id is not None})
        self.pages: dict[Kind, KindPage] = {}
        kinds = {m.kind for m in batch} & views.keys()
        if kinds:  # another domain's items (rides): its view reads on a connection of its own
            with engine.connect() as connection:
                for kind in kinds:
                    self.pages[kind] = views[kind].read(connection, [m for m in batch if m.kind is kind])
        self.senders = {str(k): int(v) for k, v in _SENDERS.all(
            engine, {"b_ids": voucher_ids})} if voucher_ids else {}
        ids = {i for m in batch for i in (m.payer_customer_id, m.payee_customer_id) if i is not None}
        ids |= set(self.senders.values())
        for page in self.pages.values():
            ids |= page.people
        self.agents: dict[int, Party] = {}
        self.people: dict[int, Party] = {}
        if agent_ids or ids:  # no id is 0: it stands for none where a list may not be empty
            named = {"b_agents": agent_ids or [0], "b_people": sorted(ids) or [0]}
            for row in _AGENTS_AND_PEOPLE.all(engine, named):
                (self.agents if row.agent else self.people)[row.id] = Party(row.name, row.msisdn)

    def other(self, m: Movement, customer: Customer,
              products: dict[tuple[str, str], tuple[str, str, str]]) -> Party:
        me = customer.id
        brand = Party(name=_BRAND)
        page = self.pages.get(m.kind)
        if page is not None:
            return page.other(m, self.people) or brand
        if m.kind is Kind.TRANSFER:
            other_id = m.payee_customer_id if m.payer_customer_id == me else m.payer_customer_id
            return self.people.get(other_id or -1, Party(msisdn=m.counterparty))
        if m.kind in (Kind.VOUCHER, Kind.VOUCHER_REFUND):
            return Party(msisdn=m.counterparty)  # the number the voucher was for
        if m.kind is Kind.VOUCHER_CLAIM:
            return self.people.get(self.senders.get(str(m.details.get("voucher")), -1), brand)
        if m.kind in _PURCHASES:
            kind, provider, _ = products.get((m.provider or "", m.product or ""), ("", m.provider or "", ""))
            number = m.counterparty if kind in _PHONE_REFERENCES and m.counterparty != customer.msisdn \
                else None
            return Party(name=provider or _BRAND, msisdn=number)
        if m.agent_id is not None and m.agent_id in self.agents:
            return self.agents[m.agent_id]
        return Party(name=m.counterparty)  # a merchant's registered name

    def subject(self, m: Movement) -> dict[str, str]:
        page = self.pages.get(m.kind)
        return page.subject(m) if page is not None else {}


def product_names(catalogue: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(provider, product) -> (product kind, provider's display name, product's display name)."""
    found: dict[tuple[str, str], tuple[str, str, str]] = {}
    for entry in catalogue:
        for product in entry.get("products", []):
            provider = str(entry.get("name") or entry["provider"])
            found[(str(entry["provider"]), str(product["product"]))] = (
                str(entry["kind"]), provider, str(product.get("name") or ""))
    return found


def _subject(m: Movement, customer: Customer, amount: int,
             products: dict[tuple[str, str], tuple[str, str, str]], parties: _Parties) -> dict[str, str]:
    subject = {"direction": "in" if amount > 0 or (amount == 0 and _received(m, customer)) else "out"}
    if m.kind in _PURCHASES:
        kind, provider, product = products.get((m.provider or "", m.product or ""),
                                               (_kind_guess(m), m.provider or "", m.product or ""))
        subject.update(product_kind=kind, provider=provider, product=product)
        reference = m.counterparty or ""
        if kind in _PHONE_REFERENCES:
            if reference and reference != customer.msisdn:
                subject["reference"] = reference
        elif reference:
            subject["reference"] = mask(reference)
    else:
        subject.update(parties.subject(m))
    return subject


def _received(m: Movement, customer: Customer) -> bool:
    return m.payee_customer_id == customer.id


def _kind_guess(m: Movement) -> str:
    """A product no longer in the catalogue: airtime is airtime; the rest is described generically."""
    return "airtime" if m.kind is Kind.AIRTIME else ""


def mask(reference: str) -> str:
    """A meter, card or subscriber reference as a statement shows it: its last four characters."""
    reference = reference.lstrip("•")
    if len(reference) <= 4:
        return reference
    return "••••" + reference[-4:]


def _encode(position: tuple[int, str]) -> str:
    raw = f"{position[0]}:{position[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, last_id = raw.partition(":")
        position = (int(at), last_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise SikaError("this cursor is not one a page gave", code="invalid_cursor") from exc
    if not last_id or position[0] < 0:
        raise SikaError("this cursor is not one a page gave", code="invalid_cursor")
    return position
