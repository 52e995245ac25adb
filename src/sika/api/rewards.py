"""Promotions as customers and everyone else see them: a customer's rewards, entries and offers,
codes, "why no reward"; and the draws, published for anyone to re-run (no credentials needed to read
a draw or its entrant list: entry ids are random and name nobody).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, caller, container_of, customer_of
from sika.api.fields import Body
from sika.auth import Role
from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.texts.promotions import CODE_ERRORS, offer_text, verdict_text
from sika.payments import UnknownMovement
from sika.payments.hooks import seen_by
from sika.promotions import CodeRefused

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["promotions"])

Who = Annotated[Caller, Depends(caller)]
Of = Annotated[Container, Depends(container_of)]


class CodeIn(Body):
    """Strict types, no unknown field (as every body of the API)."""

    code: str = Field(
        min_length=1,
        max_length=40,
        examples=["RMD-7K4PX-9QTWE"],
        description="a promotion code, or the number of the friend who invited you",
    )


@router.get("/me/rewards", summary="The customer's rewards, draw entries and the offers running now")
async def my_rewards(
    who: Who, container: Of, limit: Annotated[int, Query(ge=1, le=50)] = 20
) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        customer = customer_of(container, who)
        promotions = container.promotions
        t = translator(customer.language)
        return {
            "rewards": [
                {
                    "campaign_id": r.campaign_id,
                    "campaign": r.campaign,
                    "kind": r.kind,
                    "amount": r.amount,
                    "status": r.status,
                    "clawed_back": r.clawed_back,
                    "owed": r.owed,
                    "collected": r.collected,
                    "withheld": r.withheld,
                    "movement_id": r.movement_id,
                    "at": r.at_ns / 1e9,
                }
                for r in promotions.rewards_of(customer.id, limit)
            ],
            "entries": [
                {
                    "id": e.id,
                    "campaign_id": e.campaign_id,
                    "campaign": e.campaign,
                    "draw_id": e.draw_id,
                    "won": e.won,
                    "prize_waiting": e.prize_waiting,
                    "at": e.at_ns / 1e9,
                }
                for e in promotions.entries_of(customer.id, limit)
            ],
            "offers": [
                {
                    "campaign_id": c.id,
                    "name": c.name,
                    "kind": str(c.kind),
                    "text": offer_text(t, c, promotions.when),
                }
                for c in promotions.offers()
            ],
        }

    return await run_in_threadpool(run)


@router.get("/me/rewards/why", summary="Why a payment earned what it earned, campaign by campaign")
async def why(who: Who, container: Of, movement: Annotated[str, Query(max_length=40)]) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        customer = customer_of(container, who)
        found = container.payments.get(movement)
        if customer.id not in (found.payer_customer_id, found.payee_customer_id):
            raise UnknownMovement(f"no transfer {movement}")
        t = translator(customer.language)
        return {
            "movement_id": found.id,
            "items": [
                {
                    "campaign_id": v.campaign.id,
                    "name": v.campaign.name,
                    "rewarded": v.reason is None,
                    "amount": v.amount,
                    "reason": None if v.reason is None else str(v.reason),
                    "message": verdict_text(t, v),
                }
                # The payer's verdicts are theirs: a payee hears of their own rewards only.
                for v in container.promotions.why(seen_by(found, customer.id))
            ],
        }

    return await run_in_threadpool(run)


@router.post("/me/codes", status_code=201, summary="Enter a promotion code (or who invited you)")
async def enter_code(body: CodeIn, who: Who, container: Of) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        customer = customer_of(container, who)
        try:
            campaign = container.promotions.redeem(customer, body.code)
        except CodeRefused as exc:
            message = CODE_ERRORS.get(exc.code)
            if message is not None:
                exc.args = (translator(customer.language)(message),)
            raise
        return {"campaign_id": campaign.id, "name": campaign.name, "kind": str(campaign.kind)}

    return await run_in_threadpool(run)


@router.post(
    "/draws/{draw_id}/reveal", summary="Reveal a draw's seed: the winners follow, prizes are paid (admin)"
)
async def reveal(draw_id: str, who: Who, container: Of, request: Request) -> dict[str, Any]:
    who.require(Role.ADMIN)
    draw = await run_in_threadpool(container.promotions.draws.reveal, draw_id[:16])
    return draw.published(str(request.base_url))


@router.get(
    "/draws/{draw_id}", summary="A draw as published: commitment, and after the reveal the seed and winners"
)
async def get_draw(draw_id: str, container: Of, request: Request) -> dict[str, Any]:
    draw = await run_in_threadpool(container.promotions.draws.get, draw_id[:16])
    return draw.published(str(request.base_url))


@router.get("/draws/{draw_id}/entrants", summary="The entrant list, in the order entrants_sha256 hashes")
async def entrants(draw_id: str, container: Of) -> dict[str, Any]:
    return {"items": await run_in_threadpool(container.promotions.draws.entrants, draw_id[:16])}
