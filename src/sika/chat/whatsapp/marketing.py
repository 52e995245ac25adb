"""Marketing on WhatsApp: only as an approved marketing template, sent while the outbox waits, and
never counted as delivered unless Meta accepted it.

Receipts go through the outbound queue (:meth:`WhatsApp.deliver` returns once queued, and the queue
retries). A promotion is sent at once instead, so that the outbox learns what came of it:

- Meta's **131049** (the per-user marketing limit: "not delivered to maintain healthy ecosystem
  engagement") pauses marketing to that person for :data:`LIMIT_PAUSE_S` (Meta asks for no retry
  within 24 hours) and raises: the outbox keeps the message, the notification policy holds it past
  the pause, and drops it when that makes it stale.
- Meta's **131056** (pair rate limit: too many messages to one person) is retried by the Graph client
  with back-off; if it persists, the error goes to the outbox, which tries again later.

Either way the outbound row is marked failed (the queue never resends a promotion on its own: the
outbox does, under a new key per attempt), and nothing is recorded as delivered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from sqlalchemy import Engine

from sika.chat.whatsapp.graph import GraphClient, GraphError
from sika.chat.whatsapp.render import render_template
from sika.chat.whatsapp.store import (
    Outgoing,
    enqueue_outbound,
    lease_outbound,
    outbound_status,
    sent_outbound,
    unsent_outbound,
)
from sika.db import writing
from sika.errors import SikaError
from sika.payments.channels import Message

__all__ = ["LIMIT_PAUSE_S", "PAIR_RATE_LIMIT", "PER_USER_MARKETING_LIMIT", "MarketingSender",
           "MarketingUnsent"]

log = logging.getLogger(__name__)

PER_USER_MARKETING_LIMIT = 131049
PAIR_RATE_LIMIT = 131056
LIMIT_PAUSE_S = 24 * 3600
LEASE_S = 60
_NS = 1_000_000_000


class MarketingUnsent(SikaError):
    """Meta did not take the promotion (or another worker is sending it): the outbox tries later."""

    code = "marketing_unsent"


class MarketingSender:
    def __init__(self, engine: Engine, graph: GraphClient, *, template_name: str,
                 template_language: Callable[[str], str], text: Callable[[str, dict[str, object], str], str],
                 clock_ns: Callable[[], int], on_limit: Callable[[str, int], None] | None = None) -> None:
        """``on_limit(msisdn, until_ns)``: Meta's 131049 for that person; no marketing until then."""
        self._engine = engine
        self._graph = graph
        self._template_name = template_name
        self._template_language = template_language
        self._text = text
        self._clock_ns = clock_ns
        self._on_limit = on_limit

    def deliver(self, message: Message) -> None:
        text = self._text(message.kind, message.params, message.msisdn)
        body = render_template(message.msisdn, self._template_name, self._template_language(message.msisdn),
                               [text])
        key = f"outbox:{message.id}:marketing:{message.attempts}"
        outgoing = Outgoing(body_json=json.dumps(body, separators=(",", ":"), ensure_ascii=False))
        with writing(self._engine).begin() as connection:
            [row_id] = enqueue_outbound(connection, message.msisdn, [outgoing], keys=[key],
                                              now_ns=self._clock_ns())
        row = lease_outbound(self._engine, row_id, now_ns=self._clock_ns(), lease_s=LEASE_S)
        if row is None:
            if outbound_status(self._engine, row_id) == "sent":
                return  # this attempt was sent before the outbox could record it
            raise MarketingUnsent(f"promotion {message.id} is being sent by another worker")
        lease = row["lease_until_ns"]
        try:
            wamid = self._graph.send(body)
        except GraphError as exc:
            now = self._clock_ns()
            unsent_outbound(self._engine, row, lease, error_code=exc.error_code, retryable=False,
                                  now_ns=now, attempts_max=1)
            if exc.error_code == PER_USER_MARKETING_LIMIT:
                log.info("whatsapp promotion %s: Meta's per-user marketing limit (131049); paused 24 h",
                         message.id)
                if self._on_limit is not None:
                    self._on_limit(message.msisdn, now + LIMIT_PAUSE_S * _NS)
                raise MarketingUnsent("131049: Meta's per-user marketing limit; no retry for 24 h") from exc
            if exc.error_code == PAIR_RATE_LIMIT:
                raise MarketingUnsent("131056: pair rate limit; backing off") from exc
            raise
        sent_outbound(self._engine, row_id, lease, wamid, now_ns=self._clock_ns())
