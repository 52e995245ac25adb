"""Unique promotion codes, in batches: generated once, handed out as CSV, each usable by one customer.

A code (``RMD-7K4PX-9QTWE``: an optional prefix, then ten characters from an alphabet without 0/O and
1/I, 50 bits) is stored only as its HMAC-SHA256 under the promotions key, so a copy of the table does
not give the codes away; the CSV made at generation is the only place they are written. Entering a
code binds it to the customer with one conditional UPDATE (``WHERE customer_id IS NULL``): of two
people racing with one code, one gets it. A bound code opens its campaign to that customer (a campaign
with ``code_required``: a ride discount by code, a cashback for those who got a flyer).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import secrets
import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from sika.db import writing
from sika.promotions.errors import CodeRefused, InvalidCampaign
from sika.promotions.model import Campaign, State
from sika.promotions.schema import claims, codes
from sika.promotions.store import CampaignStore

__all__ = ["ALPHABET", "BATCH_MAX", "Codes", "as_csv", "normalize"]

log = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_CHARS = 10
PREFIX_CHARS_MAX = 8
BATCH_MAX = 100_000
_INSERT_CHUNK = 5_000
_COLLISION_TRIES = 3
_CODE_BITS = 50
assert len(ALPHABET) == 32 and 5 * CODE_CHARS == _CODE_BITS
_TYPED_CHARS_MAX = 40


def normalize(text: str) -> str:
    """A code as typed ("rmd 7k4px-9qtwe") in its canonical form ("RMD7K4PX9QTWE")."""
    return "".join(ch for ch in text[:_TYPED_CHARS_MAX].upper() if ch.isascii() and ch.isalnum())


class Codes:
    def __init__(
        self, engine: Engine, store: CampaignStore, key: bytes, *, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self._engine = engine
        self._store = store
        self._key = key
        self._clock_ns = clock_ns

    def generate(self, campaign_id: str, count: int, *, prefix: str = "") -> tuple[str, list[str]]:
        """(batch id, the codes): shown this once, stored only as digests."""
        campaign = self._store.get(campaign_id)
        if campaign.state is State.ENDED:
            raise InvalidCampaign("this campaign has ended: no more codes")
        if not 0 < count <= BATCH_MAX:
            raise InvalidCampaign(f"count: 1 to {BATCH_MAX} codes a batch")
        prefix = normalize(prefix)
        if len(prefix) > PREFIX_CHARS_MAX:
            raise InvalidCampaign(f"prefix: at most {PREFIX_CHARS_MAX} letters or digits")
        # 56 random bits: a failed batch takes back its own codes by this id, never another's.
        batch, now = "b" + secrets.token_hex(7), self._clock_ns()
        # Made and hashed before any transaction (a second of CPU for 100,000 codes), then written a
        # chunk a transaction: on SQLite every other writer (payments, the chat) waits for the one
        # write lock, so it is held for one chunk at a time, never for the whole batch.
        made = _new_codes(prefix, count)
        rows = [{"digest": self._digest(normalize(code)), "campaign_id": campaign.id, "batch": batch,
                 "created_at_ns": now} for code in made]
        try:
            for start in range(0, count, _INSERT_CHUNK):
                self._write_chunk(made, rows, start, prefix)
        except BaseException:
            self._forget(campaign.id, batch)
            raise
        return batch, made

    def _write_chunk(self, made: list[str], rows: list[dict[str, object]], start: int, prefix: str) -> None:
        """Rows ``start`` to ``start + _INSERT_CHUNK``, in one transaction. A code another batch holds
        already (with a million codes stored, one chance in a billion a code) fails the chunk, which is
        drawn again whole."""
        end = min(start + _INSERT_CHUNK, len(rows))
        for attempt in range(_COLLISION_TRIES):
            try:
                with writing(self._engine).begin() as connection:
                    connection.execute(insert(codes), rows[start:end])
                return
            except IntegrityError:
                if attempt == _COLLISION_TRIES - 1:
                    raise
            taken = set(made)
            for index in range(start, end):
                code = _new_code(prefix)
                while code in taken:
                    code = _new_code(prefix)
                taken.add(code)
                made[index] = code
                rows[index] = {**rows[index], "digest": self._digest(normalize(code))}

    def _forget(self, campaign_id: str, batch: str) -> None:
        """After a failure part-way: the chunks written go (nobody was given those codes). Should this
        fail too, or the process die between chunks, they stay stored and harmless: no one holds them,
        and nothing counts a batch's codes."""
        try:
            with writing(self._engine).begin() as connection:
                connection.execute(delete(codes).where(codes.c.campaign_id == campaign_id,
                                                       codes.c.batch == batch, codes.c.customer_id.is_(None)))
        except Exception:
            log.warning("the codes of the failed batch %s stay stored (no one holds them)", batch,
                        exc_info=True)

    def redeem(self, customer_id: int, typed: str) -> Campaign:
        """Bind the code to the customer and open its campaign to them; the campaign."""
        digest = self._digest(normalize(typed))
        with self._engine.connect() as connection:
            row = connection.execute(select(codes).where(codes.c.digest == digest)).mappings().first()
        if row is None:
            raise CodeRefused("no offer has this code")
        campaign = self._store.get(row["campaign_id"])
        if campaign.state in (State.ENDED, State.DRAFT) or campaign.status(self._clock_ns()).value == "ended":
            raise CodeRefused("this offer is over", code="offer_over")
        if row["customer_id"] == customer_id:
            return campaign
        now = self._clock_ns()
        try:
            with self._engine.begin() as connection:
                taken = connection.execute(
                    update(codes)
                    .where(codes.c.digest == digest, codes.c.customer_id.is_(None))
                    .values(customer_id=customer_id, used_at_ns=now)
                ).rowcount
                if not taken:
                    raise CodeRefused("this code was used already", code="code_used")
                connection.execute(
                    insert(claims).values(
                        campaign_id=campaign.id,
                        customer_id=customer_id,
                        code_digest=digest,
                        created_at_ns=now,
                    )
                )
        except IntegrityError as exc:  # the customer has this offer already: the code stays free
            raise CodeRefused("you have this offer already", code="offer_claimed") from exc
        return campaign

    def _digest(self, canonical: str) -> str:
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()


def _new_code(prefix: str) -> str:
    bits = secrets.randbits(_CODE_BITS)
    # Five bits a character from a 32-letter alphabet: every code equally likely (secrets.choice ten
    # times cost 30 µs a code, three seconds a batch of 100,000).
    body = "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(CODE_CHARS))
    return "-".join(part for part in (prefix, body[:5], body[5:]) if part)


def _new_codes(prefix: str, count: int) -> list[str]:
    """``count`` distinct codes."""
    made: set[str] = set()
    while len(made) < count:
        made.add(_new_code(prefix))
    return list(made)


def as_csv(campaign: Campaign, batch: str, made: list[str]) -> str:
    """The batch as CSV (code, campaign, batch): the file to print or hand to a partner."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "campaign", "batch"])
    writer.writerows([code, campaign.id, batch] for code in made)
    return out.getvalue()
