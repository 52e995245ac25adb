"""PIN resets: a customer who lost the PIN gets a new one only with a factor they hold.

An agent (or an operator) starts a reset; a one-time code goes to the wallet's own number through the
outbox (message kind ``pin_reset_code``, the code under the outbox's secret key so that it is wiped
once delivered, like a voucher's). The new PIN is set only with that code, so an agent alone cannot
take a wallet over. The reset lifts the PIN locks, ends every session, and freezes cash-out for a
while (``freeze_cash_out_s``): whoever reset it must not walk away with the money at once.

A reset's states: ``pending`` → ``used`` (the right code), ``blocked`` (too many wrong codes),
``expired`` (a newer reset replaced it; a pending one past its time counts as expired).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from sika.db import writing
from sika.errors import SikaError
from sika.wallet.customers import Customer, Customers
from sika.wallet.pins import Pin
from sika.wallet.schema import pin_resets

__all__ = ["CODE_DIGITS", "KIND", "Notify", "PinResets", "ResetRefused", "StartedReset"]

CODE_DIGITS = 6
KIND = "pin_reset_code"
TTL_S = 900
TRIES_MAX = 3
FREEZE_CASH_OUT_S = 24 * 3600
_NS_PER_S = 1_000_000_000
# enqueue(connection, dedupe_key=, msisdn=, kind=, params=, now_ns=): the outbox, injected so that the
# wallet does not depend on the payments package that depends on it.
Notify = Callable[..., None]


class ResetRefused(SikaError):
    code = "invalid_reset_code"


@dataclass(frozen=True, slots=True)
class StartedReset:
    id: int
    expires_at_ns: int


class PinResets:
    def __init__(self, engine: Engine, customers: Customers, notify: Notify, *, code_key: bytes,
                 secret_param: str, ttl_s: int = TTL_S, freeze_cash_out_s: int = FREEZE_CASH_OUT_S,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        assert ttl_s > 0 and freeze_cash_out_s >= 0 and code_key
        self._engine = engine
        self._customers = customers
        self._notify = notify
        self._key = code_key
        self._secret_param = secret_param
        self._ttl_ns = ttl_s * _NS_PER_S
        self.freeze_cash_out_s = freeze_cash_out_s
        self._clock_ns = clock_ns

    def start(self, customer: Customer, *, requested_by: int | None) -> StartedReset:
        """A new code to the customer's number; any earlier pending reset ends."""
        now = self._clock_ns()
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        expires = now + self._ttl_ns
        with writing(self._engine).begin() as connection:
            connection.execute(update(pin_resets).where(
                pin_resets.c.customer_id == customer.id, pin_resets.c.status == "pending"
            ).values(status="expired"))
            reset_id = int(connection.execute(insert(pin_resets).values(
                customer_id=customer.id, code_digest="", status="pending", requested_by=requested_by,
                expires_at_ns=expires, created_at_ns=now).returning(pin_resets.c.id)).scalar_one())
            connection.execute(update(pin_resets).where(pin_resets.c.id == reset_id).values(
                code_digest=self._digest(reset_id, code)))
            self._send(connection, customer, reset_id, code, now)
        return StartedReset(id=reset_id, expires_at_ns=expires)

    def complete(self, customer: Customer, code: str, new_pin: Pin) -> Customer:
        """Set ``new_pin`` if ``code`` is the pending reset's; a few wrong codes end the reset."""
        new_pin.check_strength()
        now = self._clock_ns()
        with self._engine.connect() as connection:
            row = connection.execute(
                select(pin_resets).where(pin_resets.c.customer_id == customer.id,
                                         pin_resets.c.status == "pending", pin_resets.c.expires_at_ns > now)
                .order_by(pin_resets.c.id.desc()).limit(1)).mappings().first()
        if row is None:
            raise ResetRefused("no PIN reset is waiting for this wallet: start one (the code lives "
                               f"{self._ttl_ns // _NS_PER_S // 60} minutes)")
        if not hmac.compare_digest(row["code_digest"], self._digest(int(row["id"]), code)):
            self._wrong(int(row["id"]))
            raise ResetRefused("wrong reset code")
        with writing(self._engine).begin() as connection:
            used = connection.execute(
                update(pin_resets).where(pin_resets.c.id == row["id"], pin_resets.c.status == "pending")
                .values(status="used")).rowcount
        if not used:  # a concurrent completion, or a block, won
            raise ResetRefused("this PIN reset is over: start another")
        return self._customers.reset_pin(customer.msisdn, new_pin, freeze_cash_out_s=self.freeze_cash_out_s)

    def _wrong(self, reset_id: int) -> None:
        c = pin_resets.c
        with writing(self._engine).begin() as connection:
            connection.execute(update(pin_resets).where(c.id == reset_id).values(
                failed_tries=c.failed_tries + 1))
            connection.execute(
                update(pin_resets).where(c.id == reset_id, c.failed_tries >= TRIES_MAX, c.status == "pending")
                .values(status="blocked"))

    def _send(self, connection: Connection, customer: Customer, reset_id: int, code: str, now: int) -> None:
        params: dict[str, Any] = {self._secret_param: code,
                                  "expires_min": self._ttl_ns // _NS_PER_S // 60}
        self._notify(connection, dedupe_key=f"pin-reset:{reset_id}", msisdn=customer.msisdn, kind=KIND,
                     params=params, now_ns=now)

    def _digest(self, reset_id: int, code: str) -> str:
        return hmac.new(self._key, f"pin-reset:{reset_id}:{code}".encode(), hashlib.sha256).hexdigest()
