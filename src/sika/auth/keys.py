"""API keys for agents, merchants and operators. The key is shown once, at creation."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from sika.auth._secrets import digest, new_secret
from sika.auth.schema import api_keys
from sika.errors import SikaError

__all__ = ["ApiKey", "ApiKeys", "Role"]

_KEY_PREFIX = "sk_"
_KEY_CHARS_MAX = 128
_NAME_CHARS_MAX = 80


class Role(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    MERCHANT = "merchant"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    role: Role


class ApiKeys:
    def __init__(self, engine: Engine, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._clock_ns = clock_ns

    def create(self, role: Role, name: str) -> tuple[ApiKey, str]:
        """A new key: its record and the secret, which is not stored and cannot be shown again."""
        name = name.strip()
        if not name or len(name) > _NAME_CHARS_MAX or not name.isprintable():
            raise SikaError(f"a key's name has 1 to {_NAME_CHARS_MAX} characters", code="invalid_name")
        secret = new_secret(_KEY_PREFIX)
        with self._engine.begin() as connection:
            key_id = connection.execute(
                insert(api_keys)
                .values(name=name, role=str(Role(role)), key_digest=digest(secret),
                        created_at_ns=self._clock_ns())
                .returning(api_keys.c.id)
            ).scalar_one()
        return ApiKey(id=key_id, name=name, role=Role(role)), secret

    def authenticate(self, secret: str) -> ApiKey | None:
        if not secret.startswith(_KEY_PREFIX) or len(secret) > _KEY_CHARS_MAX:
            return None
        with self._engine.connect() as connection:
            row = connection.execute(
                select(api_keys.c.id, api_keys.c.name, api_keys.c.role).where(
                    api_keys.c.key_digest == digest(secret), api_keys.c.revoked_at_ns.is_(None)
                )
            ).first()
        return ApiKey(id=row.id, name=row.name, role=Role(row.role)) if row is not None else None

    def revoke(self, key_id: int) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at_ns.is_(None))
                .values(revoked_at_ns=self._clock_ns()))
