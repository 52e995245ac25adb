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
import secrets
import time
from collections.abc import Callable

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from sika.promotions.errors import CodeRefused, InvalidCampaign
from sika.promotions.model import Campaign, State
from sika.promotions.schema import claims, codes
from sika.promotions.store import CampaignStore

__all__ = ["ALPHABET", "BATCH_MAX", "Codes", "as_csv", "normalize"]

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_CHARS = 10
PREFIX_CHARS_MAX = 8
BATCH_MAX = 100_000
_INSERT_CHUNK = 1_000
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
        batch, now = "b" + secrets.token_hex(4), self._clock_ns()
        made: list[str] = []
        with self._engine.begin() as connection:
            while len(made) < count:
                chunk = [_new_code(prefix) for _ in range(min(_INSERT_CHUNK, count - len(made)))]
                connection.execute(
                    insert(codes),
                    [
                        {
                            "digest": self._digest(normalize(code)),
                            "campaign_id": campaign.id,
                            "batch": batch,
                            "created_at_ns": now,
                        }
                        for code in chunk
                    ],
                )
                made += chunk
        return batch, made

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
    body = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return "-".join(part for part in (prefix, body[:5], body[5:]) if part)


def as_csv(campaign: Campaign, batch: str, made: list[str]) -> str:
    """The batch as CSV (code, campaign, batch): the file to print or hand to a partner."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "campaign", "batch"])
    writer.writerows([code, campaign.id, batch] for code in made)
    return out.getvalue()
