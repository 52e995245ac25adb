"""``/v1/wallets`` and ``/v1/sessions``: open a wallet, read it, and log a customer in with a PIN."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, Forbidden, caller, container_of
from sika.api.fields import WHOLE, Body, Msisdn, MsisdnPath, Name, NewPinDigits, PinDigits
from sika.api.idempotency import KEY_CHARS_MAX, KEY_PATTERN, idempotent
from sika.auth import Role
from sika.bootstrap import Container
from sika.errors import SikaError
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


class OpenSession(Body):
    msisdn: Msisdn
    pin: PinDigits


class SessionOut(BaseModel):
    token: str
    expires_at: int = Field(description="Unix time in seconds")


def _authorize(who: Caller, customer: Customer, *roles: Role) -> None:
    """The wallet's own customer, or a key with one of ``roles``."""
    if who.customer_id is None:
        who.require(*roles)
    elif who.customer_id != customer.id:
        raise Forbidden("a customer sees only their own wallet")


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
        customer = container.customers.get(msisdn)
        _authorize(who, customer, Role.ADMIN, Role.AGENT)
        return _wallet(container, customer)

    return await run_in_threadpool(run)


class PinChange(Body):
    new_pin: NewPinDigits
    old_pin: PinDigits | None = Field(
        default=None, description="required from the customer; an agent resetting leaves it out")


class TierChange(Body):
    tier: Annotated[int, Field(ge=0, le=2), WHOLE] = Field(
        description="1 once an agent has recorded the customer's ID")


@router.put("/wallets/{msisdn}/pin", status_code=204, summary="Change the PIN (customer) or reset it (agent)",
            responses={401: {"description": "invalid_pin"}, 400: {"description": "weak_pin"},
                       423: {"description": "pin_locked"}})
async def change_pin(
    msisdn: MsisdnPath,
    body: PinChange,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> None:
    """The customer gives the old PIN; an agent, having checked the customer's ID, resets it (which
    lifts a lock)."""

    def run() -> None:
        customer = container.customers.get(msisdn)
        _authorize(who, customer, Role.AGENT, Role.ADMIN)
        if who.customer_id is not None:
            if body.old_pin is None:
                raise SikaError("give the current PIN to change it", code="validation_error")
            container.customers.change_pin(customer.msisdn, Pin(body.old_pin), Pin(body.new_pin))
        else:
            container.customers.reset_pin(customer.msisdn, Pin(body.new_pin))

    await run_in_threadpool(run)


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
        customer = container.customers.get(msisdn)
        _authorize(who, customer, Role.ADMIN)
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


@router.post("/sessions", status_code=201, response_model=SessionOut,
             summary="Log a customer in with their PIN")
async def open_session(
    body: OpenSession, container: Annotated[Container, Depends(container_of)]
) -> SessionOut:
    def run() -> SessionOut:
        session = container.sessions.open(body.msisdn, Pin(body.pin))
        return SessionOut(token=session.token, expires_at=session.expires_at_ns // 1_000_000_000)

    return await run_in_threadpool(run)
