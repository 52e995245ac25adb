"""``/v1/wallets`` and ``/v1/sessions``: open a wallet, read it, and log a customer in with a PIN."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, Forbidden, caller, container_of
from sika.api.idempotency import KEY_CHARS_MAX, idempotent
from sika.auth import Role
from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.statement_text import as_dict
from sika.errors import SikaError
from sika.wallet import Customer, Pin

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["wallets"])


class OpenWallet(BaseModel):
    msisdn: str = Field(max_length=32, examples=["+22890112233"])
    name: str = Field(max_length=200, examples=["Ama Mensah"])
    language: str | None = Field(default=None, max_length=5, examples=["fr"])
    pin: str | None = Field(default=None, max_length=8, examples=["4827"])


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
    at: str = Field(description="when, ISO-8601 (UTC)")


class TransactionPage(BaseModel):
    items: list[StatementItem]
    next_cursor: str | None


class OpenSession(BaseModel):
    msisdn: str = Field(max_length=32)
    pin: str = Field(max_length=8)


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
    idempotency_key: Annotated[str | None, Header(max_length=KEY_CHARS_MAX)] = None,
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
    msisdn: str,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> Wallet:
    def run() -> Wallet:
        customer = container.customers.get(msisdn)
        _authorize(who, customer, Role.ADMIN, Role.AGENT)
        return _wallet(container, customer)

    return await run_in_threadpool(run)


class PinChange(BaseModel):
    new_pin: str = Field(max_length=8)
    old_pin: str | None = Field(default=None, max_length=8,
                                description="required from the customer; an agent resetting leaves it out")


class TierChange(BaseModel):
    tier: int = Field(ge=0, le=2, description="1 once an agent has recorded the customer's ID")


@router.put("/wallets/{msisdn}/pin", status_code=204, summary="Change the PIN (customer) or reset it (agent)",
            responses={401: {"description": "invalid_pin"}, 400: {"description": "weak_pin"},
                       423: {"description": "pin_locked"}})
async def change_pin(
    msisdn: str,
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
    msisdn: str,
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
            responses={400: {"description": "validation_error (a cursor no page gave)"}})
async def wallet_transactions(
    msisdn: str,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TransactionPage:
    """Each movement once, as this customer sees it: the ``amount``s of ``completed`` items add up to
    the wallet's balance; ``pending`` items are not in it yet; the customer never sees another's fee
    or failed attempts. Pages follow ``next_cursor`` until it is null."""

    def run() -> TransactionPage:
        customer = container.customers.get(msisdn)
        _authorize(who, customer, Role.ADMIN)
        page = container.statements.page(customer, limit=limit, cursor=cursor)
        t = translator(customer.language)
        return TransactionPage(items=[StatementItem(**as_dict(t, item)) for item in page.items],
                               next_cursor=page.next_cursor)

    return await run_in_threadpool(run)


@router.post("/sessions", status_code=201, response_model=SessionOut,
             summary="Log a customer in with their PIN")
async def open_session(
    body: OpenSession, container: Annotated[Container, Depends(container_of)]
) -> SessionOut:
    def run() -> SessionOut:
        session = container.sessions.open(body.msisdn, Pin(body.pin))
        return SessionOut(token=session.token, expires_at=session.expires_at_ns // 1_000_000_000)

    return await run_in_threadpool(run)
