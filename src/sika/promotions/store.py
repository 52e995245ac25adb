"""Campaign rows: insert, read, change state; and the live campaigns every payment looks at, cached.

Every movement asks which campaigns are live, so the answer is kept for ``refresh_s`` (a second by
default) and read again after that, or at once after a change made through this process. A change
made by another process (an operator pausing a campaign on another server) is seen within
``refresh_s``; money never depends on it: an ended campaign's budget is empty, and the ledger refuses
a reward it cannot pay.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, insert, select, update

from sika.promotions.errors import UnknownCampaign
from sika.promotions.model import Campaign, Sponsor, State
from sika.promotions.rules import CampaignKind, Rules
from sika.promotions.schema import campaigns

__all__ = ["LIVE_MAX", "CampaignStore", "new_campaign_id"]

LIVE_MAX = 200  # live campaigns at once (each payment looks at all of them)
PAGE_MAX = 200
REFRESH_S = 1.0
_NS = 1_000_000_000


def new_campaign_id() -> str:
    return "cp_" + secrets.token_hex(6)


class CampaignStore:
    def __init__(
        self, engine: Engine, *, clock_ns: Callable[[], int] = time.time_ns, refresh_s: float = REFRESH_S
    ) -> None:
        self._engine = engine
        self._clock_ns = clock_ns
        self._refresh_ns = int(refresh_s * _NS)
        self._live: tuple[Campaign, ...] = ()
        self._live_read_ns: int | None = None
        self._lock = threading.Lock()

    def insert(self, campaign: Campaign) -> None:
        with self._engine.begin() as connection:
            connection.execute(insert(campaigns).values(_row(campaign)))
        self.invalidate()

    def get(self, campaign_id: str) -> Campaign:
        with self._engine.connect() as connection:
            row = (
                connection.execute(select(campaigns).where(campaigns.c.id == campaign_id[:16]))
                .mappings()
                .first()
            )
        if row is None:
            raise UnknownCampaign(f"no campaign {campaign_id[:16]!r}")
        return _campaign(row)

    def list(self, *, limit: int = 50, states: Iterable[State] | None = None) -> list[Campaign]:
        assert 0 < limit <= PAGE_MAX
        query = select(campaigns).order_by(campaigns.c.created_at_ns.desc()).limit(limit)
        if states is not None:
            query = query.where(campaigns.c.state.in_([str(s) for s in states]))
        with self._engine.connect() as connection:
            return [_campaign(row) for row in connection.execute(query).mappings()]

    def set_state(self, campaign_id: str, *, before: Iterable[State], after: State, **values: Any) -> bool:
        """Move the campaign from one of ``before`` to ``after``; False when it was in none of them."""
        with self._engine.begin() as connection:
            done = connection.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id, campaigns.c.state.in_([str(s) for s in before]))
                .values(state=str(after), updated_at_ns=self._clock_ns(), **values)
            ).rowcount
        self.invalidate()
        return bool(done)

    def live(self) -> tuple[Campaign, ...]:
        """Campaigns started and not ended (each payment checks their dates and rules)."""
        now = self._clock_ns()
        read = self._live_read_ns
        if read is not None and now - read < self._refresh_ns:
            return self._live
        with self._engine.connect() as connection:
            rows = (
                connection.execute(
                    select(campaigns)
                    .where(campaigns.c.state == str(State.LIVE))
                    .order_by(campaigns.c.id)
                    .limit(LIVE_MAX)
                )
                .mappings()
                .all()
            )
        found = tuple(_campaign(row) for row in rows)
        with self._lock:
            self._live, self._live_read_ns = found, now
        return found

    def invalidate(self) -> None:
        with self._lock:
            self._live_read_ns = None


def _row(c: Campaign) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "kind": str(c.kind),
        "state": str(c.state),
        "sponsor": str(c.sponsor),
        "city": c.city,
        "planned": c.planned,
        "account_id": c.account_id,
        "starts_at_ns": c.starts_at_ns,
        "ends_at_ns": c.ends_at_ns,
        "rules": c.rules.model_dump_json(exclude_defaults=True),
        "created_at_ns": c.created_at_ns,
        "updated_at_ns": c.updated_at_ns,
    }


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row["id"],
        name=row["name"],
        kind=CampaignKind(row["kind"]),
        state=State(row["state"]),
        sponsor=Sponsor.parse(row["sponsor"]),
        city=row["city"],
        planned=int(row["planned"]),
        account_id=int(row["account_id"]),
        starts_at_ns=int(row["starts_at_ns"]),
        ends_at_ns=None if row["ends_at_ns"] is None else int(row["ends_at_ns"]),
        rules=Rules.model_validate(json.loads(row["rules"])),
        created_at_ns=int(row["created_at_ns"]),
        updated_at_ns=int(row["updated_at_ns"]),
    )
