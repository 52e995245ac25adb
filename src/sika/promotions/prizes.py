"""A draw's prize paid into its winner's wallet, or kept for the winner until the wallet can take it.

A wallet may refuse a prize at the reveal: its tier caps what it holds and what flows in a month
(BCEAO's limits). The prize is then not lost to the winner: it waits in the prize holding account
(``promo_prizes_waiting``), the winner is told how it can be paid (room in the wallet, a new month,
an agent raising the wallet's level), and the ``prize-payouts`` job pays it as soon as it fits, with
the same "you won" message as at the reveal. After ``WAIT_S`` it goes back to the campaign's budget
(on to its sponsor if the campaign has ended), and the winner is told.

A waiting prize is tried only when the wallet has room for it (:meth:`sika.payments.limits.Limits.room`),
so a wallet that stays full does not collect a refused movement every quarter of an hour. What a run
does (a try's movement ``<prize>.<n>``, or giving back, ``<prize>.b``) is claimed in the row before
the ledger is asked: paying and giving back exclude each other, and a run that stopped midway is
finished by the next, with the same movement or transfer: a prize moves once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, insert, literal_column, select, update

from sika.ledger import Ledger, Transfer, TransferResult
from sika.payments import Kind, Movement, Movements, Status
from sika.payments.movements import Code, Leg, Role
from sika.payments.outbox import enqueue
from sika.promotions.budget import Budgets
from sika.promotions.errors import CampaignStateError
from sika.promotions.model import Campaign, State
from sika.promotions.schema import prizes_waiting, rewards
from sika.promotions.store import CampaignStore
from sika.wallet import Customer, Customers

__all__ = ["RETRY_S", "SWEEP_MAX", "WAIT_S", "Prizes"]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
WAIT_DAYS = 30
WAIT_S = WAIT_DAYS * 86_400
# How often a waiting prize looks at its wallet again (a customer who made room waits at most this).
RETRY_S = 15 * 60
SWEEP_MAX = 100
# In the SQL as a literal, so that the partial index over the waiting rows serves the job's query.
_WAITING = prizes_waiting.c.status == literal_column("'waiting'")


class Prizes:
    def __init__(self, engine: Engine, ledger: Ledger, store: CampaignStore, *, budgets: Budgets,
                 movements: Movements, customers: Customers,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._ledger = ledger
        self._store = store
        self._budgets = budgets
        self._movements = movements
        self._customers = customers
        self._clock_ns = clock_ns
        self._accounts = movements.accounts  # (looked up when used: Sika starts with its database down)

    def pay(self, movement_id: str, winner: Customer, prize: int, *, campaign: Campaign, draw_id: str,
            entry_id: str) -> Movement:
        """Move ``prize`` from the prize holding account into the winner's wallet (one movement, in
        the winner's statement like any money in); refused (not completed) when the wallet cannot
        take it."""
        assert winner.account_id is not None and prize > 0
        legs = [
            Leg(f"{movement_id}.0", self._accounts.id("prize_holding"), winner.account_id, prize, Code.PRIZE,
                Role.HOLDING),
            self._movements.limits.meter_leg(movement_id, winner, prize),
        ]
        return self._movements.run(
            movement_id,
            legs,
            kind=Kind.REWARD,
            amount=prize,
            payee_customer_id=winner.id,
            counterparty=campaign.name,
            details={"campaign": campaign.id, "draw": draw_id, "entry": entry_id},
        )

    def paid(self, connection: Connection, *, movement_id: str, dedupe_key: str, winner: Customer,
             prize: int, campaign: Campaign, draw_id: str, entry_id: str, now_ns: int) -> None:
        """Record a prize paid (its reward row) and tell the winner, in the caller's transaction."""
        connection.execute(insert(rewards).values(
            campaign_id=campaign.id, movement_id=movement_id, customer_id=winner.id, kind="prize",
            amount=prize, base_amount=prize, created_at_ns=now_ns, updated_at_ns=now_ns))
        enqueue(connection, dedupe_key=dedupe_key, msisdn=winner.msisdn, kind="promo_prize_won",
                params={"amount": prize, "campaign": campaign.name, "draw": draw_id, "entry": entry_id,
                        "id": movement_id}, now_ns=now_ns)

    def keep(self, connection: Connection, *, prize_id: str, winner: Customer, prize: int,
             campaign: Campaign, draw_id: str, entry_id: str, now_ns: int) -> None:
        """Keep a prize the wallet refused for its winner, and tell them, in the caller's transaction
        (the money stays in the prize holding account)."""
        connection.execute(insert(prizes_waiting).values(
            id=prize_id, draw_id=draw_id, campaign_id=campaign.id, customer_id=winner.id, entry_id=entry_id,
            amount=prize, status="waiting", attempts=0, movement_id=None, next_try_ns=now_ns + RETRY_S * _NS,
            until_ns=now_ns + WAIT_S * _NS, created_at_ns=now_ns, updated_at_ns=now_ns))
        enqueue(connection, dedupe_key=f"{prize_id}:waiting", msisdn=winner.msisdn,
                kind="promo_prize_waiting",
                params={"amount": prize, "campaign": campaign.name, "entry": entry_id, "id": prize_id,
                        "days": WAIT_DAYS}, now_ns=now_ns)

    def waiting_for(self, customer_id: int, limit: int = 20) -> list[dict[str, Any]]:
        """The prizes waiting for this customer's wallet, oldest first."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(prizes_waiting).where(prizes_waiting.c.customer_id == customer_id, _WAITING)
                .order_by(prizes_waiting.c.created_at_ns).limit(limit)).mappings().all()
        return [dict(row) for row in rows]

    def retry_due(self, limit: int = SWEEP_MAX) -> int:
        """The prizes job: pay the waiting prizes whose wallet has room now, give back those whose
        wait is over; how many were looked at."""
        now = self._clock_ns()
        with self._engine.connect() as connection:
            due = connection.execute(
                select(prizes_waiting).where(_WAITING, prizes_waiting.c.next_try_ns <= now)
                .order_by(prizes_waiting.c.next_try_ns).limit(min(limit, SWEEP_MAX))).mappings().all()
        ended: dict[str, Campaign] = {}
        try:
            for row in due:
                try:
                    campaign = self._resolve(row)
                except Exception:  # one prize that fails does not hold up the others: looked at later
                    log.exception("waiting prize %s could not be handled; tried again later", row["id"])
                    self._postpone(row)
                    continue
                if campaign is not None and campaign.state is State.ENDED:
                    ended[campaign.id] = campaign
        finally:
            for campaign in ended.values():  # once a sweep: a campaign's returns are counted (RETURNS_MAX)
                try:
                    self._budgets.give_back(campaign)
                except CampaignStateError:
                    log.exception("prizes given back to %s could not go on to its sponsor", campaign.id)
        return len(due)

    def _postpone(self, row: Any) -> None:
        """Look at ``row`` again in ``RETRY_S``, keeping whatever it claimed (the next run resumes it)."""
        now = self._clock_ns()
        with self._engine.begin() as connection:
            connection.execute(update(prizes_waiting).where(prizes_waiting.c.id == row["id"], _WAITING)
                               .values(next_try_ns=now + RETRY_S * _NS, updated_at_ns=now))

    def _resolve(self, row: Any) -> Campaign | None:
        """Pay or give back one waiting prize; the campaign when the prize went back to it.

        What is done is claimed first (``movement_id``: the try's movement, or ``<prize>.b`` to give
        it back), by one conditional UPDATE: of two runs at once one acts, and a run that stopped
        midway is resumed by the next, which finishes the very movement or transfer it claimed."""
        claimed, attempts, now = row["movement_id"], int(row["attempts"]), self._clock_ns()
        if claimed is None:
            # (Tries are bounded by the wait: a prize is looked at WAIT_S / RETRY_S = 2,880 times at most.)
            over = now >= int(row["until_ns"])
            if not over and not self._has_room(row):
                self._later(row, attempts, None, now)  # still full: nothing tried, in no statement
                return None
            claimed = f"{row['id']}.b" if over else f"{row['id']}.{attempts + 1}"
            if not self._claim(row, attempts, claimed, now):
                return None  # another run took it
        if claimed == f"{row['id']}.b":
            return self._give_back(row, claimed)
        self._try(row, claimed, attempts)
        return None

    def fits(self, winner: Customer, prize: int) -> bool:
        """Whether the winner's wallet has room for ``prize`` now (else no movement is tried: a
        refused one would show in the winner's history as a failed prize)."""
        assert winner.account_id is not None
        return self._movements.limits.room(winner, self._ledger.get_account(winner.account_id)) >= prize

    def _has_room(self, row: Any) -> bool:
        return self.fits(self._customers.by_id(int(row["customer_id"])), int(row["amount"]))

    def _claim(self, row: Any, attempts: int, claimed: str, now: int) -> bool:
        with self._engine.begin() as connection:
            return connection.execute(
                update(prizes_waiting)
                .where(prizes_waiting.c.id == row["id"], _WAITING, prizes_waiting.c.movement_id.is_(None),
                       prizes_waiting.c.attempts == attempts)
                .values(movement_id=claimed, updated_at_ns=now)).rowcount == 1

    def _try(self, row: Any, movement_id: str, attempts: int) -> None:
        winner = self._customers.by_id(int(row["customer_id"]))
        campaign = self._store.get(str(row["campaign_id"]))
        prize, now = int(row["amount"]), self._clock_ns()
        moved = self.pay(movement_id, winner, prize, campaign=campaign, draw_id=str(row["draw_id"]),
                         entry_id=str(row["entry_id"]))  # (the movement as it is, if a run made it)
        if moved.status is Status.FAILED:  # the room went to another payment meanwhile
            self._later(row, attempts + 1, movement_id, now)
            return
        if moved.status is not Status.COMPLETED:  # being finished (sika.payments.recovery): later
            with self._engine.begin() as connection:
                connection.execute(update(prizes_waiting).where(
                    prizes_waiting.c.id == row["id"], prizes_waiting.c.movement_id == movement_id, _WAITING
                ).values(next_try_ns=now + RETRY_S * _NS, updated_at_ns=now))
            return
        with self._engine.begin() as connection:
            done = connection.execute(
                update(prizes_waiting)
                .where(prizes_waiting.c.id == row["id"], prizes_waiting.c.movement_id == movement_id,
                       _WAITING)
                .values(status="paid", attempts=attempts + 1, updated_at_ns=now)).rowcount
            if done:
                self.paid(connection, movement_id=movement_id, dedupe_key=f"{row['id']}:won", winner=winner,
                          prize=prize, campaign=campaign, draw_id=str(row["draw_id"]),
                          entry_id=str(row["entry_id"]), now_ns=now)

    def _later(self, row: Any, attempts: int, refused: str | None, now: int) -> None:
        """Look again in ``RETRY_S``; ``refused``: the claimed try the ledger refused, let go."""
        held = (prizes_waiting.c.movement_id.is_(None) & (prizes_waiting.c.attempts == int(row["attempts"]))
                if refused is None else prizes_waiting.c.movement_id == refused)
        with self._engine.begin() as connection:
            connection.execute(
                update(prizes_waiting)
                .where(prizes_waiting.c.id == row["id"], _WAITING, held)
                .values(attempts=attempts, movement_id=None, next_try_ns=now + RETRY_S * _NS,
                        updated_at_ns=now))

    def _give_back(self, row: Any, claimed: str) -> Campaign:
        campaign = self._store.get(str(row["campaign_id"]))
        (back,) = self._ledger.submit([Transfer(
            id=claimed, debit_account_id=self._accounts.id("prize_holding"),
            credit_account_id=campaign.account_id, amount=int(row["amount"]), code=Code.PRIZE,
            metadata={"draw": str(row["draw_id"])})])
        assert back in (TransferResult.OK, TransferResult.EXISTS), back
        now = self._clock_ns()
        with self._engine.begin() as connection:
            returned = connection.execute(
                update(prizes_waiting)
                .where(prizes_waiting.c.id == row["id"], prizes_waiting.c.movement_id == claimed, _WAITING)
                .values(status="returned", updated_at_ns=now)).rowcount
            if returned:
                winner = self._customers.by_id(int(row["customer_id"]))
                enqueue(connection, dedupe_key=f"{row['id']}:returned", msisdn=winner.msisdn,
                        kind="promo_prize_returned",
                        params={"amount": int(row["amount"]), "campaign": campaign.name,
                                "entry": str(row["entry_id"]), "id": str(row["id"]),
                                "days": WAIT_DAYS}, now_ns=now)
        return campaign
