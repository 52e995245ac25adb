"""``POST /ussd``: Africa's Talking's USSD callback (form-encoded), answered in ``text/plain``.

The body is parsed by hand (``application/x-www-form-urlencoded``), so no multipart library is needed;
anything malformed gets an ``END`` screen, never an error page: the phone shows whatever we answer.

Africa's Talking signs nothing, and the request names the phone number it speaks for: a request that
does not come from the gateway (see :mod:`sika.api.gateway_auth`: an address allow-list and a secret
token in the callback URL) is refused with 403 and an ``END`` screen, before anything is read.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from sika.api.auth import container_of
from sika.api.gateway_auth import africastalking_allowed
from sika.bootstrap import Container
from sika.chat.ussd import UssdGateway, UssdRequest, unavailable

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["channels"])
BODY_BYTES_MAX = 8_192


def _gateway(request: Request) -> UssdGateway:
    gateway: UssdGateway = request.app.state.ussd
    return gateway


@router.post("/ussd", response_class=PlainTextResponse,
             summary="Africa's Talking USSD callback: sessionId, serviceCode, phoneNumber, networkCode, text",
             openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                 # Nothing is required: whatever comes, the phone gets a screen (an END when unusable).
                 "type": "object",
                 "properties": {name: {"type": "string"} for name in
                                ("sessionId", "serviceCode", "phoneNumber", "networkCode", "text")}}}}},
                            "parameters": [{"name": "token", "in": "query", "required": False,
                                            "schema": {"type": "string"},
                                            "description": "SIKA_AFRICASTALKING_CALLBACK_TOKEN, when set"}]},
             responses={403: {"description": "not from the USSD gateway (address or token): an END screen",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def ussd(
    request: Request,
    gateway: Annotated[UssdGateway, Depends(_gateway)],
    container: Annotated[Container, Depends(container_of)],
) -> PlainTextResponse:
    """Answers ``CON <screen>`` to wait for the next input or ``END <screen>`` to close, at most 182
    characters."""
    if not africastalking_allowed(request, container.settings):
        log.warning("USSD request refused: not from the gateway (address %s or token)",
                    request.client.host if request.client is not None else "?")
        return PlainTextResponse(unavailable(), status_code=403)
    body = await request.body()
    if len(body) > BODY_BYTES_MAX:
        return PlainTextResponse(unavailable())
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    call = UssdRequest(session_id=fields.get("sessionId", ""), service_code=fields.get("serviceCode", ""),
                       phone_number=fields.get("phoneNumber", ""), network_code=fields.get("networkCode", ""),
                       text=fields.get("text", ""))
    try:
        screen = await run_in_threadpool(gateway.handle, call)
    except Exception:  # the phone must get a screen whatever happens; the error is logged
        log.exception("USSD session %s failed", call.session_id[:64])
        screen = unavailable()
    return PlainTextResponse(screen)
