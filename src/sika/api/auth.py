"""Bearer authentication: an API key (admin, agent, merchant) or a customer token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from sika import phones
from sika.auth import Role
from sika.bootstrap import Container
from sika.errors import SikaError
from sika.payments.devices import DEVICE_PATTERN, Device, device_digest, paying_from
from sika.wallet import Customer, UnknownWallet

__all__ = ["Caller", "Forbidden", "Unauthorized", "caller", "container_of", "customer_of", "visible_customer"]


class Unauthorized(SikaError):
    code = "unauthorized"


class Forbidden(SikaError):
    code = "forbidden"


@dataclass(frozen=True, slots=True)
class Caller:
    role: Role | None  # None for a customer
    customer_id: int | None = None
    key_id: int | None = None

    def require(self, *roles: Role) -> None:
        if self.role is None or self.role not in roles:
            raise Forbidden("this key's role may not do that")


# Declares the scheme in the OpenAPI document; the header is read below, with Sika's own problem.
_BEARER = HTTPBearer(auto_error=False, description="an API key (admin, agent, merchant) or a customer token")


async def caller(
    request: Request,
    _declared: Annotated[object, Depends(_BEARER)] = None,
    device: Annotated[str | None, Header(
        alias="X-Sika-Device", pattern=DEVICE_PATTERN,
        description="a customer's app: its installation's id, what a campaign's per_device_max counts "
                    "(checked on every request, kept only for a customer's own payments)")] = None,
) -> Caller:
    container: Container = request.app.state.container
    paying_from(None)
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise Unauthorized("send Authorization: Bearer <API key or customer token>")
    key = await run_in_threadpool(container.api_keys.authenticate, credential.strip())
    if key is not None:
        return Caller(role=key.role, key_id=key.id)
    customer_id = await run_in_threadpool(container.sessions.customer_id, credential.strip())
    if customer_id is not None:
        # In this request's task: its handler, and the threads it hands the payment to, see it.
        if device is not None:
            secret = container.settings.promo_code_key.encode()
            paying_from(Device(customer_id, device_digest(device, secret)))
        return Caller(role=None, customer_id=customer_id)
    raise Unauthorized("unknown, revoked or expired credential")


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def customer_of(container: Container, who: Caller) -> Customer:
    """The calling customer; a route a customer uses for their own wallet refuses API keys."""
    if who.customer_id is None:
        raise Forbidden("this needs a customer token (POST /v1/sessions with the PIN), not an API key")
    return container.customers.by_id(who.customer_id)


def visible_customer(container: Container, who: Caller, msisdn: str, *roles: Role) -> Customer:
    """The wallet at ``msisdn`` if the caller may see it. Whether another number has a wallet is not
    for a customer (nor a key without ``roles``) to learn: they get 404 or 403 whatever exists."""
    if who.customer_id is None:
        who.require(*roles)
        return container.customers.get(msisdn)
    own = container.customers.by_id(who.customer_id)
    if own.msisdn != phones.normalize(msisdn):
        raise UnknownWallet(f"{phones.normalize(msisdn)} has no wallet you can see")
    return own
