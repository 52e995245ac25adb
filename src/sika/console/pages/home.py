"""The dashboard: today's money in and out by kind, wallets opened, rides live, WhatsApp and USSD
traffic, and the last 24 hours as charts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika.console.guard import ConsoleRoute, current
from sika.console.services import services_of
from sika.console.sessions import ConsoleSession
from sika.console.stats import dashboard
from sika.console.templating import page

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/console")
async def home(request: Request, session: Annotated[ConsoleSession, Depends(current)]) -> Response:
    board = await run_in_threadpool(dashboard, services_of(request).container.engine)
    proposals = services_of(request).proposals
    waiting = await run_in_threadpool(lambda: proposals.latest(statuses=("proposed",), limit=20))
    return page(request, "dashboard.html", session=session, b=board, waiting=waiting)
