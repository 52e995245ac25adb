"""The wallets of ``sika bench whatsapp``, and the money checked after the run.

Before the run: ``users`` wallets (tier 1), each funded by a cash-in at an agent (whose receipts are
dropped from the outbox: they are not the run's), all with the same PIN. Every wallet gets the same
stored PIN hash, made once by the production hasher (:class:`~sika.wallet.PinHasher` as the server
builds it): checking a PIN costs what it costs in production, and seeding a thousand wallets does
not pay a thousand production hashes.

After the run: the ledger's invariants (``sika ledger check``), and every user's money: the payments
they made are exactly those their messages confirmed with the PIN (kind, amount, none twice, none
failed), and their balance is what they were given, less what they paid with fees, plus the
transfers they received.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from sqlalchemy import bindparam, delete, select, update

from sika.bench.whatsapp_mix import Person, Step
from sika.bootstrap import bootstrap
from sika.config import Settings
from sika.ledger import audit
from sika.payments import new_movement_id
from sika.payments.schema import movements, outbox
from sika.wallet import Customers, Pin, PinHasher, PinKeys
from sika.wallet.schema import customers

__all__ = ["SEED_MINOR", "check_money", "persons", "seed_wallets"]

SEED_MINOR = 100_000
_PIN = "2580"
LANGUAGES = ("fr", "en")
# Seeding hashes with the cheapest argon2 the library takes; the production hash replaces them.
_SEED_HASHER = PinHasher(time_cost=1, memory_cost_kib=8)


def persons(count: int) -> list[Person]:
    """The run's users: numbers, languages in turn, and whom each sends money to (the next one)."""
    # 90 is a Togocom prefix; the six last digits never start with zeros, which the providers' fakes
    # read as magic references (a number ending in 00000N misbehaves on purpose).
    assert count <= 900_000
    numbers = [f"+22890{100_000 + index:06d}" for index in range(count)]
    return [Person(index=i, msisdn=number, language=LANGUAGES[i % len(LANGUAGES)],
                   recipient=numbers[(i + 1) % count], pin=_PIN) for i, number in enumerate(numbers)]


def seed_wallets(settings: Settings, people: Sequence[Person], advance: Callable[[int], None]) -> None:
    """Open and fund a wallet for each person (see the module docstring)."""
    container = bootstrap(settings.model_copy(update={"providers": "off"}))
    try:
        # Opened with cheap hashes, replaced below by one production hash for every wallet.
        opener = Customers(container.engine, container.ledger, hasher=_SEED_HASHER,
                           tiers=settings.tiers)
        agent, _ = container.agents.create("Bench agent")
        container.payments.credit_float(new_movement_id(), agent, SEED_MINOR * max(len(people), 1))
        for person in people:
            opener.open(person.msisdn, f"Client {person.index}", language=person.language,
                        pin=Pin(person.pin), tier=1)
            container.payments.cash_in(new_movement_id(), agent, person.msisdn, SEED_MINOR)
            advance(1)
        production_hash = PinHasher(keys=PinKeys.parse(settings.pin_pepper)).hash(Pin(_PIN))
        with container.engine.begin() as connection:
            connection.execute(update(customers).where(customers.c.msisdn.in_(
                bindparam("numbers", expanding=True))).values(pin_hash=production_hash),
                {"numbers": [p.msisdn for p in people]})
            # The cash-ins' receipts are not the run's: they would reach each user with their first
            # message and be counted as the run's receipts.
            connection.execute(delete(outbox))
    finally:
        container.close()


def check_money(settings: Settings, people: Sequence[Person], plan: Sequence[Sequence[Step]]) -> list[str]:
    """What is wrong with the money after the run (nothing: an empty list)."""
    container = bootstrap(settings.model_copy(update={"providers": "off"}), migrate=False)
    try:
        problems = [f"ledger: {v}" for v in audit.check(container.engine)]
        ids = {p.msisdn: container.customers.get(p.msisdn).id for p in people}
        by_id = {customer_id: msisdn for msisdn, customer_id in ids.items()}
        paid: dict[str, Counter[tuple[str, int]]] = {p.msisdn: Counter() for p in people}
        out: Counter[str] = Counter()
        into: Counter[str] = Counter()
        with container.engine.connect() as connection:
            rows = connection.execute(select(
                movements.c.kind, movements.c.status, movements.c.amount, movements.c.fee,
                movements.c.payer_customer_id, movements.c.payee_customer_id,
            ).where(movements.c.kind != "cash_in", movements.c.kind != "float")).all()
        for kind, status, amount, fee, payer, payee in rows:
            if status != "completed":
                problems.append(f"a {kind} of {amount} is {status}")
                continue
            if payer in by_id:
                paid[by_id[payer]][(kind, amount)] += 1
                out[by_id[payer]] += amount + fee
            if payee in by_id:
                into[by_id[payee]] += amount
        for person, steps in zip(people, plan, strict=True):
            wanted = Counter((step.pays, step.amount) for step in steps if step.pays is not None)
            if paid[person.msisdn] != wanted:
                problems.append(f"{person.msisdn} paid {dict(paid[person.msisdn])}, confirmed {dict(wanted)}")
            account = container.customers.get(person.msisdn).account_id
            assert account is not None
            balance = container.ledger.get_account(account).balance
            expected = SEED_MINOR - out[person.msisdn] + into[person.msisdn]
            if balance != expected:
                problems.append(f"{person.msisdn} holds {balance}, not {expected}")
        return problems
    finally:
        container.close()
