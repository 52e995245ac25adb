"""Operator accounts: a name, a role, an argon2id password, an optional TOTP second factor, a lockout.

Roles, each able to do what the one before can:

- ``viewer`` reads every page;
- ``operator`` also runs operational actions (reconciliation jobs) and *proposes* money movements;
- ``approver`` also *approves* proposals made by someone else (maker-checker).

An admin API key may open a console session too; it counts as an approver (``admin``).
"""

from __future__ import annotations

import enum
import functools
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from sika.console import totp
from sika.console.i18n import N_
from sika.console.schema import operators
from sika.errors import SikaError

__all__ = ["LoginRefused", "Operator", "Operators", "Role", "prepare"]

NAME_CHARS_MAX = 80
PASSWORD_CHARS_MIN = 12
PASSWORD_CHARS_MAX = 256
FAILURES_MAX = 5
LOCK_S = 15 * 60
_NS = 1_000_000_000
# argon2-cffi's defaults for interactive logins (RFC 9106's second recommendation, argon2id).
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked when the name is unknown, so that a wrong name costs as long as a wrong password. Made
    by :func:`prepare` when the server starts, not at import, where every `sika` command would pay a
    hash for it; nor at the first login, which would then take longer for an unknown name."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def prepare() -> None:
    """Make what logins need before the first one comes (the server's start calls it)."""
    _dummy_hash()


class Role(enum.StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"  # an admin API key's session

    @property
    def may_act(self) -> bool:
        return self is not Role.VIEWER

    @property
    def may_approve(self) -> bool:
        return self in (Role.APPROVER, Role.ADMIN)


# The roles' names as the pages show them (translated there).
ROLE_LABELS = (N_("viewer"), N_("operator"), N_("approver"), N_("admin"))


class LoginRefused(SikaError):
    """Wrong name, password or code, a locked or disabled account: one message for all, so a
    stranger learns nothing about which names exist."""

    code = "login_refused"


@dataclass(frozen=True, slots=True)
class Operator:
    id: int
    name: str
    role: Role
    totp_enabled: bool
    locked_until_ns: int | None
    disabled: bool
    created_at_ns: int

    @property
    def actor(self) -> str:
        return f"operator:{self.id}"


def _check_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= NAME_CHARS_MAX or not name.isprintable():
        raise SikaError(f"an operator's name has 1 to {NAME_CHARS_MAX} characters", code="invalid_name")
    return name


def _check_password(password: str) -> str:
    if not PASSWORD_CHARS_MIN <= len(password) <= PASSWORD_CHARS_MAX:
        raise SikaError(f"a password has {PASSWORD_CHARS_MIN} to {PASSWORD_CHARS_MAX} characters",
                        code="weak_password")
    return password


class Operators:
    def __init__(self, engine: Engine, *, clock_ns: Callable[[], int] = time.time_ns,
                 failures_max: int = FAILURES_MAX, lock_s: int = LOCK_S) -> None:
        self._engine = engine
        self.engine = engine
        self._clock_ns = clock_ns
        self._failures_max = failures_max
        self._lock_ns = lock_s * _NS

    def create(self, name: str, role: Role | str, password: str | None = None) -> tuple[Operator, str]:
        """A new operator and its initial password (generated when not given)."""
        name = _check_name(name)
        role = Role(role)
        if role is Role.ADMIN:
            raise SikaError("operators are viewer, operator or approver", code="invalid_role")
        password = _check_password(password) if password is not None else secrets.token_urlsafe(15)
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(operators).values(
                    name=name, role=str(role), password_hash=_HASHER.hash(password),
                    created_at_ns=self._clock_ns()))
        except IntegrityError as exc:
            raise SikaError(f"an operator called {name!r} exists", code="operator_exists") from exc
        return self.get(name), password

    def get(self, name: str) -> Operator:
        row = self._row(name.strip())
        if row is None:
            raise SikaError(f"no operator called {name!r}", code="unknown_operator")
        return _operator(row)

    def list(self, limit: int = 200) -> list[Operator]:
        assert 0 < limit <= 1_000
        with self._engine.connect() as connection:
            rows = connection.execute(select(operators).order_by(operators.c.id).limit(limit)).mappings()
            return [_operator(dict(row)) for row in rows]

    def authenticate(self, name: str, password: str, code: str = "") -> Operator:
        """The operator, when the password (and the TOTP code, when enabled) are right; wrong tries
        count, and ``FAILURES_MAX`` in a row lock the account for ``LOCK_S``."""
        now = self._clock_ns()
        row = self._row(name.strip()[:NAME_CHARS_MAX])
        if row is None:
            _verify(_dummy_hash(), password)
            raise LoginRefused("wrong name, password or code")
        if row["disabled_at_ns"] is not None:
            raise LoginRefused("wrong name, password or code")
        if row["locked_until_ns"] is not None and row["locked_until_ns"] > now:
            raise LoginRefused("too many wrong tries: this account is locked for a while",
                               code="login_locked")
        step = None
        ok = _verify(row["password_hash"], password[:PASSWORD_CHARS_MAX])
        if ok and row["totp_secret"]:
            step = totp.verify(row["totp_secret"], code, at_s=now / _NS, last_step=row["totp_last_step"])
            ok = step is not None
        if not ok:
            self._failed(row, now)
            raise LoginRefused("wrong name, password or code")
        values: dict[str, Any] = {"failures": 0, "locked_until_ns": None}
        if step is not None:
            values["totp_last_step"] = step
        with self._engine.begin() as connection:
            connection.execute(update(operators).where(operators.c.id == row["id"]).values(**values))
        return self.get(row["name"])

    def set_password(self, name: str, password: str) -> Operator:
        self._set(name, password_hash=_HASHER.hash(_check_password(password)), failures=0,
                  locked_until_ns=None)
        return self.get(name)

    def enable_totp(self, name: str) -> str:
        """Turn the second factor on; returns the secret to give the operator's authenticator app."""
        secret = totp.new_secret()
        self._set(name, totp_secret=secret, totp_last_step=None)
        return secret

    def disable(self, name: str) -> None:
        self._set(name, disabled_at_ns=self._clock_ns())

    def unlock(self, name: str) -> None:
        self._set(name, failures=0, locked_until_ns=None)

    def _failed(self, row: Mapping[str, Any], now: int) -> None:
        failures = int(row["failures"]) + 1
        locked = now + self._lock_ns if failures >= self._failures_max else None
        with self._engine.begin() as connection:
            connection.execute(update(operators).where(operators.c.id == row["id"]).values(
                failures=0 if locked else failures, locked_until_ns=locked))

    def _set(self, name: str, **values: object) -> None:
        with self._engine.begin() as connection:
            done = connection.execute(update(operators).where(operators.c.name == name.strip())
                                      .values(**values)).rowcount
        if not done:
            raise SikaError(f"no operator called {name!r}", code="unknown_operator")

    def _row(self, name: str) -> Mapping[str, Any] | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(operators).where(operators.c.name == name)).mappings().first()
        return dict(row) if row is not None else None


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _operator(row: Mapping[str, Any]) -> Operator:
    return Operator(id=row["id"], name=row["name"], role=Role(row["role"]),
                    totp_enabled=row["totp_secret"] is not None, locked_until_ns=row["locked_until_ns"],
                    disabled=row["disabled_at_ns"] is not None, created_at_ns=row["created_at_ns"])
