"""Prize draws anyone can re-run (the algorithm is in sika.promotions.drawing).

1. **Commit** (entries close): a secret seed is drawn and only its SHA-256 is published; the entries
   so far are fixed as the draw's entrant list by one UPDATE, and its hash is published too; the
   prizes are reserved in the budget (pending transfers to the prize holding account), so the money
   is there whatever happens next. Entries made after the commit go to the next draw.
2. **Reveal**: the seed is published; the winners follow from it and the list; each prize is posted
   from the reservation and paid into the winner's wallet (one linked chain per prize), reward rows
   and the winners' messages are written with the draw's new state. A prize without a winner (fewer
   entries than prizes) goes back to the budget; one whose wallet refuses it (the tier's caps) waits
   for its winner (:mod:`sika.promotions.prizes`).

Every ledger id derives from the draw's id, so a reveal interrupted by a crash is simply run again.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from sika.ledger import Ledger, Transfer, TransferFlags, TransferResult
from sika.payments import Movements, Status
from sika.payments.movements import Code
from sika.promotions.drawing import commitment, entrants_sha256, new_seed, verify, winners
from sika.promotions.errors import CampaignStateError, DrawStateError, UnknownDraw
from sika.promotions.model import Campaign, State
from sika.promotions.prizes import Prizes
from sika.promotions.rules import CampaignKind
from sika.promotions.schema import draws, entries
from sika.promotions.store import CampaignStore
from sika.wallet import Customers

__all__ = ["ENTRANTS_MAX", "Draw", "Draws"]

ENTRANTS_MAX = 200_000  # entries one draw publishes at most (draw more often beyond)
_OK = (TransferResult.OK, TransferResult.EXISTS)


@dataclass(frozen=True, slots=True)
class Draw:
    id: str
    campaign_id: str
    status: str  # committed | revealed
    commitment: str
    entrants_sha256: str
    entrants: int
    prizes: tuple[int, ...]
    seed: str | None  # published at the reveal only
    winners: tuple[str, ...] | None
    committed_at_ns: int
    revealed_at_ns: int | None

    def published(self, base_url: str = "") -> dict[str, Any]:
        """What anyone may read, as the API publishes it; ``base_url`` (the server's, as a request
        reached it) makes ``entrants_url`` absolute, so a verifier can fetch it as it is."""
        return {
            "id": self.id,
            "campaign_id": self.campaign_id,
            "status": self.status,
            "commitment": self.commitment,
            "entrants_sha256": self.entrants_sha256,
            "entrants": self.entrants,
            "entrants_url": f"{base_url.rstrip('/')}/v1/draws/{self.id}/entrants",
            "prizes": list(self.prizes),
            "seed": self.seed,
            "winners": None if self.winners is None else list(self.winners),
            "committed_at": self.committed_at_ns / 1e9,
            "revealed_at": None if self.revealed_at_ns is None else self.revealed_at_ns / 1e9,
        }


class Draws:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        store: CampaignStore,
        movements: Movements,
        customers: Customers,
        *,
        prizes: Prizes,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self.prizes = prizes
        self._ledger = ledger
        self._store = store
        self._movements = movements
        self._system = movements.accounts
        self._customers = customers
        self._clock_ns = clock_ns

    def commit(self, campaign_id: str) -> Draw:
        campaign = self._store.get(campaign_id)
        if campaign.kind is not CampaignKind.PRIZE_DRAW:
            raise CampaignStateError("only a prize_draw campaign has draws")
        if campaign.state is State.DRAFT:
            raise CampaignStateError("start the campaign first: a draft has no entries")
        if campaign.state is State.ENDED:  # its budget went back to the sponsor: no prize to set aside
            raise CampaignStateError("this campaign has ended: draw before ending it")
        draw_id, seed, now = "dr_" + secrets.token_hex(6), new_seed(), self._clock_ns()
        with self._engine.begin() as connection:
            connection.execute(
                insert(draws).values(
                    id=draw_id,
                    campaign_id=campaign.id,
                    status="committed",
                    seed=seed,
                    commitment=commitment(seed),
                    entrants_sha256="",
                    entrants=0,
                    prizes=json.dumps(list(campaign.rules.prizes)),
                    committed_at_ns=now,
                )
            )
            connection.execute(
                update(entries)
                .where(entries.c.campaign_id == campaign.id, entries.c.draw_id.is_(None))
                .values(draw_id=draw_id)
            )
            ids = list(
                connection.execute(
                    select(entries.c.id)
                    .where(entries.c.draw_id == draw_id)
                    .order_by(entries.c.id)
                    .limit(ENTRANTS_MAX + 1)
                ).scalars()
            )
            if len(ids) > ENTRANTS_MAX:
                raise DrawStateError(f"a draw publishes at most {ENTRANTS_MAX} entries: draw more often")
            connection.execute(
                update(draws)
                .where(draws.c.id == draw_id)
                .values(entrants_sha256=entrants_sha256(ids), entrants=len(ids))
            )
        if not self._reserve(draw_id, campaign.account_id, campaign.rules.prizes):
            with self._engine.begin() as connection:  # give the entries back to the next draw
                connection.execute(update(entries).where(entries.c.draw_id == draw_id).values(draw_id=None))
                connection.execute(delete(draws).where(draws.c.id == draw_id))
            raise CampaignStateError("the budget's remaining money does not cover the prizes")
        return self.get(draw_id)

    def reveal(self, draw_id: str) -> Draw:
        draw = self.get(draw_id)
        if draw.status == "revealed":
            return draw
        campaign = self._store.get(draw.campaign_id)
        seed = self._seed(draw_id)
        ids = self.entrants(draw_id)
        won = winners(seed, ids, len(draw.prizes))
        assert self._reserve(draw_id, campaign.account_id, draw.prizes), "prizes were reserved at commit"
        paid, waiting = self._pay(draw, won, campaign)
        now = self._clock_ns()
        with self._engine.begin() as connection:
            done = connection.execute(
                update(draws)
                .where(draws.c.id == draw_id, draws.c.status == "committed")
                .values(status="revealed", winners=json.dumps(won), revealed_at_ns=now)
            ).rowcount
            for k, (entry_id, customer_id) in (paid | waiting).items() if done else ():
                winner, prize = self._customers.by_id(customer_id), draw.prizes[k]
                if k in paid:
                    self.prizes.paid(connection, movement_id=f"{draw_id}.w{k}",
                                     dedupe_key=f"{draw_id}:won:{k}", winner=winner, prize=prize,
                                     campaign=campaign, draw_id=draw_id, entry_id=entry_id, now_ns=now)
                else:
                    self.prizes.keep(connection, prize_id=f"{draw_id}.w{k}", winner=winner, prize=prize,
                                     campaign=campaign, draw_id=draw_id, entry_id=entry_id, now_ns=now)
        return self.get(draw_id)

    def get(self, draw_id: str) -> Draw:
        with self._engine.connect() as connection:
            row = connection.execute(select(draws).where(draws.c.id == draw_id[:16])).mappings().first()
        if row is None:
            raise UnknownDraw(f"no draw {draw_id[:16]!r}")
        return _draw(row)

    def of_campaign(self, campaign_id: str, limit: int = 50) -> list[Draw]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(draws)
                .where(draws.c.campaign_id == campaign_id)
                .order_by(draws.c.committed_at_ns.desc())
                .limit(limit)
            ).mappings()
            return [_draw(row) for row in rows]

    def entrants(self, draw_id: str) -> list[str]:
        """The entrant list in its published order (the order ``entrants_sha256`` hashes)."""
        self.get(draw_id)
        with self._engine.connect() as connection:
            return list(
                connection.execute(
                    select(entries.c.id)
                    .where(entries.c.draw_id == draw_id)
                    .order_by(entries.c.id)
                    .limit(ENTRANTS_MAX)
                ).scalars()
            )

    def verify(self, draw_id: str) -> list[str]:
        """Re-run a revealed draw from what it published; the problems found (empty: it holds)."""
        draw = self.get(draw_id)
        if draw.seed is None or draw.winners is None:
            return ["the draw is not revealed yet"]
        return verify(
            seed=draw.seed,
            commitment_hex=draw.commitment,
            entry_ids=self.entrants(draw_id),
            entrants_hex=draw.entrants_sha256,
            prizes=len(draw.prizes),
            published_winners=draw.winners,
        )

    # Money -----------------------------------------------------------------------------------------

    def _reserve(self, draw_id: str, budget: int, prizes: tuple[int, ...]) -> bool:
        holding = self._system.id("prize_holding")
        chain = [
            Transfer(
                id=f"{draw_id}.p{k}",
                debit_account_id=budget,
                credit_account_id=holding,
                amount=prize,
                code=Code.PRIZE,
                metadata={"draw": draw_id},
                flags=TransferFlags.PENDING | (TransferFlags.LINKED if k < len(prizes) - 1 else 0),
            )
            for k, prize in enumerate(prizes)
        ]
        return all(result in _OK for result in self._ledger.submit(chain))

    def _pay(self, draw: Draw, won: list[str], campaign: Campaign
             ) -> tuple[dict[int, tuple[str, int]], dict[int, tuple[str, int]]]:
        """Pay each prize to its winner (or back to the budget when it has none): {k: (entry,
        customer)} paid, and those whose wallet refused them (they wait in the prize holding account).

        The reservation is posted into the prize holding account, then a movement of its own pays the
        winner (so the prize is in the winner's statement like any money in)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(entries.c.id, entries.c.customer_id).where(entries.c.id.in_(won))
            )
            owners = {str(row.id): int(row.customer_id) for row in rows}
        paid: dict[int, tuple[str, int]] = {}
        waiting: dict[int, tuple[str, int]] = {}
        for k, prize in enumerate(draw.prizes):
            resolution = TransferFlags.POST_PENDING if k < len(won) else TransferFlags.VOID_PENDING
            (done,) = self._ledger.submit(
                [
                    Transfer(
                        id=f"{draw.id}.{'c' if k < len(won) else 'v'}{k}",
                        pending_id=f"{draw.id}.p{k}",
                        code=Code.PRIZE,
                        flags=resolution,
                        metadata={"draw": draw.id},
                    )
                ]
            )
            assert done in (
                *_OK,
                TransferResult.PENDING_TRANSFER_ALREADY_POSTED,
                TransferResult.PENDING_TRANSFER_ALREADY_VOIDED,
            ), done
            if k >= len(won):
                continue
            winner = self._customers.by_id(owners[won[k]])
            # A wallet without room for it is not tried (a refused movement would read as a failed
            # prize in its history): the prize waits for it. (A run again finds the movement made.)
            movement_id = f"{draw.id}.w{k}"
            tried = self._movements.find(movement_id) is not None or self.prizes.fits(winner, prize)
            moved = self.prizes.pay(movement_id, winner, prize, campaign=campaign, draw_id=draw.id,
                                    entry_id=won[k]) if tried else None
            into = paid if moved is not None and moved.status is Status.COMPLETED else waiting
            into[k] = (won[k], winner.id)
        return paid, waiting

    def _seed(self, draw_id: str) -> str:
        with self._engine.connect() as connection:
            return str(connection.execute(select(draws.c.seed).where(draws.c.id == draw_id)).scalar_one())


def _draw(row: Any) -> Draw:
    revealed = row["status"] == "revealed"
    return Draw(
        id=row["id"],
        campaign_id=row["campaign_id"],
        status=row["status"],
        commitment=row["commitment"],
        entrants_sha256=row["entrants_sha256"],
        entrants=int(row["entrants"]),
        prizes=tuple(json.loads(row["prizes"])),
        seed=row["seed"] if revealed else None,
        winners=tuple(json.loads(row["winners"])) if revealed and row["winners"] is not None else None,
        committed_at_ns=int(row["committed_at_ns"]),
        revealed_at_ns=None if row["revealed_at_ns"] is None else int(row["revealed_at_ns"]),
    )
