"""Campaigns: every campaign's budget (spent, reserved, remaining), then one campaign's burn, forecast,
rules, draws, prizes waiting for a winner's wallet and latest rewards; pausing and ending it.

    GET  /console/campaigns                 the newest campaigns and where their money stands
    GET  /console/campaigns/{id}[?forecast=7|14|30]   one campaign, with a forecast when asked
    POST /console/campaigns/{id}/pause      stop rewarding (operator, approver, admin); ``start`` resumes
    POST /console/campaigns/{id}/end        end it: what is left goes back to the sponsor, by its rule
    POST /console/campaigns/{id}/draws      commit a prize draw (its entries close)
    POST /console/campaigns/{id}/draws/{draw}/reveal   reveal it: the prizes are paid

Funding a campaign moves a sponsor's money: it is a proposal another operator approves
(``campaign_fund``, sika.console.actions). Committing and revealing a draw (which pays the prizes)
need an approver or an admin, as the API needs an admin key. Pausing, ending and drawing follow the
campaign's own rules (ending returns only what the budget did not spend to whoever put it in; a
draw pays the prizes its rules name, from its budget, to winners anyone can re-draw from what it
publishes), and are written to the audit log.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika.console.campaigns import (
    CAMPAIGNS_MAX,
    FORECAST_DAYS,
    LINES_MAX,
    burn_series,
    campaign_page,
    campaign_rows,
    forecast,
)
from sika.console.guard import Acting, ConsoleRoute, acting, audited, current
from sika.console.proposals import NotAllowed
from sika.console.services import services_of
from sika.console.sessions import ConsoleSession
from sika.console.templating import page
from sika.errors import SikaError
from sika.promotions.errors import CampaignStateError, UnknownDraw

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Session = Annotated[ConsoleSession, Depends(current)]
Act = Annotated[Acting, Depends(acting)]


@router.get("/console/campaigns")
async def campaigns(request: Request, session: Session) -> Response:
    rows = await run_in_threadpool(campaign_rows, services_of(request).container)
    return page(request, "campaigns.html", session=session, campaigns=rows, shown_max=CAMPAIGNS_MAX)


@router.get("/console/campaigns/{campaign_id}")
async def campaign(request: Request, campaign_id: str, session: Session, done: str = "",
                   days: Annotated[str, Query(alias="forecast")] = "") -> Response:
    container = services_of(request).container
    found = await run_in_threadpool(campaign_page, container, campaign_id[:16])
    burn = await run_in_threadpool(burn_series, container, found.view, time.time_ns())
    predicted = None
    if days:
        if days not in {str(d) for d in FORECAST_DAYS}:
            raise SikaError(f"a forecast replays {', '.join(map(str, FORECAST_DAYS))} days",
                            code="validation_error")
        predicted = await run_in_threadpool(forecast, container, found.view, int(days), time.time_ns())
    return page(request, "campaign.html", session=session, c=found, v=found.view, lines_max=LINES_MAX,
                burn=burn, forecast=predicted, forecast_days=FORECAST_DAYS, done=done[:16])


async def _act(request: Request, act: Acting, campaign_id: str, action: str,
               draw_id: str | None = None) -> Response:
    """Run ``action`` on the campaign (pause, end: an operator, approver or admin) or its draw (draw:
    commit one; reveal, which pays the prizes: an approver or admin, as the API asks an admin key);
    each try in the audit log, with what it did."""
    services = services_of(request)
    who = act.session.principal
    campaign_id = campaign_id[:16]
    promotions = services.container.promotions

    async def audit(outcome: str, **detail: object) -> None:
        drawn = {} if draw_id is None else {"draw": draw_id}
        await audited(services, act, f"campaign:{action}", outcome, campaign_id, **{**drawn, **detail})

    def run() -> dict[str, object]:
        if action == "draw":
            drawn = promotions.draws.commit(campaign_id)
            return {"draw": drawn.id, "entrants": drawn.entrants, "commitment": drawn.commitment}
        if action == "reveal":
            assert draw_id is not None
            if promotions.draws.get(draw_id).campaign_id != promotions.store.get(campaign_id).id:
                raise UnknownDraw(f"no draw {draw_id!r} in this campaign")
            revealed = promotions.draws.reveal(draw_id)
            return {"draw": revealed.id, "winners": len(revealed.winners or ())}
        view = getattr(promotions.campaigns, action)(campaign_id)
        return {"status": str(view.status), "returned_in_all": view.money.returned}

    drawing = action in ("draw", "reveal")
    if not (who.role.may_approve if drawing else who.role.may_act):
        await audit("refused")
        raise NotAllowed(f"only an approver may {action} a draw" if drawing
                         else f"a viewer may not {action} a campaign")
    try:
        done = await run_in_threadpool(run)
    except (CampaignStateError, UnknownDraw) as exc:
        # Ending sets the state, then gives the budget back: a return that failed after is no refusal.
        after = await run_in_threadpool(promotions.campaigns.view, campaign_id) if action == "end" else None
        await audit("failed" if after is not None and str(after.status) == "ended" else "refused",
                    code=exc.code)
        raise
    except SikaError as exc:  # the ledger busy, a draw too large, …
        await audit("failed", code=exc.code)
        raise
    except Exception:  # a reveal may have paid some prizes already: the log says it was tried
        await audit("failed", code="internal_error")
        raise
    await audit("ok", **done)
    return RedirectResponse(f"/console/campaigns/{campaign_id}?done={action}", status_code=303)


@router.post("/console/campaigns/{campaign_id}/pause")
async def pause(request: Request, campaign_id: str, act: Act) -> Response:
    return await _act(request, act, campaign_id, "pause")


@router.post("/console/campaigns/{campaign_id}/end")
async def end(request: Request, campaign_id: str, act: Act) -> Response:
    return await _act(request, act, campaign_id, "end")


@router.post("/console/campaigns/{campaign_id}/draws")
async def draw(request: Request, campaign_id: str, act: Act) -> Response:
    """Commit a draw: the entries so far close, the seed's hash is published, the prizes reserved."""
    return await _act(request, act, campaign_id, "draw")


@router.post("/console/campaigns/{campaign_id}/draws/{draw_id}/reveal")
async def reveal(request: Request, campaign_id: str, draw_id: str, act: Act) -> Response:
    """Reveal a committed draw: its seed is published and its prizes paid to the winners."""
    return await _act(request, act, campaign_id, "reveal", draw_id=draw_id[:16])
