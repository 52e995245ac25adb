"""``/v1/campaigns`` (admin): campaigns, their budgets and lives, code batches, draws, forecasts.

A campaign's answer always adds up: ``spent + reserved + remaining == budget``, every figure read from
the campaign's ledger account in one snapshot (sika.promotions.budget).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, caller, container_of
from sika.api.fields import WHOLE, Body
from sika.api.idempotency import idempotent
from sika.api.payments import IdempotencyKey
from sika.auth import Role
from sika.bootstrap import Container
from sika.promotions import CampaignView
from sika.promotions.codes import BATCH_MAX, as_csv
from sika.promotions.forecast import DAYS_MAX
from sika.promotions.rules import AMOUNT_MAX
from sika.promotions.store import PAGE_MAX
from sika.promotions.timing import local_iso

__all__ = ["CampaignOut", "campaign_out", "router"]

router = APIRouter(prefix="/v1", tags=["promotions"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "forbidden: admin only"},
    404: {"description": "unknown_campaign"},
    409: {"description": "invalid_campaign (rules that do not hold together), campaign_state, "
                         "idempotency_conflict, insufficient_funds (the sponsor cannot fund it)"},
    422: {"description": "validation_error"},
}
# Unix seconds up to 2100-01-01: a campaign's dates, not any float (1e16 seconds is no date at all).
UNIX_S_MAX = 4_102_444_800
Instant = Annotated[
    str | Annotated[float, Field(ge=0, le=UNIX_S_MAX)] | None,
    Field(
        default=None,
        description="ISO-8601 (without an offset: the city's wall clock) or Unix seconds",
        examples=["2026-02-19T00:00:00+00:00"],
    ),
]


class CampaignIn(Body):
    """Strict types, no unknown field (as every body of the API)."""

    name: str = Field(min_length=1, max_length=80, examples=["Ramadan cashback"])
    kind: str = Field(
        max_length=20,
        examples=["cashback"],
        description="cashback, airtime_bonus, ride_discount, referral or prize_draw",
    )
    budget: Annotated[int, Field(ge=0, le=AMOUNT_MAX, examples=[500_000]), WHOLE]
    starts_at: Instant = None
    ends_at: Instant = None
    rules: dict[str, Any] = Field(
        examples=[{"percent": 5, "reward_max": 500, "operations": ["transfer"]}],
        description="see docs/promotions.md; windows relative to prayers, caps, stacking",
    )
    sponsor: str = Field(
        default="platform", max_length=48, description="platform, merchant:<id> or operator:<provider>"
    )
    city: str = Field(default="lome", max_length=32, description="whose clock and prayers its windows follow")


class FundIn(Body):
    """Strict types, no unknown field (as every body of the API)."""

    amount: Annotated[int, Field(gt=0, le=AMOUNT_MAX, examples=[500_000]), WHOLE]
    source: str | None = Field(
        default=None,
        max_length=48,
        description="who pays, when not the sponsor: platform, merchant:<id>, operator:<name>",
    )


class CodesIn(Body):
    """Strict types, no unknown field (as every body of the API)."""

    count: Annotated[int, Field(ge=1, le=BATCH_MAX), WHOLE]
    prefix: str = Field(default="", max_length=8, examples=["RMD"])


class CampaignOut(BaseModel):
    id: str
    name: str
    kind: str
    status: str = Field(description="draft, scheduled, active, paused or ended")
    budget: int
    spent: int
    reserved: int
    remaining: int
    rewards: int = Field(description="rewards paid so far (draw entries apart)")
    entries: int
    funded: int
    returned: int
    clawed_back: int
    sponsor: str
    city: str
    starts_at: str
    ends_at: str | None
    rules: dict[str, Any]
    account_id: int = Field(description="the budget's ledger account (sika ledger account ID)")


class CampaignPage(BaseModel):
    items: list[CampaignOut]


def campaign_out(container: Container, view: CampaignView) -> CampaignOut:
    c, money = view.campaign, view.money
    zone = container.promotions.when.zone(c.city)
    return CampaignOut(
        id=c.id,
        name=c.name,
        kind=str(c.kind),
        status=str(view.status),
        budget=money.budget,
        spent=money.spent,
        reserved=money.reserved,
        remaining=money.remaining,
        rewards=view.rewards,
        entries=view.entries,
        funded=money.funded,
        returned=money.returned,
        clawed_back=money.clawed_back,
        sponsor=str(c.sponsor),
        city=c.city,
        starts_at=local_iso(c.starts_at_ns, zone),
        ends_at=None if c.ends_at_ns is None else local_iso(c.ends_at_ns, zone),
        rules=c.rules.model_dump(mode="json", exclude_defaults=True),
        account_id=c.account_id,
    )


def _instant(value: str | float | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return datetime.fromtimestamp(float(value), UTC).isoformat()


Who = Annotated[Caller, Depends(caller)]
Of = Annotated[Container, Depends(container_of)]


@router.post(
    "/campaigns",
    status_code=201,
    response_model=CampaignOut,
    responses=_ERRORS,
    summary="Create a campaign (a draft; start it to run)",
)
async def create_campaign(body: CampaignIn, who: Who, container: Of) -> CampaignOut:
    who.require(Role.ADMIN)

    def run() -> CampaignOut:
        made = container.promotions.campaigns.create(
            name=body.name,
            kind=body.kind,
            budget=body.budget,
            rules=body.rules,
            starts_at=_instant(body.starts_at),
            ends_at=_instant(body.ends_at),
            sponsor=body.sponsor,
            city=body.city,
        )
        return campaign_out(container, container.promotions.campaigns.view(made.id))

    return await run_in_threadpool(run)


@router.get("/campaigns", response_model=CampaignPage, responses=_ERRORS, summary="Campaigns, newest first")
async def list_campaigns(
    who: Who, container: Of, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50
) -> CampaignPage:
    who.require(Role.ADMIN)

    def run() -> CampaignPage:
        return CampaignPage(
            items=[campaign_out(container, v) for v in container.promotions.campaigns.list(limit)]
        )

    return await run_in_threadpool(run)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=_ERRORS, summary="One campaign")
async def get_campaign(campaign_id: str, who: Who, container: Of) -> CampaignOut:
    who.require(Role.ADMIN)
    return await run_in_threadpool(
        lambda: campaign_out(container, container.promotions.campaigns.view(campaign_id[:16]))
    )


@router.post(
    "/campaigns/{campaign_id}/fund",
    response_model=CampaignOut,
    responses=_ERRORS,
    summary="Fund the budget: a real transfer from the sponsor (or source) into its ledger account",
)
async def fund_campaign(
    campaign_id: str, body: FundIn, who: Who, container: Of, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    who.require(Role.ADMIN)

    async def handler() -> tuple[int, Any]:
        def run() -> dict[str, Any]:
            assert idempotency_key is not None
            view = container.promotions.campaigns.fund(
                campaign_id[:16], body.amount, key=f"api:{idempotency_key}", source=body.source
            )
            return campaign_out(container, view).model_dump(mode="json")

        return 200, await run_in_threadpool(run)

    return await idempotent(
        container.engine,
        who,
        key=idempotency_key,
        route=f"POST /v1/campaigns/{campaign_id}/fund",
        body=body.model_dump(mode="json"),
        handler=handler,
    )


def _life(action: str, summary: str) -> None:
    async def change(campaign_id: str, who: Who, container: Of) -> CampaignOut:
        who.require(Role.ADMIN)
        campaigns = container.promotions.campaigns
        do = {"start": campaigns.start, "pause": campaigns.pause, "end": campaigns.end}[action]
        return await run_in_threadpool(lambda: campaign_out(container, do(campaign_id[:16])))

    change.__name__ = f"{action}_campaign"
    router.post(
        f"/campaigns/{{campaign_id}}/{action}", response_model=CampaignOut, responses=_ERRORS, summary=summary
    )(change)


_life("start", "Start (or resume) a campaign; its budget is topped up to the planned figure from the sponsor")
_life("pause", "Pause a campaign: payments earn nothing from it until it starts again")
_life("end", "End a campaign: its unspent budget goes back to the sponsor")


@router.post(
    "/campaigns/{campaign_id}/codes",
    status_code=201,
    responses={
        **_ERRORS,
        201: {"content": {"text/csv": {}}, "description": "code,campaign,batch (shown this once)"},
    },
    summary="Generate a batch of one-use codes; the CSV is the only copy of the codes",
)
async def generate_codes(campaign_id: str, body: CodesIn, who: Who, container: Of) -> Response:
    who.require(Role.ADMIN)

    def run() -> str:
        promotions = container.promotions
        campaign = promotions.store.get(campaign_id[:16])
        batch, made = promotions.codes.generate(campaign.id, body.count, prefix=body.prefix)
        return as_csv(campaign, batch, made)

    return Response(await run_in_threadpool(run), status_code=201, media_type="text/csv")


@router.post(
    "/campaigns/{campaign_id}/draws",
    status_code=201,
    responses=_ERRORS,
    summary="Commit a draw: entries close, the seed's SHA-256 and the entrant list's are published",
)
async def commit_draw(campaign_id: str, who: Who, container: Of, request: Request) -> dict[str, Any]:
    who.require(Role.ADMIN)
    draw = await run_in_threadpool(container.promotions.draws.commit, campaign_id[:16])
    return draw.published(str(request.base_url))


@router.get("/campaigns/{campaign_id}/draws", responses=_ERRORS, summary="A campaign's draws, newest first")
async def campaign_draws(campaign_id: str, who: Who, container: Of, request: Request) -> dict[str, Any]:
    who.require(Role.ADMIN)
    found = await run_in_threadpool(container.promotions.draws.of_campaign, campaign_id[:16])
    return {"items": [draw.published(str(request.base_url)) for draw in found]}


@router.get(
    "/campaigns/{campaign_id}/forecast",
    responses=_ERRORS,
    summary="The last days' payments replayed through the rules: budget burn and when it runs out",
)
async def forecast(
    campaign_id: str, who: Who, container: Of, days: Annotated[int, Query(ge=1, le=DAYS_MAX)] = 7
) -> dict[str, object]:
    who.require(Role.ADMIN)
    return (await run_in_threadpool(container.promotions.forecast, campaign_id[:16], days)).as_json()
