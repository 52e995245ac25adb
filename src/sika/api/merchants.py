"""Merchants and approvals: request-to-pay, the customer's approval with the PIN, refunds.

A merchant (an API key with role merchant) asks a phone number to pay; the customer sees the request in
their channel (``GET /v1/approvals``, the chat's "approve a merchant request") and approves it with the
PIN; the merchant gets a signed callback (see ``sika.payments.callbacks``) and can poll
``GET /v1/payment-requests/{id}``. Agents' cash-outs without a PIN at the counter use the same
approvals.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, caller, container_of, customer_of
from sika.api.fields import WHOLE, Amount, Body, IdPath, Msisdn, Name, PinDigits
from sika.api.payments import IdempotencyKey, TransferOut, money_post, transfer_out
from sika.auth import Role
from sika.bootstrap import Container
from sika.payments import Merchant, Movement
from sika.payments.approvals import Approval, UnknownApproval
from sika.wallet import Pin

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["merchants"])
_Url = Annotated[str, StringConstraints(pattern=r"^https?://[\x21-\x7e]+$", max_length=500)]


class NewMerchant(Body):
    name: Name
    callback_url: _Url | None = Field(default=None, description="where signed payment events are POSTed")


class MerchantOut(BaseModel):
    id: int
    name: str
    callback_url: str | None
    balance: int
    api_key: str | None = Field(default=None, description="shown once, at creation")
    callback_secret: str | None = Field(default=None, description="the callbacks' HMAC key, shown once")


class PaymentRequest(Body):
    msisdn: Msisdn
    amount: Amount
    description: str = Field(default="", max_length=140, examples=["Order 1042: 2 pagnes"])
    reference: str | None = Field(default=None, min_length=1, max_length=64, examples=["order-1042"])
    expires_in_s: Annotated[int, Field(ge=60, le=86_400), WHOLE] = 300


class ApprovalOut(BaseModel):
    id: str
    kind: str
    status: str
    amount: int
    fee: int
    description: str = Field(description="the merchant's own text: show it as their note, never as who asks")
    reference: str | None
    payment_id: str | None
    expires_at: float
    requester: str | None = Field(default=None, description="who asks, by the name Sika registered for "
                                  "them: show this first (in the customer's list of requests)")


class ApprovePayment(Body):
    pin: PinDigits


class Refund(Body):
    amount: Amount | None = Field(default=None, description="default: the whole payment")


def _approval_out(approval: Approval, requester: str | None = None) -> ApprovalOut:
    status = "pending_approval" if approval.status == "pending" else approval.status
    return ApprovalOut(id=approval.id, kind=approval.kind, status=status, amount=approval.amount,
                       fee=approval.fee, description=approval.description,
                       reference=approval.merchant_reference, payment_id=approval.movement_id,
                       expires_at=approval.expires_at_ns / 1e9, requester=requester)


def _merchant(container: Container, who: Caller) -> Merchant:
    who.require(Role.MERCHANT)
    assert who.key_id is not None
    return container.merchants.by_key(who.key_id)


@router.post("/merchants", status_code=201, response_model=MerchantOut, summary="Create a merchant (admin)")
async def create_merchant(
    body: NewMerchant,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> MerchantOut:
    def run() -> MerchantOut:
        who.require(Role.ADMIN)
        merchant, secret = container.merchants.create(body.name, callback_url=body.callback_url)
        return MerchantOut(id=merchant.id, name=merchant.name, callback_url=merchant.callback_url, balance=0,
                           api_key=secret, callback_secret=merchant.callback_secret)

    return await run_in_threadpool(run)


@router.get("/merchants/me", response_model=MerchantOut, summary="The calling merchant and its balance")
async def merchant_me(
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> MerchantOut:
    def run() -> MerchantOut:
        merchant = _merchant(container, who)
        balance = container.ledger.get_account(merchant.account_id).balance
        return MerchantOut(id=merchant.id, name=merchant.name, callback_url=merchant.callback_url,
                           balance=balance)

    return await run_in_threadpool(run)


@router.post("/payment-requests", status_code=201, response_model=ApprovalOut,
             responses={409: {"description": "idempotency_conflict"}, 404: {"description": "unknown_wallet"}},
             summary="Ask a phone number to pay (request-to-pay); the customer approves with the PIN")
async def request_payment(
    body: PaymentRequest,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(request_id: str) -> JSONResponse:
        merchant = _merchant(container, who)
        approval = container.approvals.request_payment(
            request_id, merchant, body.msisdn, body.amount, description=body.description,
            reference=body.reference, ttl_s=body.expires_in_s)
        return JSONResponse(_approval_out(approval).model_dump(), status_code=201)

    return await money_post(container, who, idempotency_key, "POST /v1/payment-requests", body=body, run=run)


@router.get("/payment-requests/{request_id}", response_model=ApprovalOut, summary="A request's status")
async def get_payment_request(
    request_id: IdPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> ApprovalOut:
    def run() -> ApprovalOut:
        approval = container.approvals.get(request_id[:40])
        allowed = (
            who.role is Role.ADMIN
            or (who.customer_id is not None and who.customer_id == approval.customer_id)
            or (who.role is Role.MERCHANT and approval.merchant_id == _merchant(container, who).id)
            or (who.role is Role.AGENT and who.key_id is not None
                and approval.agent_id == container.agents.by_key(who.key_id).id))
        if not allowed:
            raise UnknownApproval(f"no approval request {request_id[:40]}")
        return _approval_out(approval)

    return await run_in_threadpool(run)


@router.get("/approvals", response_model=list[ApprovalOut], summary="Requests waiting for my approval")
async def my_approvals(
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> list[ApprovalOut]:
    def run() -> list[ApprovalOut]:
        customer = customer_of(container, who)
        return [_approval_out(a, container.approvals.requester(a)[0])
                for a in container.approvals.pending_for(customer.id)]

    return await run_in_threadpool(run)


@router.post("/approvals/{approval_id}/approve", status_code=201, response_model=TransferOut,
             responses={401: {"description": "invalid_pin"}, 402: {"description": "insufficient_funds"},
                        409: {"description": "approval_closed, approval_expired"},
                        423: {"description": "pin_locked"}},
             summary="Approve a request with the PIN: the payment is made (once, however often sent)")
async def approve(
    approval_id: IdPath,
    body: ApprovePayment,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> TransferOut:
    def run() -> TransferOut:
        customer = customer_of(container, who)
        movement: Movement = container.approvals.approve(approval_id[:40], customer, Pin(body.pin))
        return transfer_out(movement.raise_for_failure(), who)

    return await run_in_threadpool(run)


@router.post("/approvals/{approval_id}/decline", response_model=ApprovalOut, summary="Decline a request")
async def decline(
    approval_id: IdPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> ApprovalOut:
    def run() -> ApprovalOut:
        return _approval_out(container.approvals.decline(approval_id[:40], customer_of(container, who)))

    return await run_in_threadpool(run)


@router.post("/payments/{payment_id}/refunds", status_code=201, response_model=TransferOut,
             responses={409: {"description": "already_refunded, not_refundable"}},
             summary="Refund a payment, wholly or in part (once per payment)")
async def refund(
    payment_id: IdPath,
    body: Refund,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def run(mid: str) -> Movement:
        merchant = _merchant(container, who)
        return container.payments.merchant_refund(mid, merchant, payment_id[:40], body.amount)

    return await money_post(container, who, idempotency_key, f"POST /v1/payments/{payment_id[:40]}/refunds",
                            body=body, run=run)



