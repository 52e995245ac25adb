"""Customer sessions: a PIN, checked once, buys a bearer token for a short while."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from sika.auth._secrets import digest, new_secret
from sika.auth.schema import sessions
from sika.auth.throttle import LoginThrottle
from sika.db import writing
from sika.wallet.customers import Customer, Customers, InvalidPin
from sika.wallet.pins import Pin

__all__ = ["Session", "Sessions"]

_TOKEN_PREFIX = "ct_"  # noqa: S105 - a prefix, not a secret
_TOKEN_CHARS_MAX = 128
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    customer: Customer
    expires_at_ns: int


class Sessions:
    def __init__(
        self,
        engine: Engine,
        customers: Customers,
        *,
        ttl_s: int = 900,
        clock_ns: Callable[[], int] = time.time_ns,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._engine = engine
        self._customers = customers
        self._ttl_ns = ttl_s * _NS_PER_S
        self._clock_ns = clock_ns
        self.throttle = throttle or LoginThrottle(engine, clock_ns=clock_ns)
        # A new PIN ends every session the old one opened.
        customers.on_pin_change(self.revoke_all)

    def open(self, msisdn: str, pin: Pin, *, source: str = "unknown") -> Session:
        """Check the PIN (counting wrong tries per wallet and per ``source``, the caller's address;
        locking the login after too many) and issue a token."""
        self.throttle.check(source)
        try:
            customer = self._customers.verify_login(msisdn, pin)
        except InvalidPin:
            self.throttle.failed(source)
            raise
        token = new_secret(_TOKEN_PREFIX)
        now_ns = self._clock_ns()
        expires_at_ns = now_ns + self._ttl_ns
        with writing(self._engine).begin() as connection:
            # Expired sessions are swept as new ones open: the table stays small without a job.
            connection.execute(delete(sessions).where(sessions.c.expires_at_ns <= now_ns))
            connection.execute(
                insert(sessions).values(token_digest=digest(token), customer_id=customer.id,
                                        expires_at_ns=expires_at_ns)
            )
        return Session(token=token, customer=customer, expires_at_ns=expires_at_ns)

    def customer_id(self, token: str) -> int | None:
        """The customer a live token belongs to, or None."""
        if not token.startswith(_TOKEN_PREFIX) or len(token) > _TOKEN_CHARS_MAX:
            return None
        with self._engine.connect() as connection:
            found = connection.execute(
                select(sessions.c.customer_id).where(
                    sessions.c.token_digest == digest(token),
                    sessions.c.expires_at_ns > self._clock_ns(),
                )
            ).scalar()
        return int(found) if found is not None else None

    def revoke_all(self, customer_id: int) -> int:
        """End every session of the customer (a PIN changed or reset); returns how many."""
        with writing(self._engine).begin() as connection:
            return int(connection.execute(
                delete(sessions).where(sessions.c.customer_id == customer_id)).rowcount)
