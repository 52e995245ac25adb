"""Campaigns: every campaign's budget (spent, reserved, remaining), then one campaign's rules, draws,
prizes waiting for a winner's wallet and latest rewards.

    /console/campaigns          the newest campaigns and where their money stands
    /console/campaigns/{id}     one campaign
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika.console.campaigns import CAMPAIGNS_MAX, LINES_MAX, campaign_page, campaign_rows
from sika.console.guard import ConsoleRoute, current
from sika.console.services import services_of
from sika.console.sessions import ConsoleSession
from sika.console.templating import page

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Session = Annotated[ConsoleSession, Depends(current)]


@router.get("/console/campaigns")
async def campaigns(request: Request, session: Session) -> Response:
    rows = await run_in_threadpool(campaign_rows, services_of(request).container)
    return page(request, "campaigns.html", session=session, campaigns=rows, shown_max=CAMPAIGNS_MAX)


@router.get("/console/campaigns/{campaign_id}")
async def campaign(request: Request, campaign_id: str, session: Session) -> Response:
    found = await run_in_threadpool(campaign_page, services_of(request).container, campaign_id[:16])
    return page(request, "campaign.html", session=session, c=found, v=found.view, lines_max=LINES_MAX)
