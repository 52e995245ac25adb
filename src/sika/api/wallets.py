"""``/v1/wallets`` and ``/v1/sessions``: open a wallet, read it, and log a customer in with a PIN."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, caller, container_of, visible_customer
from sika.api.fields import WHOLE, Body, Msisdn, MsisdnPath, Name, NewPinDigits
from sika.api.idempotency import KEY_CHARS_MAX, KEY_PATTERN, idempotent
from sika.auth import Role
from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.texts.statement import as_dict
from sika.wallet import Customer, Pin

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["wallets"])


class OpenWallet(Body):
    msisdn: Msisdn
    name: Name
    language: Literal["fr", "en", "es", "it", "pt", "ru", "ar"] | None = None
    pin: NewPinDigits | None = None


class Wallet(BaseModel):
    msisdn: str
    name: str
    currency: str
    balance: int
    available: int
    tier: int


class StatementItem(BaseModel):
    """One movement as this customer sees it (docs/wallet.md, "Statements")."""

    id: str = Field(description="the movement's id (as in GET /v1/transfers/{id})")
    kind: str = Field(description="cash_in, cash_out, transfer, voucher, voucher_claim, voucher_refund, "
                                  "airtime, bill, top_up, merchant_payment, merchant_refund, ride, "
                                  "driver_payout")
    status: Literal["completed", "pending", "failed"]
    amount: int = Field(description="the signed change of this wallet's balance, fee included: the "
                                    "amounts of completed items add up to the balance; a pending item's "
                                    "is what is held or expected; a failed item's is 0")
    fee: int = Field(description="this customer's fee (never the other side's)")
    currency: str
    counterparty: str = Field(description="the other party as this customer sees them: name (number), "
                                          "an agent, a merchant's registered name, a provider, a driver")
    counterparty_msisdn: str | None = Field(description="the other party's number, when a person")
    description: str = Field(description="what it was, in the customer's language")
    reward: int = Field(default=0, description="the part of amount a campaign paid with this payment (a "
                                               "cashback, a ride discount), or took back with a refund "
                                               "(negative); 0 otherwise")
    at: str = Field(description="when, ISO-8601 (UTC)")


class TransactionPage(BaseModel):
    items: list[StatementItem]
    next_cursor: str | None


def _wallet(container: Container, customer: Customer) -> Wallet:
    assert customer.account_id is not None
    account = container.ledger.get_account(customer.account_id)
    return Wallet(msisdn=customer.msisdn, name=customer.name, currency=account.currency,
                  balance=account.balance, available=account.available, tier=customer.tier)


@router.post("/wallets", status_code=201, response_model=Wallet, summary="Open a wallet",
             responses={409: {"description": "wallet_exists, idempotency_conflict"}})
async def open_wallet(
    body: OpenWallet,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: Annotated[str | None, Header(max_length=KEY_CHARS_MAX, pattern=KEY_PATTERN)] = None,
) -> JSONResponse:
    """Retries with the same ``Idempotency-Key`` and body get the first answer (the header is
    optional here, since opening moves no money; when sent, it is honoured)."""
    who.require(Role.ADMIN, Role.AGENT)

    def run() -> Wallet:
        pin = Pin(body.pin) if body.pin is not None else None
        customer = container.customers.open(body.msisdn, body.name, language=body.language, pin=pin)
        return _wallet(container, customer)

    async def handler() -> tuple[int, Any]:
        return 201, (await run_in_threadpool(run)).model_dump()

    if idempotency_key is None:
        status, payload = await handler()
        return JSONResponse(payload, status_code=status)
    return await idempotent(container.engine, who, key=idempotency_key, route="POST /v1/wallets",
                            body=body.model_dump(), handler=handler)


@router.get("/wallets/{msisdn}", response_model=Wallet, summary="A wallet's balance and tier")
async def get_wallet(
    msisdn: MsisdnPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> Wallet:
    def run() -> Wallet:
        return _wallet(container, visible_customer(container, who, msisdn, Role.ADMIN, Role.AGENT))

    return await run_in_threadpool(run)


class TierChange(Body):
    tier: Annotated[int, Field(ge=0, le=2), WHOLE] = Field(
        description="1 once an agent has recorded the customer's ID")


@router.put("/wallets/{msisdn}/tier", response_model=Wallet, summary="Set the KYC tier (agent, admin)")
async def change_tier(
    msisdn: MsisdnPath,
    body: TierChange,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> Wallet:
    def run() -> Wallet:
        who.require(Role.AGENT, Role.ADMIN)
        if body.tier == 2:
            who.require(Role.ADMIN)
        return _wallet(container, container.customers.set_tier(msisdn, body.tier))

    return await run_in_threadpool(run)


@router.get("/wallets/{msisdn}/transactions", response_model=TransactionPage,
            summary="A wallet's statement, newest first",
            responses={404: {"description": "invalid_cursor (a cursor no page gave)"}})
async def wallet_transactions(
    msisdn: MsisdnPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TransactionPage:
    """Each movement once, as this customer sees it: the ``amount``s of ``completed`` items add up to
    the wallet's balance; ``pending`` items are not in it yet; the customer never sees another's fee
    or failed attempts. Pages follow ``next_cursor`` until it is null."""

    def run() -> TransactionPage:
        customer = visible_customer(container, who, msisdn, Role.ADMIN)
        page = container.statements.page(customer, limit=limit, cursor=cursor)
        t = translator(customer.language)
        return TransactionPage(items=[StatementItem(**as_dict(t, item)) for item in page.items],
                               next_cursor=page.next_cursor)

    return await run_in_threadpool(run)


