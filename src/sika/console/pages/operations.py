"""Operations pages: the reconciliation queue and its jobs, agents and floats, merchants and their
callbacks, provider orders, the notifications log, the audit log."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika.chat.i18n import translator
from sika.chat.texts.notices import reason_text
from sika.console.guard import Acting, ConsoleRoute, acting, audited, current
from sika.console.proposals import NotAllowed
from sika.console.reconciliation import JOBS, queue, run_job
from sika.console.services import services_of
from sika.console.sessions import ConsoleSession
from sika.console.templating import page
from sika.errors import SikaError
from sika.payments.outbox import SECRET
from sika.payments.schema import callbacks, movements, outbox

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Session = Annotated[ConsoleSession, Depends(current)]
ROWS_MAX = 100
_STATUSES = ("processing", "pending", "completed", "failed")


@router.get("/console/reconcile")
async def reconcile(request: Request, session: Session, ran: str = "", count: int = 0) -> Response:
    items, undelivered = await run_in_threadpool(queue, services_of(request).container)
    return page(request, "reconcile.html", session=session, items=items, callbacks=undelivered, jobs=JOBS,
                ran=ran if ran in JOBS else "", count=count)


@router.post("/console/reconcile/run")
async def run(request: Request, act: Annotated[Acting, Depends(acting)]) -> Response:
    services = services_of(request)
    job = act.form.get("job", "")
    who = act.session.principal
    if job not in JOBS:
        raise SikaError("no such job", code="validation_error")
    if not who.role.may_act:
        await audited(services, act, f"job:{job}", "refused", "")
        raise NotAllowed("a viewer may not run jobs")
    handled = await run_in_threadpool(run_job, services.container, job)
    await audited(services, act, f"job:{job}", "ok", "", handled=handled)
    return RedirectResponse(f"/console/reconcile?ran={job}&count={handled}", status_code=303)


@router.get("/console/agents")
async def agents(request: Request, session: Session) -> Response:
    container = services_of(request).container

    def load() -> list[tuple[Any, Any]]:
        found = container.agents.list(200)
        balances = container.ledger.get_accounts([a.float_account_id for a in found])
        return [(a, balances.get(a.float_account_id)) for a in found]

    return page(request, "agents.html", session=session, agents=await run_in_threadpool(load))


def _callbacks(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(select(callbacks.c.merchant_id, callbacks.c.dedupe_key, callbacks.c.url,
                                callbacks.c.status, callbacks.c.attempts, callbacks.c.last_error,
                                callbacks.c.created_at_ns, callbacks.c.delivered_at_ns)
                         .order_by(callbacks.c.id.desc()).limit(ROWS_MAX)).mappings()
        return [dict(row) for row in rows]


@router.get("/console/merchants")
async def merchants(request: Request, session: Session) -> Response:
    container = services_of(request).container

    def load() -> tuple[list[tuple[Any, Any]], list[dict[str, Any]]]:
        found = container.merchants.list(200)
        balances = container.ledger.get_accounts([m.account_id for m in found])
        return [(m, balances.get(m.account_id)) for m in found], _callbacks(container.engine)

    listed, recent = await run_in_threadpool(load)
    names = {m.id: m.name for m, _ in listed}
    return page(request, "merchants.html", session=session, merchants=listed, callbacks=recent, names=names)


@router.get("/console/orders")
async def orders(request: Request, session: Session, status: str = "") -> Response:
    engine = services_of(request).container.engine

    def load() -> list[dict[str, Any]]:
        query = (select(movements.c.id, movements.c.kind, movements.c.status, movements.c.provider,
                        movements.c.product, movements.c.provider_reference, movements.c.amount,
                        movements.c.fee, movements.c.error_code, movements.c.created_at_ns,
                        movements.c.deadline_ns)
                 .where(movements.c.provider.is_not(None)).order_by(movements.c.created_at_ns.desc())
                 .limit(ROWS_MAX))
        if status in _STATUSES:
            query = query.where(movements.c.status == status)
        with engine.connect() as c:
            return [dict(row) for row in c.execute(query).mappings()]

    return page(request, "orders.html", session=session, orders=await run_in_threadpool(load),
                chosen=status if status in _STATUSES else "", statuses=_STATUSES)


@router.get("/console/notifications")
async def notifications(request: Request, session: Session, msisdn: str = "") -> Response:
    engine = services_of(request).container.engine
    t = translator(session.language if session.language in ("fr", "en") else "fr")

    def load() -> list[dict[str, Any]]:
        query = select(outbox).order_by(outbox.c.id.desc()).limit(ROWS_MAX)
        if msisdn.strip():
            query = query.where(outbox.c.msisdn == msisdn.strip()[:16])
        with engine.connect() as c:
            rows = [dict(row) for row in c.execute(query).mappings()]
        for row in rows:
            params = json.loads(row["params"])
            params.pop(SECRET, None)  # a voucher's code is never shown, even to operators
            row["params"] = params
            row["why"] = reason_text(t, row["reason"])  # held until 19:20, after Isha
        return rows

    return page(request, "notifications.html", session=session, rows=await run_in_threadpool(load),
                msisdn=msisdn[:16])


@router.get("/console/audit")
async def audit(request: Request, session: Session, before: int | None = None) -> Response:
    entries = await run_in_threadpool(lambda: services_of(request).audit.latest(limit=100, before_id=before))
    older = entries[-1].id if len(entries) == 100 else None
    return page(request, "audit.html", session=session, entries=entries, older=older)
