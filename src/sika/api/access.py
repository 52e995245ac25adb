"""Access to a wallet: log in with the PIN, change it, and reset a lost one with a code.

- ``POST /v1/sessions``: the PIN buys a token. Wrong PINs count per wallet (locking logins, not the
  owner's WhatsApp or USSD) and per client address (one address cannot lock many wallets); a number
  without a wallet answers as a wrong PIN does.
- ``PUT /v1/wallets/{msisdn}/pin``: with the current PIN (the customer), or with the code a reset sent
  to the number (anyone holding it: the customer at an agent's counter). A new PIN ends every session.
- ``POST /v1/wallets/{msisdn}/pin-resets``: an agent or operator sends that code to the number. An
  agent alone cannot set a PIN: the code is the factor only the number's holder has. A reset freezes
  cash-out and transfers out for a while (``SIKA_PIN_RESET_FREEZE_S``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sika.api.auth import Caller, Forbidden, caller, container_of, visible_customer
from sika.api.fields import Body, Msisdn, MsisdnPath, NewPinDigits, PinDigits
from sika.auth import Role
from sika.bootstrap import Container
from sika.wallet import Pin
from sika.wallet.pin_resets import CODE_DIGITS, PinResets

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["wallets"])

_LOCKS: dict[int | str, dict[str, Any]] = {
    429: {"description": "pin_locked or too_many_attempts; Retry-After says for how long"}}


class OpenSession(Body):
    msisdn: Msisdn
    pin: PinDigits


class SessionOut(BaseModel):
    token: str
    expires_at: int = Field(description="Unix time in seconds")


class PinChange(Body):
    """The customer changes the PIN with the current one."""

    old_pin: PinDigits
    new_pin: NewPinDigits


class PinReset(Body):
    """A lost PIN replaced with the code a reset sent to the wallet's number."""

    reset_code: str = Field(pattern=rf"^[0-9]{{{CODE_DIGITS}}}$",
                            description="the code POST /v1/wallets/{msisdn}/pin-resets sent to the number")
    new_pin: NewPinDigits


class ResetOut(BaseModel):
    status: str = Field(description="code_sent")
    expires_at: int = Field(description="Unix time in seconds: the code works until then")
    cash_out_frozen_s: int = Field(description="after the reset, cash-out and transfers out wait this long")


def _resets(container: Container) -> PinResets:
    assert container.pin_resets is not None
    return container.pin_resets


@router.post("/sessions", status_code=201, response_model=SessionOut, responses=_LOCKS,
             summary="Log a customer in with their PIN")
async def open_session(body: OpenSession, request: Request,
                       container: Annotated[Container, Depends(container_of)]) -> SessionOut:
    source = request.client.host if request.client is not None else "unknown"

    def run() -> SessionOut:
        session = container.sessions.open(body.msisdn, Pin(body.pin), source=source)
        return SessionOut(token=session.token, expires_at=session.expires_at_ns // 1_000_000_000)

    return await run_in_threadpool(run)


@router.put("/wallets/{msisdn}/pin", status_code=204, responses=_LOCKS,
            summary="Change the PIN with the current one, or set a new one with a reset's code")
async def change_pin(
    msisdn: MsisdnPath,
    body: PinChange | PinReset,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> None:
    """Either way every session of the wallet ends; a reset also freezes cash-out for a while."""

    def run() -> None:
        if isinstance(body, PinReset):
            customer = visible_customer(container, who, msisdn, Role.AGENT, Role.ADMIN)
            _resets(container).complete(customer, body.reset_code, Pin(body.new_pin))
            return
        if who.customer_id is None:
            raise Forbidden("only the customer changes a PIN with the current one; an agent resets it "
                            "with the code sent to the number (POST /v1/wallets/{msisdn}/pin-resets)")
        customer = visible_customer(container, who, msisdn)
        container.customers.change_pin(customer.msisdn, Pin(body.old_pin), Pin(body.new_pin))

    await run_in_threadpool(run)


@router.post("/wallets/{msisdn}/pin-resets", status_code=202, response_model=ResetOut,
             summary="Send a PIN-reset code to the wallet's number (agent, admin)")
async def start_reset(
    msisdn: MsisdnPath,
    who: Annotated[Caller, Depends(caller)],
    container: Annotated[Container, Depends(container_of)],
) -> ResetOut:
    def run() -> ResetOut:
        who.require(Role.AGENT, Role.ADMIN)
        customer = container.customers.get(msisdn)
        started = _resets(container).start(customer, requested_by=who.key_id)
        return ResetOut(status="code_sent", expires_at=started.expires_at_ns // 1_000_000_000,
                        cash_out_frozen_s=_resets(container).freeze_cash_out_s)

    return await run_in_threadpool(run)
