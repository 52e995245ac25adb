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
from sika.ledger import TransferFlags, TransferRecord
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


class WalletTransaction(BaseModel):
    id: str
    direction: Literal["credit", "debit"]
    amount: int
    currency: str
    status: Literal["posted", "pending", "voided", "expired"]
    code: int
    created_at: float = Field(description="Unix time in seconds")


class TransactionPage(BaseModel):
    items: list[WalletTransaction]
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
            summary="A wallet's transactions, newest first")
async def wallet_transactions(
    msisdn: MsisdnPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> TransactionPage:
    def run() -> TransactionPage:
        customer = visible_customer(container, who, msisdn, Role.ADMIN)
        assert customer.account_id is not None
        page = container.ledger.account_transfers(customer.account_id, limit=limit, cursor=cursor)
        items = [_transaction(record, customer.account_id) for record in page.items]
        return TransactionPage(items=items, next_cursor=page.next_cursor)

    return await run_in_threadpool(run)


def _transaction(record: TransferRecord, account_id: int) -> WalletTransaction:
    flags = int(record.flags)
    if flags & TransferFlags.PENDING:
        status = str(record.pending_status or "pending")
    elif flags & TransferFlags.VOID_PENDING:
        status = "voided"
    else:
        status = "posted"
    return WalletTransaction(
        id=record.id,
        direction="credit" if record.credit_account_id == account_id else "debit",
        amount=record.amount,
        currency=record.currency,
        status=status,
        code=record.code,
        created_at=record.created_at_ns / 1e9,
    )
