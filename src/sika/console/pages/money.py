"""Wallets, movements and ledger accounts: search a wallet, open it, follow a movement into the ledger.

    /console/wallets?q=           search by number or name
    /console/wallets/{msisdn}     balance, tier and limits used, PIN state, movements
    /console/movements/{id}       a movement, its legs, their ledger transfers and accounts
    /console/accounts/{id}        a ledger account, its owner, its latest transfers
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine, func, or_, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika import phones
from sika.console.guard import ConsoleRoute, current
from sika.console.ledger_view import code_name, leg_views, owners
from sika.console.services import services_of
from sika.console.sessions import ConsoleSession
from sika.console.statement import wallet_movements, wallet_state
from sika.console.templating import page
from sika.errors import SikaError
from sika.wallet.schema import customers

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Session = Annotated[ConsoleSession, Depends(current)]
QUERY_CHARS_MAX = 64
RESULTS_MAX = 50


def search_wallets(engine: Engine, query: str) -> list[dict[str, object]]:
    """Wallets whose number or name contains the query (case-insensitive), at most ``RESULTS_MAX``."""
    query = query.strip()[:QUERY_CHARS_MAX]
    if not query:
        return []
    pattern = "%" + query.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
    digits = "".join(ch for ch in query if ch.isdigit())
    clauses = [func.lower(customers.c.name).like(pattern)]
    if digits:
        clauses.append(customers.c.msisdn.like(f"%{digits}%"))
    with engine.connect() as c:
        rows = c.execute(select(customers.c.msisdn, customers.c.name, customers.c.tier,
                                customers.c.created_at_ns)
                         .where(or_(*clauses)).order_by(customers.c.id.desc()).limit(RESULTS_MAX)).mappings()
        return [dict(row) for row in rows]


@router.get("/console/wallets")
async def wallets(request: Request, session: Session, q: str = "") -> Response:
    container = services_of(request).container
    exact = None
    try:
        exact = phones.normalize(q) if q.strip() else None
    except SikaError:
        exact = None
    if exact is not None and await run_in_threadpool(container.customers.find, exact) is not None:
        return Response(status_code=303, headers={"Location": f"/console/wallets/{exact}"})
    found = await run_in_threadpool(search_wallets, container.engine, q)
    return page(request, "wallets.html", session=session, q=q[:QUERY_CHARS_MAX], found=found)


@router.get("/console/wallets/{msisdn}")
async def wallet(request: Request, msisdn: str, session: Session, cursor: str | None = None) -> Response:
    container = services_of(request).container
    customer = await run_in_threadpool(container.customers.get, msisdn[:20])
    state = await run_in_threadpool(wallet_state, container, customer)
    items, older = await run_in_threadpool(
        lambda: wallet_movements(container, customer, language=session.language, limit=50,
                                 cursor=cursor[:200] if cursor else None))
    return page(request, "wallet.html", session=session, w=state, statement=items, older=older)


@router.get("/console/movements/{movement_id}")
async def movement(request: Request, movement_id: str, session: Session) -> Response:
    container = services_of(request).container
    found = await run_in_threadpool(container.payments.get, movement_id[:40])
    legs = await run_in_threadpool(leg_views, container, found)
    parties = {}
    for role, customer_id in (("payer", found.payer_customer_id), ("payee", found.payee_customer_id)):
        if customer_id is not None:
            parties[role] = await run_in_threadpool(container.customers.by_id, customer_id)
    return page(request, "movement.html", session=session, m=found, legs=legs, parties=parties,
                code_name=code_name)


@router.get("/console/accounts/{account_id}")
async def account(request: Request, account_id: int, session: Session, cursor: str | None = None) -> Response:
    container = services_of(request).container
    found = await run_in_threadpool(container.ledger.get_account, account_id)
    transfers = await run_in_threadpool(
        lambda: container.ledger.account_transfers(account_id, limit=50, cursor=cursor))
    others = {t.debit_account_id for t in transfers.items} | {t.credit_account_id for t in transfers.items}
    who = await run_in_threadpool(owners, container.engine, others | {account_id})
    return page(request, "account.html", session=session, a=found, owner=who.get(account_id),
                transfers=transfers, who=who, code_name=code_name)
