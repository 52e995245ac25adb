"""Agents (the shops where people cash in and out) and merchants (who are paid), with their accounts.

Each has an API key (role agent or merchant) and a ledger account: an agent's float (e-money it sells
to customers for cash and buys back) and a merchant's collection account. Neither may go negative.
"""

from __future__ import annotations

import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, Table, insert, select, update

from sika import phones
from sika.auth import ApiKeys, Role
from sika.errors import SikaError
from sika.ledger import AccountFlags, AccountKind, Ledger
from sika.money import XOF
from sika.payments.schema import agents, merchants

__all__ = ["Agent", "Agents", "Merchant", "Merchants", "UnknownAgent", "UnknownMerchant"]

NAME_CHARS_MAX = 80
URL_CHARS_MAX = 500


class UnknownAgent(SikaError):
    code = "unknown_agent"


class UnknownMerchant(SikaError):
    code = "unknown_merchant"


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    name: str
    msisdn: str | None
    api_key_id: int
    float_account_id: int


@dataclass(frozen=True, slots=True)
class Merchant:
    id: int
    name: str
    api_key_id: int
    account_id: int
    callback_url: str | None
    callback_secret: str


def _name(name: str) -> str:
    # Invisible characters are dropped, not refused (as for customers' names).
    visible = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable() or ch.isspace())
    cleaned = " ".join(visible.split())
    if not cleaned or len(cleaned) > NAME_CHARS_MAX:
        raise SikaError(f"a name has 1 to {NAME_CHARS_MAX} printable characters", code="invalid_name")
    return cleaned


def _callback_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > URL_CHARS_MAX:
        raise SikaError("a callback URL is http(s)://host/path, at most 500 characters",
                        code="invalid_callback_url")
    return url


class _Registry:
    table: Table

    def __init__(self, engine: Engine, ledger: Ledger, api_keys: ApiKeys,
                 clock_ns: Callable[[], int] = time.time_ns, *, currency: str = XOF.code) -> None:
        self._engine = engine
        self._currency = currency  # of the floats and merchant accounts it opens
        self._ledger = ledger
        self._api_keys = api_keys
        self._clock_ns = clock_ns

    def _row(self, *where: Any) -> Any:
        with self._engine.connect() as connection:
            return connection.execute(select(self.table).where(*where)).mappings().first()

    def rotate_key(self, row_id: int, role: Role, name: str) -> str:
        """A new API key for this agent or merchant; the old one stops working at once."""
        key, secret = self._api_keys.create(role, name)
        old = self._row(self.table.c.id == row_id)["api_key_id"]
        with self._engine.begin() as connection:
            connection.execute(update(self.table).where(self.table.c.id == row_id).values(api_key_id=key.id))
        self._api_keys.revoke(old)
        return secret

    def _rows(self, limit: int) -> list[Any]:
        with self._engine.connect() as connection:
            return list(connection.execute(
                select(self.table).order_by(self.table.c.id).limit(limit)).mappings())


class Agents(_Registry):
    table = agents

    def create(self, name: str, *, msisdn: str | None = None) -> tuple[Agent, str]:
        """A new agent with an empty float; returns it and its API key (shown once)."""
        name = _name(name)
        number = phones.normalize(msisdn) if msisdn is not None else None
        key, secret = self._api_keys.create(Role.AGENT, name)
        account = self._ledger.create_account(
            currency=self._currency, kind=AccountKind.AGENT_FLOAT,
            flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, metadata={"agent": name})
        with self._engine.begin() as connection:
            connection.execute(insert(agents).values(
                name=name, msisdn=number, api_key_id=key.id, float_account_id=account.id,
                created_at_ns=self._clock_ns()))
        return self.by_key(key.id), secret

    def get(self, agent_id: int) -> Agent:
        row = self._row(agents.c.id == agent_id)
        if row is None:
            raise UnknownAgent(f"no agent {agent_id}")
        return _agent(row)

    def by_key(self, api_key_id: int) -> Agent:
        row = self._row(agents.c.api_key_id == api_key_id)
        if row is None:
            raise UnknownAgent("this API key belongs to no agent: create agents with `sika agent create`")
        return _agent(row)

    def list(self, limit: int = 200) -> list[Agent]:
        return [_agent(row) for row in self._rows(limit)]


class Merchants(_Registry):
    table = merchants

    def create(self, name: str, *, callback_url: str | None = None) -> tuple[Merchant, str]:
        """A new merchant; returns it (with its callback signing key) and its API key (shown once)."""
        name = _name(name)
        url = _callback_url(callback_url)
        key, secret = self._api_keys.create(Role.MERCHANT, name)
        account = self._ledger.create_account(
            currency=self._currency, kind=AccountKind.MERCHANT,
            flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, metadata={"merchant": name})
        with self._engine.begin() as connection:
            connection.execute(insert(merchants).values(
                name=name, api_key_id=key.id, account_id=account.id, callback_url=url,
                callback_secret="whsec_" + secrets.token_urlsafe(32), created_at_ns=self._clock_ns()))
        return self.by_key(key.id), secret

    def get(self, merchant_id: int) -> Merchant:
        row = self._row(merchants.c.id == merchant_id)
        if row is None:
            raise UnknownMerchant(f"no merchant {merchant_id}")
        return _merchant(row)

    def by_key(self, api_key_id: int) -> Merchant:
        row = self._row(merchants.c.api_key_id == api_key_id)
        if row is None:
            raise UnknownMerchant("this API key belongs to no merchant: use `sika merchant create`")
        return _merchant(row)

    def list(self, limit: int = 200) -> list[Merchant]:
        return [_merchant(row) for row in self._rows(limit)]


def _agent(row: Any) -> Agent:
    return Agent(id=row["id"], name=row["name"], msisdn=row["msisdn"], api_key_id=row["api_key_id"],
                 float_account_id=row["float_account_id"])


def _merchant(row: Any) -> Merchant:
    return Merchant(id=row["id"], name=row["name"], api_key_id=row["api_key_id"],
                    account_id=row["account_id"], callback_url=row["callback_url"],
                    callback_secret=row["callback_secret"])
