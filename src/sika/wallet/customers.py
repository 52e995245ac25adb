"""Customers: one wallet per phone number, with a name, a language, a KYC tier and a PIN.

PIN tries are counted in the database with one conditional UPDATE per try, so that tries racing from
several channels or processes are all counted and none slips past the lock. After ``pin_tries_max``
wrong tries in a row, money movement is locked for ``pin_lock_s``; the first wrong try after the lock
has run out starts a new count.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, case, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from sika import phones
from sika.db import writing
from sika.errors import SikaError
from sika.ledger import AccountFlags, AccountKind, Ledger
from sika.prepared import Prepared
from sika.wallet.pins import Pin, PinHasher
from sika.wallet.schema import customers
from sika.wallet.tiers import DEFAULT_TIERS, TIER_MAX, TierLimits

__all__ = [
    "LANGUAGES",
    "CashOutFrozen",
    "Customer",
    "Customers",
    "InvalidPin",
    "PinLocked",
    "UnknownWallet",
    "WalletExists",
]

# The languages Sika speaks; the first is the default.
LANGUAGES = ("fr", "en", "es", "it", "pt", "ru", "ar")
NAME_CHARS_MAX = 80
_NS_PER_S = 1_000_000_000
# Numbers :meth:`Customers.find_many` reads at once at most.
FIND_MANY_MAX = 1_000
# Reads on hot paths (every chat message), built once: building a statement costs more than running it.
_BY_MSISDN = Prepared(select(customers).where(customers.c.msisdn == bindparam("msisdn")))
_BY_MSISDNS = Prepared(select(customers).where(customers.c.msisdn.in_(bindparam("numbers", expanding=True))))
_BY_ID = Prepared(select(customers).where(customers.c.id == bindparam("b_id")))
_BY_IDS = Prepared(select(customers).where(customers.c.id.in_(bindparam("b_ids", expanding=True))))


class WalletExists(SikaError):
    code = "wallet_exists"


class UnknownWallet(SikaError):
    code = "unknown_wallet"


class InvalidPin(SikaError):
    code = "invalid_pin"

    def __init__(self, tries_left: int, *, what: str = "the wallet locks", generic: bool = False) -> None:
        tries = "1 try" if tries_left == 1 else f"{tries_left} tries"
        if generic:  # a login: whether the number has a wallet is not for the caller to learn
            super().__init__("wrong number or PIN")
        else:
            super().__init__(f"wrong PIN; {tries} left before {what}")
        self.tries_left = tries_left


class PinLocked(SikaError):
    """Too many wrong PINs: ``what`` is locked until ``locked_until_ns`` (the answer says when)."""

    code = "pin_locked"

    def __init__(self, locked_until_ns: int, *, what: str = "PIN use and money movement") -> None:
        until = time.strftime("%H:%M UTC", time.gmtime(locked_until_ns // _NS_PER_S))
        super().__init__(f"too many wrong PINs: {what} locked until {until}")
        self.locked_until_ns = locked_until_ns


class CashOutFrozen(SikaError):
    """A PIN reset freezes cash-out for a while (the answer says until when)."""

    code = "cash_out_frozen"

    def __init__(self, frozen_until_ns: int) -> None:
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(frozen_until_ns // _NS_PER_S))
        super().__init__(f"the PIN was reset lately: cash-out is frozen until {until}")
        self.frozen_until_ns = frozen_until_ns


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    msisdn: str
    name: str
    language: str
    tier: int
    account_id: int | None
    has_pin: bool
    pin_failures: int
    pin_locked_until_ns: int | None
    created_at_ns: int
    login_failures: int = 0
    login_locked_until_ns: int | None = None
    cash_out_frozen_until_ns: int | None = None


class Customers:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        *,
        hasher: PinHasher | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        pin_tries_max: int = 3,
        pin_lock_s: int = 1_800,
        tiers: Mapping[int, TierLimits] = DEFAULT_TIERS,
    ) -> None:
        assert pin_tries_max >= 1 and pin_lock_s >= 0
        self._engine = engine
        self._ledger = ledger
        self._hasher = hasher or PinHasher()
        self._clock_ns = clock_ns
        self._tries_max = pin_tries_max
        self._lock_ns = pin_lock_s * _NS_PER_S
        assert set(tiers) == set(range(TIER_MAX + 1)), "every tier needs its limits"
        self._tiers = dict(tiers)
        # Called with the customer's id after a PIN is changed or reset (sessions are revoked).
        self._pin_listeners: list[Callable[[int], object]] = []
        # A hash to verify against when a login names no wallet: it costs the same as a real one.
        self._decoy = self._hasher.hash(Pin("5190"))

    # Opening and reading -------------------------------------------------------------------------

    def open(
        self,
        msisdn: str,
        name: str,
        *,
        language: str | None = None,
        pin: Pin | None = None,
        tier: int = 0,
    ) -> Customer:
        """Open a wallet: the customer row, then its ledger account (XOF, never below zero)."""
        number = phones.normalize(msisdn)
        values: dict[str, Any] = {
            "msisdn": number,
            "name": _clean_name(name),
            "language": _language(language, number),
            "tier": _tier(tier),
            "created_at_ns": self._clock_ns(),
        }
        if pin is not None:
            pin.check_strength()
            values["pin_hash"] = self._hasher.hash(pin)
        try:
            with writing(self._engine).begin() as connection:
                connection.execute(insert(customers).values(values))
        except IntegrityError as exc:
            raise WalletExists(f"{number} already has a wallet") from exc
        return self._ensure_account(self.get(number))

    def get(self, msisdn: str) -> Customer:
        return self._get_with_hash(msisdn)[0]

    def _get_with_hash(self, msisdn: str) -> tuple[Customer, str | None]:
        """The wallet, and its PIN hash (None without a PIN), in one read."""
        number = phones.normalize(msisdn)
        row = _BY_MSISDN.first(self._engine, {"msisdn": number})
        if row is None:
            raise UnknownWallet(f"{number} has no wallet")
        customer = _customer(row._mapping)
        stored = row.pin_hash
        return customer if customer.account_id is not None else self._ensure_account(customer), stored

    def by_id(self, customer_id: int) -> Customer:
        row = _BY_ID.first(self._engine, {"b_id": customer_id})
        if row is None:
            raise UnknownWallet(f"no customer {customer_id}")
        customer = _customer(row._mapping)
        return customer if customer.account_id is not None else self._ensure_account(customer)

    def by_ids(self, customer_ids: Collection[int]) -> dict[int, Customer]:
        """:meth:`by_id` for several customers in one read (a payment's two sides)."""
        assert len(customer_ids) <= FIND_MANY_MAX, len(customer_ids)
        if not customer_ids:
            return {}
        rows = _BY_IDS.all(self._engine, {"b_ids": sorted(set(customer_ids))})
        found = [_customer(row._mapping) for row in rows]
        missing = set(customer_ids) - {c.id for c in found}
        if missing:
            raise UnknownWallet(f"no customer {min(missing)}")
        return {c.id: c if c.account_id is not None else self._ensure_account(c) for c in found}

    def find(self, msisdn: str) -> Customer | None:
        """The wallet of an already normalized number, or None (no error: "has no wallet yet")."""
        try:
            return self.get(msisdn)
        except UnknownWallet:
            return None

    def find_many(self, numbers: Collection[str]) -> dict[str, Customer]:
        """The wallets of already normalized numbers, in one query (numbers without one are missing):
        a channel that handles messages in batches reads its senders at once."""
        return {number: customer for number, (customer, _hash) in self.with_hashes(numbers).items()}

    def with_hashes(self, numbers: Collection[str]) -> dict[str, tuple[Customer, str | None]]:
        """:meth:`find_many` with each wallet's PIN hash, in one read: a payment's payer, whose PIN
        :meth:`verify_pin` checks against it, and its recipient."""
        assert len(numbers) <= FIND_MANY_MAX, len(numbers)
        if not numbers:
            return {}
        found: dict[str, tuple[Customer, str | None]] = {}
        for row in _BY_MSISDNS.all(self._engine, {"numbers": sorted(numbers)}):
            customer = _customer(row._mapping)
            found[customer.msisdn] = (customer if customer.account_id is not None
                                      else self._ensure_account(customer), row.pin_hash)
        return found

    def find_written(self, numbers: Collection[str]) -> dict[str, Customer]:
        """:meth:`find` for several numbers as they were written (normalised first), in one query: the
        wallets by the number as given (numbers without one, or that are no number, are missing)."""
        normal: dict[str, str] = {}
        for number in numbers:
            try:
                normal[number] = phones.normalize(number)
            except SikaError:
                continue
        found = self.find_many(set(normal.values()))
        return {given: found[n] for given, n in normal.items() if n in found}

    def ensure_unlocked(self, customer: Customer) -> None:
        """Money movement waits out a PIN lock, whatever credential the customer came with."""
        locked_until = customer.pin_locked_until_ns
        if locked_until is not None and locked_until > self._clock_ns():
            raise PinLocked(locked_until)

    def set_tier(self, msisdn: str, tier: int) -> Customer:
        """Move a customer to another tier; the ledger caps the wallet at the tier's balance_max.

        A lower cap than the balance refuses further credits and strands nothing.
        """
        customer = self._update(msisdn, tier=_tier(tier))
        assert customer.account_id is not None
        self._ledger.set_balance_max(customer.account_id, self._tiers[tier].balance_max)
        return customer

    def limits(self, customer: Customer) -> TierLimits:
        return self._tiers[customer.tier]

    def set_language(self, msisdn: str, language: str) -> Customer:
        if language not in LANGUAGES:
            raise SikaError(f"Sika speaks {', '.join(LANGUAGES)}", code="unsupported_language")
        return self._update(msisdn, language=language)

    # PINs ----------------------------------------------------------------------------------------

    def set_pin(self, msisdn: str, pin: Pin) -> Customer:
        """Set the first PIN of a wallet opened without one."""
        customer = self.get(msisdn)
        if customer.has_pin:
            raise SikaError("this wallet has a PIN already: change it instead", code="pin_already_set")
        return self._store_pin(customer, pin)

    def on_pin_change(self, listener: Callable[[int], object]) -> None:
        self._pin_listeners.append(listener)

    def change_pin(self, msisdn: str, old: Pin, new: Pin) -> Customer:
        customer = self.verify_pin(msisdn, old)
        return self._store_pin(customer, new)

    def reset_pin(self, msisdn: str, new: Pin, *, freeze_cash_out_s: int = 0) -> Customer:
        """Set a new PIN for a customer who lost it, once the reset was proven (a code sent to the
        number: :mod:`sika.wallet.pin_resets`); the locks are lifted and cash-out is frozen for
        ``freeze_cash_out_s``: whoever reset it must not walk away with the money at once."""
        customer = self.get(msisdn)
        frozen = self._clock_ns() + freeze_cash_out_s * _NS_PER_S if freeze_cash_out_s else None
        return self._store_pin(customer, new, cash_out_frozen_until_ns=frozen)

    def ensure_cash_out_allowed(self, customer: Customer) -> None:
        frozen_until = customer.cash_out_frozen_until_ns
        if frozen_until is not None and frozen_until > self._clock_ns():
            raise CashOutFrozen(frozen_until)

    def verify_login(self, msisdn: str, pin: Pin) -> Customer:
        """A login without the customer's phone (``POST /v1/sessions``): the same PIN, but wrong
        tries count apart and lock only this kind of login, so that a stranger who knows the number
        cannot lock the owner out of WhatsApp or USSD. A number without a wallet answers as a wrong
        PIN does, after as long, so that logins do not tell which numbers have wallets."""
        customer = self.find(phones.normalize(msisdn))
        now_ns = self._clock_ns()
        if customer is None or not customer.has_pin:
            self._hasher.verify(self._decoy, pin)
            raise InvalidPin(tries_left=0, what="", generic=True)
        for until in (customer.pin_locked_until_ns, customer.login_locked_until_ns):
            if until is not None and until > now_ns:
                raise PinLocked(until, what="logins")
        stored = self._pin_hash(customer.id)
        if self._hasher.verify(stored, pin):
            self._upgrade_hash(customer.id, stored, pin)
            return self._record_login(customer, now_ns, success=True)
        return self._record_login(customer, now_ns, success=False)

    def verify_pin(self, msisdn: str, pin: Pin, *,
                   read: Mapping[str, tuple[Customer, str | None]] | None = None) -> Customer:
        """The customer if ``pin`` is right; else :class:`InvalidPin` or :class:`PinLocked`.
        ``read``: :meth:`with_hashes` a moment ago, the wallet's PIN state as fresh as a read here."""
        if read is None:
            customer, stored = self._get_with_hash(msisdn)  # one read: a PIN step costs few
        else:
            number = phones.normalize(msisdn)
            if number not in read:
                raise UnknownWallet(f"{number} has no wallet")
            customer, stored = read[number]
        now_ns = self._clock_ns()
        if customer.pin_locked_until_ns is not None and customer.pin_locked_until_ns > now_ns:
            raise PinLocked(customer.pin_locked_until_ns)
        if stored is None:
            raise SikaError("set a PIN first", code="pin_not_set")
        if self._hasher.verify(stored, pin):
            self._upgrade_hash(customer.id, stored, pin)
            return self._record_success(customer, now_ns)
        return self._record_failure(customer, now_ns)

    # Internals -----------------------------------------------------------------------------------

    def _record_success(self, customer: Customer, now_ns: int) -> Customer:
        if customer.pin_failures == 0 and customer.pin_locked_until_ns is None:
            # Nothing to reset, and not locked as of the read the PIN was checked against (a lock
            # coming later comes after this success): no write transaction, whose commit a
            # payment's PIN step would wait for.
            return customer
        c = customers.c
        with writing(self._engine).begin() as connection:
            done = connection.execute(
                update(customers)
                .where(c.id == customer.id, _unlocked(now_ns))
                .values(pin_failures=0, pin_locked_until_ns=None)
            ).rowcount
        if not done:  # another try locked the wallet while this PIN was being checked
            raise PinLocked(self.get(customer.msisdn).pin_locked_until_ns or now_ns)
        return self.get(customer.msisdn)

    def _record_failure(self, customer: Customer, now_ns: int) -> Customer:
        c = customers.c
        lock_expired = c.pin_locked_until_ns.is_not(None) & (c.pin_locked_until_ns <= now_ns)
        failures = case((lock_expired, literal(1)), else_=c.pin_failures + 1)
        locked_until = case(
            (failures >= self._tries_max, literal(now_ns + self._lock_ns)),
            (lock_expired, literal(None)),
            else_=c.pin_locked_until_ns,
        )
        with writing(self._engine).begin() as connection:
            row = connection.execute(
                update(customers)
                .where(c.id == customer.id, _unlocked(now_ns))
                .values(pin_failures=failures, pin_locked_until_ns=locked_until)
                .returning(c.pin_failures, c.pin_locked_until_ns)
            ).first()
        if row is None:
            raise PinLocked(self.get(customer.msisdn).pin_locked_until_ns or now_ns)
        count, until = row
        if until is not None and until > now_ns:
            raise PinLocked(until)
        raise InvalidPin(tries_left=self._tries_max - count)

    def _record_login(self, customer: Customer, now_ns: int, *, success: bool) -> Customer:
        c = customers.c
        if success:
            values: dict[str, Any] = {"login_failures": 0, "login_locked_until_ns": None}
        else:
            expired = c.login_locked_until_ns.is_not(None) & (c.login_locked_until_ns <= now_ns)
            failures = case((expired, literal(1)), else_=c.login_failures + 1)
            values = {"login_failures": failures, "login_locked_until_ns": case(
                (failures >= self._tries_max, literal(now_ns + self._lock_ns)), else_=literal(None))}
        unlocked = c.login_locked_until_ns.is_(None) | (c.login_locked_until_ns <= now_ns)
        with writing(self._engine).begin() as connection:
            row = connection.execute(
                update(customers).where(c.id == customer.id, unlocked).values(values)
                .returning(c.login_failures, c.login_locked_until_ns)).first()
        if row is None:  # another try locked the login meanwhile
            raise PinLocked(self.get(customer.msisdn).login_locked_until_ns or now_ns, what="logins")
        if success:
            return self.get(customer.msisdn)
        count, until = row
        if until is not None and until > now_ns:
            raise PinLocked(until, what="logins")
        raise InvalidPin(tries_left=self._tries_max - count, what="logins lock", generic=True)

    def _store_pin(self, customer: Customer, pin: Pin, **more: Any) -> Customer:
        pin.check_strength()
        stored = self._update(customer.msisdn, pin_hash=self._hasher.hash(pin), pin_failures=0,
                              pin_locked_until_ns=None, login_failures=0, login_locked_until_ns=None,
                              **more)
        for listener in self._pin_listeners:
            listener(customer.id)
        return stored

    def _upgrade_hash(self, customer_id: int, stored: str, pin: Pin) -> None:
        """An argon2id hash, or one under an older key, is replaced by the current kind once the
        right PIN is known; only if the stored hash is still the one checked (a PIN changed
        meanwhile stays changed)."""
        if not self._hasher.needs_rehash(stored):
            return
        c = customers.c
        with writing(self._engine).begin() as connection:
            connection.execute(update(customers).where(c.id == customer_id, c.pin_hash == stored)
                               .values(pin_hash=self._hasher.hash(pin)))

    def _pin_hash(self, customer_id: int) -> str:
        with self._engine.connect() as connection:
            stored = connection.execute(
                select(customers.c.pin_hash).where(customers.c.id == customer_id)
            ).scalar_one()
        assert stored is not None
        return str(stored)

    def _update(self, msisdn: str, **values: Any) -> Customer:
        customer = self.get(msisdn)
        with writing(self._engine).begin() as connection:
            connection.execute(update(customers).where(customers.c.id == customer.id).values(values))
        return self.get(msisdn)

    def _ensure_account(self, customer: Customer) -> Customer:
        """Give the customer a ledger account if it has none yet.

        The ledger opens accounts in its own transaction, so a crash between the two can leave a
        customer row without one; the next read repairs it. The guarded UPDATE makes concurrent
        repairs agree on one account (a losing repair leaves an empty, unused account).
        """
        if customer.account_id is not None:
            return customer
        account = self._ledger.create_account(
            currency="XOF",
            kind=AccountKind.CUSTOMER_WALLET,
            flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            metadata={"msisdn": customer.msisdn},
            balance_max=self._tiers[customer.tier].balance_max,
        )
        with writing(self._engine).begin() as connection:
            connection.execute(
                update(customers)
                .where(customers.c.id == customer.id, customers.c.account_id.is_(None))
                .values(account_id=account.id)
            )
        return self.get(customer.msisdn)


def _unlocked(now_ns: int) -> Any:
    c = customers.c
    return c.pin_locked_until_ns.is_(None) | (c.pin_locked_until_ns <= now_ns)


def _customer(row: Any) -> Customer:
    return Customer(
        id=row["id"],
        msisdn=row["msisdn"],
        name=row["name"],
        language=row["language"],
        tier=row["tier"],
        account_id=row["account_id"],
        has_pin=row["pin_hash"] is not None,
        pin_failures=row["pin_failures"],
        pin_locked_until_ns=row["pin_locked_until_ns"],
        created_at_ns=row["created_at_ns"],
        login_failures=row["login_failures"],
        login_locked_until_ns=row["login_locked_until_ns"],
        cash_out_frozen_until_ns=row["cash_out_frozen_until_ns"],
    )


def _clean_name(name: str) -> str:
    # Invisible characters (controls, zero-width, direction marks) are dropped, not refused: a name
    # pasted from elsewhere often carries some.
    visible = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable() or ch.isspace())
    cleaned = " ".join(visible.split())
    if not cleaned or len(cleaned) > NAME_CHARS_MAX or not cleaned.isprintable():
        raise SikaError(f"a name has 1 to {NAME_CHARS_MAX} printable characters", code="invalid_name")
    return cleaned


def _language(language: str | None, msisdn: str) -> str:
    if language is None:
        return phones.default_language(msisdn)
    if language not in LANGUAGES:
        raise SikaError(f"Sika speaks {', '.join(LANGUAGES)}", code="unsupported_language")
    return language


def _tier(tier: int) -> int:
    if not 0 <= tier <= TIER_MAX:
        raise SikaError(f"a tier is 0 to {TIER_MAX}", code="invalid_tier")
    return tier
