"""Maker-checker pages: propose a money movement, approve or reject someone else's.

    GET  /console/approvals                  open proposals, then the latest decided
    GET  /console/approvals/new?kind=…       the form of one action kind (fields prefilled from the query)
    POST /console/approvals                  propose (operator, approver, admin)
    GET  /console/approvals/{id}             one proposal, its movement once executed
    POST /console/approvals/{id}/approve     approve: the money moves (approver, not the maker)
    POST /console/approvals/{id}/reject      reject (approver) or withdraw (the maker)

Every proposal, approval, rejection and refusal is written to the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika.api.statuses import status_of
from sika.console import actions
from sika.console.guard import Acting, ConsoleRoute, acting, audited, current
from sika.console.proposals import DECIDED, OPEN, Proposal
from sika.console.services import services_of
from sika.console.sessions import ConsoleSession
from sika.console.templating import page
from sika.errors import SikaError

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Session = Annotated[ConsoleSession, Depends(current)]
Act = Annotated[Acting, Depends(acting)]


@router.get("/console/approvals")
async def approvals(request: Request, session: Session) -> Response:
    proposals = services_of(request).proposals
    open_ = await run_in_threadpool(lambda: proposals.latest(statuses=OPEN, limit=200))
    decided = await run_in_threadpool(lambda: proposals.latest(statuses=DECIDED, limit=50))
    return page(request, "approvals.html", session=session, open_=open_, decided=decided,
                kinds=actions.kinds(), kind_of=actions.kind)


@router.get("/console/approvals/new")
async def new(request: Request, session: Session, kind: str = "wallet_credit") -> Response:
    action = actions.kind(kind[:32])
    values = {f.name: request.query_params.get(f.name, "")[:64] for f in action.fields}
    return page(request, "proposal_form.html", session=session, action=action, kinds=actions.kinds(),
                values=values, reason="", error=None)


@router.post("/console/approvals")
async def propose(request: Request, act: Act) -> Response:
    services = services_of(request)
    kind_name = act.form.get("kind", "")[:32]
    action = actions.kind(kind_name)
    try:
        proposal = await run_in_threadpool(services.proposals.propose, act.session.principal, kind_name,
                                           act.form, act.form.get("reason", ""))
    except SikaError as exc:
        await audited(services, act, "propose", "refused", kind_name, code=exc.code)
        values = {f.name: act.form.get(f.name, "")[:64] for f in action.fields}
        return page(request, "proposal_form.html", session=act.session, action=action, kinds=actions.kinds(),
                    values=values, reason=act.form.get("reason", "")[:200], error=exc, status=status_of(exc))
    await audited(services, act, "propose", "ok", proposal.id, kind=proposal.kind, amount=proposal.amount,
                 params=proposal.params, reason=proposal.reason)
    return RedirectResponse(f"/console/approvals/{proposal.id}", status_code=303)


@router.get("/console/approvals/{proposal_id}")
async def show(request: Request, proposal_id: str, session: Session) -> Response:
    services = services_of(request)
    proposal = await run_in_threadpool(services.proposals.get, proposal_id)
    trail = await run_in_threadpool(lambda: services.audit.latest(limit=20, target=proposal.id))
    return page(request, "proposal.html", session=session, p=proposal, action=actions.kind(proposal.kind),
                trail=list(reversed(trail)))


async def _decide(request: Request, act: Acting, proposal_id: str, verb: str) -> Response:
    services = services_of(request)
    decide = services.proposals.approve if verb == "approve" else services.proposals.reject
    try:
        proposal: Proposal = await run_in_threadpool(decide, proposal_id[:40], act.session.principal)
    except SikaError as exc:
        await audited(services, act, verb, "refused", proposal_id[:40], code=exc.code)
        raise
    outcome = "failed" if proposal.status == "failed" else "ok"
    await audited(services, act, verb, outcome, proposal.id, status=proposal.status,
                 movement=proposal.movement_id, error=proposal.error_code, amount=proposal.amount)
    return RedirectResponse(f"/console/approvals/{proposal.id}", status_code=303)


@router.post("/console/approvals/{proposal_id}/approve")
async def approve(request: Request, proposal_id: str, act: Act) -> Response:
    return await _decide(request, act, proposal_id, "approve")


@router.post("/console/approvals/{proposal_id}/reject")
async def reject(request: Request, proposal_id: str, act: Act) -> Response:
    return await _decide(request, act, proposal_id, "reject")
