"""Maker-checker: a money movement asked for by one operator moves only once a different approver
says yes. The states are listed in :mod:`sika.console.schema`.

Nothing moves at proposal time: ``prepare`` only checks the inputs. Approval claims the proposal with
a conditional UPDATE, then runs the action with a movement id derived from the proposal's id, so a
second approval (a double click, a retry after a crash) finds the same movement and moves nothing more.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from sika.bootstrap import Container
from sika.console import actions
from sika.console.schema import proposals
from sika.console.sessions import Principal
from sika.errors import SikaError
from sika.payments import Status, movement_id

__all__ = ["DECIDED", "OPEN", "Proposal", "Proposals", "SameOperator"]

REASON_CHARS_MAX = 200
PAGE_MAX = 200
MOVEMENT_SCOPE = "console-proposal"
OPEN = ("proposed", "approving")
DECIDED = ("executed", "failed", "rejected")


class SameOperator(SikaError):
    code = "maker_cannot_approve"


class NotAllowed(SikaError):
    code = "forbidden"


class ProposalClosed(SikaError):
    code = "proposal_closed"


@dataclass(frozen=True, slots=True)
class Proposal:
    id: str
    kind: str
    params: dict[str, Any]
    target: str
    amount: int
    status: str
    maker: str
    maker_name: str
    reason: str
    checker: str | None
    checker_name: str | None
    movement_id: str | None
    error_code: str | None
    created_at_ns: int
    decided_at_ns: int | None

    @property
    def open(self) -> bool:
        return self.status in OPEN


class Proposals:
    def __init__(self, engine: Engine, container: Container, *,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._container = container
        self._clock_ns = clock_ns

    def propose(self, who: Principal, kind_name: str, inputs: Mapping[str, str], reason: str) -> Proposal:
        if not who.role.may_act:
            raise NotAllowed("a viewer may not propose money movements")
        action = actions.kind(kind_name)
        reason = " ".join(reason.split())[:REASON_CHARS_MAX]
        if not reason:
            raise SikaError("say why: the approver reads it", code="reason_required")
        prepared = action.prepare(self._container, inputs)
        proposal_id = "pr_" + secrets.token_hex(12)
        with self._engine.begin() as connection:
            connection.execute(insert(proposals).values(
                id=proposal_id, kind=action.name, params=json.dumps(prepared.params, separators=(",", ":")),
                summary=prepared.target[:200], amount=prepared.amount, status="proposed", maker=who.actor,
                maker_name=who.name, reason=reason, created_at_ns=self._clock_ns()))
        return self.get(proposal_id)

    def approve(self, proposal_id: str, who: Principal) -> Proposal:
        """Carry the proposal out; refused for its maker, for non-approvers, and once decided."""
        proposal = self.get(proposal_id)
        if not who.role.may_approve:
            raise NotAllowed("only an approver may approve")
        if who.actor == proposal.maker:
            raise SameOperator("a proposal is approved by someone other than the operator who made it")
        with self._engine.begin() as connection:
            # An "approving" row is one whose approval was interrupted: approving again finishes it.
            claimed = connection.execute(update(proposals).where(
                proposals.c.id == proposal_id, proposals.c.status.in_(("proposed", "approving"))
            ).values(status="approving", checker=who.actor, checker_name=who.name)).rowcount
        if not claimed:
            raise ProposalClosed(f"proposal {proposal_id} is {proposal.status} already")
        mid = movement_id(MOVEMENT_SCOPE, proposal_id)
        try:
            moved = actions.kind(proposal.kind).execute(
                self._container, mid, {**proposal.params, "proposal": proposal_id})
        except SikaError as exc:
            return self._decide(proposal_id, "failed", movement=None, error=exc.code)
        if moved is None:  # done without a movement of its own (a campaign's funding: a ledger transfer)
            return self._decide(proposal_id, "executed", movement=None, error=None)
        if moved.status is Status.FAILED:
            return self._decide(proposal_id, "failed", movement=moved.id, error=moved.error_code)
        return self._decide(proposal_id, "executed", movement=moved.id, error=None)

    def reject(self, proposal_id: str, who: Principal) -> Proposal:
        """An approver turns it down, or its maker withdraws it; nothing has moved."""
        proposal = self.get(proposal_id)
        if not (who.role.may_approve or who.actor == proposal.maker):
            raise NotAllowed("only an approver, or the proposal's maker, may reject it")
        with self._engine.begin() as connection:
            done = connection.execute(update(proposals).where(
                proposals.c.id == proposal_id, proposals.c.status == "proposed"
            ).values(status="rejected", checker=who.actor, checker_name=who.name,
                     decided_at_ns=self._clock_ns())).rowcount
        if not done:
            raise ProposalClosed(f"proposal {proposal_id} is {proposal.status} already")
        return self.get(proposal_id)

    def get(self, proposal_id: str) -> Proposal:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(proposals).where(proposals.c.id == proposal_id[:40])).mappings().first()
        if row is None:
            raise SikaError(f"no proposal {proposal_id}", code="unknown_proposal")
        return _proposal(row)

    def latest(self, *, statuses: tuple[str, ...] | None = None, limit: int = 50) -> list[Proposal]:
        assert 0 < limit <= PAGE_MAX
        query = select(proposals).order_by(proposals.c.created_at_ns.desc()).limit(limit)
        if statuses is not None:
            query = query.where(proposals.c.status.in_(statuses))
        with self._engine.connect() as connection:
            return [_proposal(row) for row in connection.execute(query).mappings()]

    def _decide(self, proposal_id: str, status: str, *, movement: str | None, error: str | None) -> Proposal:
        with self._engine.begin() as connection:
            connection.execute(update(proposals).where(
                proposals.c.id == proposal_id, proposals.c.status == "approving"
            ).values(status=status, movement_id=movement, error_code=error, decided_at_ns=self._clock_ns()))
        return self.get(proposal_id)


def _proposal(row: Any) -> Proposal:
    return Proposal(id=row["id"], kind=row["kind"], params=json.loads(row["params"]), target=row["summary"],
                    amount=row["amount"], status=row["status"], maker=row["maker"],
                    maker_name=row["maker_name"], reason=row["reason"], checker=row["checker"],
                    checker_name=row["checker_name"], movement_id=row["movement_id"],
                    error_code=row["error_code"], created_at_ns=row["created_at_ns"],
                    decided_at_ns=row["decided_at_ns"])
