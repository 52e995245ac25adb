"""Airtime and data, bills and TV, and top-ups by card or operator wallet, for a logged-in customer.

A purchase answers ``completed`` when the provider answered at once, ``pending`` while it has not
(the money is held; poll ``GET /v1/transfers/{id}`` or wait for the receipt), or a problem
``provider_failed`` / ``provider_timeout`` when the hold was released.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sika import phones
from sika.api.auth import Caller, caller, container_of, customer_of
from sika.api.fields import Amount, Body, Msisdn, MsisdnQuery, PinDigits
from sika.api.payments import AMOUNT_MAX, IdempotencyKey, money_post
from sika.bootstrap import Container
from sika.payments import Movement
from sika.providers import operator_hint
from sika.wallet import Pin

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["airtime, bills and top-ups"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "limit_exceeded"},
    404: {"description": "invalid_reference (no such meter, subscriber or card; a card number is never "
                         "taken), unknown_product"},
    409: {"description": "insufficient_funds, amount_below_minimum, amount_above_maximum, nothing_due, "
                         "amount_mismatch, bill_already_paid: this bill is paid, or being paid, by another "
                         "payment"},
    502: {"description": "provider_failed: the provider refused; the hold was released"},
    503: {"description": "provider_not_configured: no live provider sells this (nothing was held or "
                         "credited); provider_unavailable"},
}
Operator = Literal["togocom", "moov"]


class Airtime(Body):
    operator: Operator = Field(description="the user's choice: numbers are portable, the prefix is a hint")
    msisdn: Msisdn | None = Field(default=None, description="default: the customer's own number")
    amount: Amount
    pin: PinDigits | None = None


class DataBundle(Body):
    operator: Operator
    msisdn: Msisdn | None = None
    bundle: str = Field(max_length=32, description="a bundle code from GET /v1/catalogue")
    pin: PinDigits | None = None


class Bill(Body):
    provider: Literal["ceet", "tde", "canal"]
    reference: str = Field(max_length=64, description="CEET meter number, TdE subscriber reference or "
                                                      "Canal+ card number")
    amount: Amount | None = Field(default=None,
                               description="CEET: the amount to load; TdE: the amount due (see quote); "
                                           "Canal+: the package price")
    package: str | None = Field(default=None, max_length=32, description="Canal+ only: the package code")
    pin: PinDigits | None = None


class CardTopUp(Body):
    source: Literal["card"]
    reference: str = Field(pattern=r"^(?:tok_[A-Za-z0-9_]{4,60}|[0-9]{12,19})$",
                           description="the customer's card label (tok_…); the card itself is typed on the "
                                       "processor's page, whose address comes back as details.payment_url "
                                       "(a card number here is refused: invalid_reference)")
    amount: Amount


class WalletTopUp(Body):
    source: Literal["flooz", "tmoney"]
    reference: Msisdn = Field(description="the operator wallet's number")
    amount: Amount


TopUp = CardTopUp | WalletTopUp


class PurchaseQuoteOut(BaseModel):
    provider: str
    product: str
    reference: str
    amount: int
    fee: int
    total: int
    description: str
    details: dict[str, str]


def _bill_product(body: Bill) -> str:
    if body.provider == "canal":
        return f"tv:{body.package or ''}"
    return "electricity" if body.provider == "ceet" else "water"


@router.get("/catalogue", summary="What can be bought: operators, bundles, billers, packages, prices")
async def catalogue(container: Annotated[Container, Depends(container_of)]) -> list[dict[str, Any]]:
    return container.purchases.catalogue()


@router.get("/operators/hint", summary="The operator a number's prefix suggests (numbers are portable)")
async def hint(msisdn: MsisdnQuery) -> dict[str, str | None]:
    number = phones.normalize(msisdn)
    return {"msisdn": number, "operator": operator_hint(number)}


@router.get("/purchases/quote", response_model=PurchaseQuoteOut,
            summary="Validate a reference and price a purchase (TdE: the amount due)")
async def quote(
    *,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    provider: Annotated[str, Query(max_length=20)],
    product: Annotated[str, Query(max_length=40)],
    reference: Annotated[str, Query(max_length=64)],
    amount: Annotated[int | None, Query(gt=0, le=AMOUNT_MAX)] = None,
) -> PurchaseQuoteOut:
    def run() -> PurchaseQuoteOut:
        customer_of(container, who)
        q = container.purchases.quote(provider, product, reference, amount)
        return PurchaseQuoteOut(provider=q.provider, product=q.product, reference=q.reference,
                                amount=q.amount, fee=q.fee, total=q.total, description=q.description,
                                details=q.details)

    return await run_in_threadpool(run)


@router.post("/airtime", status_code=201, responses=_ERRORS, summary="Buy airtime for any number")
async def buy_airtime(
    body: Airtime,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(mid: str) -> Movement:
        payer = customer_of(container, who)
        return container.purchases.buy(mid, payer, provider=body.operator, product="airtime",
                                       reference=body.msisdn or payer.msisdn, amount=body.amount,
                                       pin=_pin(body.pin))

    return await money_post(container, who, idempotency_key, "POST /v1/airtime", body=body, run=run)


@router.post("/data", status_code=201, responses=_ERRORS, summary="Buy a data bundle for any number")
async def buy_data(
    body: DataBundle,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(mid: str) -> Movement:
        payer = customer_of(container, who)
        return container.purchases.buy(mid, payer, provider=body.operator, product=f"data:{body.bundle}",
                                       reference=body.msisdn or payer.msisdn, pin=_pin(body.pin))

    return await money_post(container, who, idempotency_key, "POST /v1/data", body=body, run=run)


@router.post("/bills", status_code=201, responses=_ERRORS,
             summary="Pay CEET prepaid electricity (token in the receipt), TdE water or a Canal+ renewal")
async def pay_bill(
    body: Bill,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(mid: str) -> Movement:
        payer = customer_of(container, who)
        return container.purchases.buy(mid, payer, provider=body.provider, product=_bill_product(body),
                                       reference=body.reference, amount=body.amount, pin=_pin(body.pin))

    return await money_post(container, who, idempotency_key, "POST /v1/bills", body=body, run=run)


@router.post("/top-ups", status_code=201, responses=_ERRORS,
             summary="Top the wallet up by card (CinetPay's page) or from Flooz / T-Money (PayGate)")
async def top_up(
    body: TopUp,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Answers ``pending`` until the processor confirms; the wallet is credited then, once."""

    def run(mid: str) -> Movement:
        customer = customer_of(container, who)
        if body.source == "card":
            provider, product = "card", "card_topup"
        else:
            provider, product = "paygate", f"wallet_topup:{body.source.upper()}"
        return container.purchases.top_up(mid, customer, provider=provider, product=product,
                                          reference=body.reference, amount=body.amount)

    # The card number is not kept in the stored request: only its digest matters for retries.
    return await money_post(container, who, idempotency_key, "POST /v1/top-ups", body=body, run=run)


def _pin(pin: str | None) -> Pin | None:
    return Pin(pin) if pin is not None else None
