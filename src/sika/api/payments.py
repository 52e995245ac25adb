"""Money routes: cash-in and cash-out at agents, transfers, vouchers, agents' floats, notifications.

Every POST that moves money needs an ``Idempotency-Key``; the movement's id is derived from the caller
and the key, so that even a retry after a crash (the stored answer lost) moves the money once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from sika import phones
from sika.api.auth import Caller, Forbidden, caller, container_of, customer_of, visible_customer
from sika.api.fields import (
    AMOUNT_MAX,
    Amount,
    Body,
    IdPath,
    Msisdn,
    MsisdnPath,
    MsisdnQuery,
    Name,
    PinDigits,
    RowIdPath,
)
from sika.api.idempotency import KEY_CHARS_MAX, KEY_PATTERN, idempotent, scope_of
from sika.auth import Role
from sika.bootstrap import Container
from sika.chat.i18n import translator
from sika.chat.texts.notices import reason_text
from sika.chat.texts.notifications import NotificationText
from sika.db import UNAVAILABLE
from sika.notices import category_of
from sika.payments import Agent, Movement, UnknownMovement, movement_id
from sika.payments.devices import for_parties
from sika.payments.hooks import rewards_of, seen_by
from sika.payments.outbox import OWNER_SECRET_KINDS, SECRET
from sika.wallet import Pin

__all__ = ["AMOUNT_MAX", "IdempotencyKey", "TransferOut", "money_post", "router", "transfer_out"]

router = APIRouter(prefix="/v1", tags=["payments"])
log = logging.getLogger(__name__)
BUSY_RUNS_MAX = 3
BUSY_PAUSE_S = 0.05

_MONEY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "idempotency_key_required"},
    403: {"description": "limit_exceeded, forbidden, cash_out_frozen"},
    404: {"description": "unknown_wallet"},
    409: {"description": "idempotency_conflict, idempotency_in_progress, insufficient_funds, "
                         "float_insufficient, same_wallet"},
    429: {"description": "pin_locked (Retry-After says for how long)"},
}
IdempotencyKey = Annotated[str | None, Header(max_length=KEY_CHARS_MAX, pattern=KEY_PATTERN,
                                              description="required: a retry with the same key and "
                                                          "body moves the money once")]


class CashIn(Body):
    msisdn: Msisdn
    amount: Amount


class CashOut(Body):
    msisdn: Msisdn
    amount: Amount
    pin: PinDigits | None = Field(default=None, description=(
        "the customer's PIN typed on the agent's device; without it the customer approves the "
        "request in their own channel (status pending_approval)"))


class SendMoney(Body):
    to: Msisdn
    amount: Amount
    pin: PinDigits | None = Field(default=None,
                                  description="checked when given; the session token already proves the PIN")


class ClaimVoucher(Body):
    msisdn: Msisdn = Field(description="the number the voucher was sent to")
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$")] = Field(
        description="the 8-digit code sent to that number")


class FloatCredit(Body):
    amount: Amount


class NewAgent(Body):
    name: Name
    msisdn: Msisdn | None = None


class AgentOut(BaseModel):
    id: int
    name: str
    msisdn: str | None
    float_balance: int
    api_key: str | None = Field(default=None, description="shown once, at creation")


class RewardOut(BaseModel):
    amount: int = Field(description="what the campaign paid with the payment (to the wallet, or as airtime)")
    campaign_id: str
    campaign: str
    kind: str
    withheld: int = Field(default=0, description=(
        "what the reward kept back for a reward of the same campaign owed after a refund (not paid: "
        "the reward earned was amount + withheld)"))


class TransferOut(BaseModel):
    id: str
    kind: str
    status: str
    amount: int
    fee: int
    commission: int
    currency: str
    counterparty: str | None
    error_code: str | None
    details: dict[str, Any]
    created_at: float = Field(description="Unix time in seconds")
    reward: RewardOut | None = Field(default=None, description="what the payment earned from a campaign")


class PendingApprovalOut(BaseModel):
    """A cash-out without the PIN: the customer approves it in their own channel."""

    id: str
    kind: str
    status: Literal["pending_approval"]
    amount: int
    fee: int
    expires_at: float = Field(description="Unix time in seconds")


class QuoteOut(BaseModel):
    to: str
    amount: int
    fee: int
    total: int
    operation: str
    recipient_name: str | None = Field(description=(
        "enough of the name to recognise the right person (the first name and initials: 'Kofi A.'), not "
        "a directory of everyone's names; null: no wallet yet, the money waits as a voucher"))


class VoucherOut(BaseModel):
    id: str
    amount: int
    expires_at: float


class NotificationOut(BaseModel):
    id: int
    kind: str
    text: str = Field(description="the sentence the customer reads, in their language")
    params: dict[str, Any] = Field(description="what the text was made from (a code is never shown here)")
    status: str
    channel: str | None = Field(description="how it reached the customer: whatsapp, sms, inbox")
    created_at: float
    category: str = Field(default="service", description="security, transaction, service or marketing")
    reason: str | None = Field(default=None, description="why the notification policy sent, held or dropped "
                               "it (docs/notifications.md), in the customer's language")


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


def transfer_out(movement: Movement, who: Caller) -> TransferOut:
    """The answer about a movement to ``who``, one of its parties or an admin: a party sees its own
    rewards and, as the payer, the campaigns' verdicts; not the other party's (payments.hooks.seen_by)."""
    if who.role is not Role.ADMIN:
        movement = seen_by(movement, who.customer_id)
    return TransferOut(id=movement.id, kind=str(movement.kind), status=str(movement.status),
                       amount=movement.amount, fee=movement.fee, commission=movement.commission,
                       currency=movement.currency, counterparty=movement.counterparty,
                       error_code=movement.error_code,
                       details=for_parties(movement.details),
                       created_at=movement.created_at_ns / 1e9, reward=_reward(movement))


def _reward(movement: Movement) -> RewardOut | None:
    """The payment's reward (the largest, when campaigns stacked; all are in ``details.extras``)."""
    earned = max(rewards_of(movement), key=lambda info: int(info.get("amount") or 0)
                 + int(info.get("withheld") or 0), default=None)
    if earned is None:
        return None
    return RewardOut(amount=int(earned.get("amount") or 0), campaign_id=str(earned["campaign"]),
                     campaign=str(earned.get("name", "")), kind=str(earned.get("kind", "")),
                     withheld=int(earned.get("withheld") or 0))


async def money_post(container: Container, who: Caller, key: str | None, route: str, *, body: BaseModel,
                      run: Callable[[str], Movement | JSONResponse]) -> JSONResponse:
    """Run ``run(movement id)`` once per caller and key; a refused payment is stored as its problem."""
    async def handler() -> tuple[int, Any]:
        assert key is not None
        result = await run_in_threadpool(run_again_if_busy, run, movement_id(f"{scope_of(who)}|{route}", key))
        if isinstance(result, JSONResponse):
            return result.status_code, json.loads(bytes(result.body))
        return 201, transfer_out(result.raise_for_failure(), who).model_dump()

    return await idempotent(container.engine, who, key=key, route=route,
                            body=body.model_dump(mode="json"), handler=handler)


def run_again_if_busy(run: Callable[[str], Movement | JSONResponse], mid: str) -> Movement | JSONResponse:
    """``run(mid)``, run again when the database was too busy to finish it: the services resume a
    movement by its id, so a second run finishes what the first started (the money moves once) and
    the answer tells the truth, rather than a 5xx after the money may have moved."""
    for attempt in range(BUSY_RUNS_MAX):
        try:
            return run(mid)
        except UNAVAILABLE:
            if attempt == BUSY_RUNS_MAX - 1:
                raise
            log.warning("database busy while running %s; running it again", mid)
            time.sleep(BUSY_PAUSE_S * (attempt + 1))
    raise AssertionError("unreachable")


def _agent(container: Container, who: Caller) -> Agent:
    who.require(Role.AGENT)
    assert who.key_id is not None
    return container.agents.by_key(who.key_id)


# Agents: cash in, cash out ---------------------------------------------------------------------------

@router.post("/cash-ins", status_code=201, response_model=TransferOut, responses=_MONEY_ERRORS,
             summary="Cash-in: the customer hands cash to the agent, whose float pays the wallet")
async def cash_in(
    body: CashIn,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(mid: str) -> Movement:
        return container.payments.cash_in(mid, _agent(container, who), body.msisdn, body.amount)

    return await money_post(container, who, idempotency_key, "POST /v1/cash-ins", body=body, run=run)


@router.post("/cash-outs", status_code=201, response_model=TransferOut | PendingApprovalOut,
             responses=_MONEY_ERRORS,
             summary="Cash-out: the wallet pays the agent's float, the agent hands over cash")
async def cash_out(
    body: CashOut,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """With ``pin`` the cash-out completes at once. Without it, the customer gets an approval request
    (``GET /v1/approvals``) and the answer has status ``pending_approval`` and the request's id."""

    def run(mid: str) -> Movement | JSONResponse:
        agent = _agent(container, who)
        if body.pin is not None:
            return container.payments.cash_out(mid, agent, body.msisdn, body.amount, Pin(body.pin))
        approval = container.approvals.request_cash_out(mid, agent, body.msisdn, body.amount)
        return JSONResponse(approval_out(approval), status_code=201)

    return await money_post(container, who, idempotency_key, "POST /v1/cash-outs", body=body, run=run)


# Customers: send money -------------------------------------------------------------------------------

@router.get("/transfers/quote", response_model=QuoteOut, summary="The fee and recipient before sending")
async def quote(
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    to: MsisdnQuery,
    amount: Annotated[int, Query(gt=0, le=AMOUNT_MAX)],
) -> QuoteOut:
    def run() -> QuoteOut:
        payer = customer_of(container, who)
        q = container.payments.quote_transfer(payer, to, amount)
        return QuoteOut(to=q.to, amount=q.amount, fee=q.fee, total=q.total, operation=str(q.operation),
                        recipient_name=None if q.recipient_name is None else _recognisable(q.recipient_name))

    return await run_in_threadpool(run)


@router.post("/transfers", status_code=201, response_model=TransferOut, responses=_MONEY_ERRORS,
             summary="Send money to a wallet, or to a number without one (a voucher with a code)")
async def send_money(
    body: SendMoney,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(mid: str) -> Movement:
        payer = customer_of(container, who)
        pin = Pin(body.pin) if body.pin is not None else None
        return container.payments.transfer(mid, payer, body.to, body.amount, pin=pin)

    return await money_post(container, who, idempotency_key, "POST /v1/transfers", body=body, run=run)


@router.get("/transfers/{transfer_id}", response_model=TransferOut, summary="One transfer")
async def get_transfer(
    transfer_id: IdPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> TransferOut:
    def run() -> TransferOut:
        movement = container.payments.get(transfer_id[:40])
        if not _is_party(container, who, movement):
            # Not "forbidden": whether an id exists is not for strangers to learn.
            raise UnknownMovement(f"no transfer {transfer_id[:40]}")
        return transfer_out(movement, who)

    return await run_in_threadpool(run)


def _recognisable(name: str) -> str:
    """"Kofi Agbeko" -> "Kofi A.": the sender can tell they have the right number, and a stranger
    probing numbers does not collect full names."""
    first, *others = name.split()
    return " ".join([first, *(f"{other[0]}." for other in others)])


def _is_party(container: Container, who: Caller, movement: Movement) -> bool:
    if who.role is Role.ADMIN:
        return True
    if who.customer_id is not None:
        return who.customer_id in (movement.payer_customer_id, movement.payee_customer_id)
    assert who.key_id is not None
    if who.role is Role.AGENT and movement.agent_id is not None:
        return container.agents.by_key(who.key_id).id == movement.agent_id
    if who.role is Role.MERCHANT and movement.merchant_id is not None:
        return container.merchants.by_key(who.key_id).id == movement.merchant_id
    return False


# Vouchers --------------------------------------------------------------------------------------------

@router.post("/vouchers/claim", status_code=201, response_model=TransferOut, responses=_MONEY_ERRORS,
             summary="Pay a voucher out: into the recipient's wallet, or in cash at an agent")
async def claim_voucher(
    body: ClaimVoucher,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An agent pays the voucher in cash from its float (and earns the cash-in commission); the
    recipient, logged in to the wallet opened on that number, takes it into the wallet."""

    def run(mid: str) -> Movement:
        if who.customer_id is not None:
            customer = container.customers.by_id(who.customer_id)
            return container.payments.claim_voucher(mid, customer.msisdn, body.code)
        return container.payments.claim_voucher(mid, body.msisdn, body.code,
                                                agent=_agent(container, who))

    return await money_post(container, who, idempotency_key, "POST /v1/vouchers/claim", body=body, run=run)


@router.get("/vouchers", response_model=list[VoucherOut], summary="Vouchers waiting for a number")
async def list_vouchers(
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    msisdn: MsisdnQuery,
) -> list[VoucherOut]:
    def run() -> list[VoucherOut]:
        if who.customer_id is not None:
            if container.customers.by_id(who.customer_id).msisdn != phones.normalize(msisdn):
                raise Forbidden("a customer sees the vouchers for their own number")
        else:
            who.require(Role.ADMIN, Role.AGENT)
        return [VoucherOut(id=v["movement_id"], amount=v["amount"], expires_at=v["expires_at_ns"] / 1e9)
                for v in container.payments.vouchers_for(msisdn)]

    return await run_in_threadpool(run)


# Agents ----------------------------------------------------------------------------------------------

@router.post("/agents", status_code=201, response_model=AgentOut, summary="Create an agent (admin)")
async def create_agent(
    body: NewAgent,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> AgentOut:
    def run() -> AgentOut:
        who.require(Role.ADMIN)
        agent, secret = container.agents.create(body.name, msisdn=body.msisdn)
        return AgentOut(id=agent.id, name=agent.name, msisdn=agent.msisdn, float_balance=0, api_key=secret)

    return await run_in_threadpool(run)


@router.get("/agents/me", response_model=AgentOut, summary="The calling agent and its float")
async def agent_me(
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> AgentOut:
    def run() -> AgentOut:
        agent = _agent(container, who)
        balance = container.ledger.get_account(agent.float_account_id).balance
        return AgentOut(id=agent.id, name=agent.name, msisdn=agent.msisdn, float_balance=balance)

    return await run_in_threadpool(run)


@router.post("/agents/{agent_id}/float", status_code=201, response_model=TransferOut,
             responses=_MONEY_ERRORS, summary="Credit an agent's float (admin)")
async def credit_float(
    agent_id: RowIdPath,
    body: FloatCredit,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    who.require(Role.ADMIN)

    def run(mid: str) -> Movement:
        return container.payments.credit_float(mid, container.agents.get(agent_id), body.amount)

    route = f"POST /v1/agents/{agent_id}/float"
    return await money_post(container, who, idempotency_key, route, body=body, run=run)


# Notifications ---------------------------------------------------------------------------------------

@router.get("/wallets/{msisdn}/notifications", response_model=NotificationPage,
            summary="Receipts and notifications for a wallet, newest first (the in-app inbox)")
async def notifications(
    msisdn: MsisdnPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
) -> NotificationPage:
    def run() -> NotificationPage:
        customer = visible_customer(container, who, msisdn, Role.ADMIN)
        items = container.outbox.feed(customer.msisdn, limit=limit,
                                      before=int(cursor) if cursor is not None else None)
        next_cursor = str(items[-1].id) if len(items) == limit else None
        text = NotificationText(container.customers, container.statements)
        t = translator(customer.language)
        # A code meant for the owner (one to pass on) is shown to the owner once, then forgotten; no
        # other code is ever shown here.
        revealed = [m for m in items if who.customer_id is not None and m.kind in OWNER_SECRET_KINDS]
        page = []
        for m in items:
            public = {k: v for k, v in m.params.items() if k != SECRET}
            page.append(NotificationOut(
                id=m.id, kind=m.kind, status=m.status, channel=m.channel, created_at=m.created_at_ns / 1e9,
                params=public, text=text(m.kind, m.params if m in revealed else public, m.msisdn),
                category=category_of(m.kind), reason=reason_text(t, m.reason)))
        container.outbox.forget_secrets(revealed)
        return NotificationPage(items=page, next_cursor=next_cursor)

    return await run_in_threadpool(run)


def approval_out(approval: Any) -> dict[str, Any]:
    return {"id": approval.id, "kind": approval.kind, "status": "pending_approval",
            "amount": approval.amount, "fee": approval.fee, "expires_at": approval.expires_at_ns / 1e9}


