"""Merchant callbacks: one signed POST per payment event, retried until the merchant answers 2xx.

The event is queued in the transaction that records the payment's outcome (``dedupe_key`` is the
payment and event, so each event is queued once), and delivered by workers that claim it under a
lease. The body is signed like Stripe's webhooks: header
``Sika-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the merchant's key>``,
so a merchant can check it came from us and is fresh. ``Sika-Event-Id`` is stable across retries: a
merchant that sees it twice (our retry after its 2xx got lost) drops the second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sika.payments.queue import backoff_ns, claim_due, renew
from sika.payments.schema import callbacks, merchants

__all__ = ["Callbacks", "enqueue_callback", "sign", "verify"]

log = logging.getLogger(__name__)

LEASE_S = 60
TIMEOUT_S = 10.0
# 2 s doubling to an hour between tries: about a day and a half of retries before giving up.
ATTEMPTS_MAX = 40
ERROR_CHARS_MAX = 200
SIGNATURE_TOLERANCE_S = 300

Poster = Callable[[str, bytes, dict[str, str]], int]


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now_s: int | None = None) -> bool:
    """What a merchant runs: the signature matches and is recent (constant-time comparison)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now_s = int(time.time()) if now_s is None else now_s
    if abs(now_s - timestamp) > SIGNATURE_TOLERANCE_S:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def enqueue_callback(connection: Connection, *, merchant_id: int, event: str, event_id: str,
                     data: dict[str, Any], now_ns: int) -> None:
    """Queue ``event`` for the merchant in the caller's transaction, once per ``event_id``."""
    url = connection.execute(
        select(merchants.c.callback_url).where(merchants.c.id == merchant_id)).scalar_one_or_none()
    if not url:
        return  # this merchant polls instead
    payload = {"id": event_id, "type": event, "created": now_ns // 1_000_000_000, "data": data}
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(dialect.insert(callbacks).values(
        dedupe_key=event_id, merchant_id=merchant_id, url=url,
        payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False), status="queued",
        next_attempt_ns=now_ns, created_at_ns=now_ns,
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]))


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (http(s) only, checked at merchant creation)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Callbacks:
    def __init__(self, engine: Engine, *, poster: Poster = _post,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._post = poster
        self._clock_ns = clock_ns

    def deliver_due(self, limit: int = 50) -> int:
        rows = claim_due(self._engine, callbacks, now_ns=self._clock_ns(), limit=limit, lease_s=LEASE_S)
        for row in rows:
            lease = renew(self._engine, callbacks, row["id"], row["lease_until_ns"], now_ns=self._clock_ns(),
                          lease_s=LEASE_S)
            if lease is not None:  # else another worker took it over while we were busy
                self._deliver(row, lease)
        return len(rows)

    def _deliver(self, row: Any, lease: int) -> None:
        with self._engine.connect() as connection:
            secret = connection.execute(select(merchants.c.callback_secret).where(
                merchants.c.id == row["merchant_id"])).scalar_one()
        body = row["payload"].encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Sika-Callbacks/1",
                   "Sika-Event-Id": row["dedupe_key"],
                   "Sika-Signature": sign(secret, body, self._clock_ns() // 1_000_000_000)}
        try:
            status = self._post(row["url"], body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
            error = f"{type(exc).__name__}: {exc}"
        now = self._clock_ns()
        values: dict[str, Any]
        if error is None:
            values = {"status": "delivered", "delivered_at_ns": now, "lease_until_ns": None}
        else:
            log.info("callback %s to %s failed (%s); retrying", row["dedupe_key"], row["url"], error)
            values = {"status": "failed" if row["attempts"] >= ATTEMPTS_MAX else "queued",
                      "next_attempt_ns": now + backoff_ns(row["attempts"]), "lease_until_ns": None,
                      "last_error": error[:ERROR_CHARS_MAX]}
        with self._engine.begin() as connection:
            connection.execute(update(callbacks).where(
                and_(callbacks.c.id == row["id"], callbacks.c.status == "queued",
                     callbacks.c.lease_until_ns == lease)).values(values))

    def undelivered(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(callbacks.c.dedupe_key, callbacks.c.url, callbacks.c.status, callbacks.c.attempts,
                       callbacks.c.last_error)
                .where(callbacks.c.status != "delivered", callbacks.c.attempts > 0)
                .order_by(callbacks.c.id).limit(limit)).mappings().all()
        return [dict(row) for row in rows]
