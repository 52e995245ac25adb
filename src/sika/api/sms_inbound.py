"""``POST /webhooks/africastalking/sms/inbound``: SMS people send to Sika's number (form-encoded).

Only STOP and its equivalents in the seven languages are understood by SMS (the wallet itself is on
WhatsApp, USSD and the app): the number is opted out of marketing at once, and a confirmation in its
language goes back by the outbox (a service message: it is never held). Set this URL (with
``?token=<SIKA_AFRICASTALKING_CALLBACK_TOKEN>``) as the incoming messages callback in Africa's
Talking's dashboard; it is accepted as the delivery reports are (:mod:`sika.api.sms`). A message
from anything but a mobile number of the zone is acknowledged and ignored.
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sika import phones
from sika.api.auth import container_of
from sika.api.gateway_auth import africastalking_allowed
from sika.api.problems import problem
from sika.bootstrap import Container
from sika.chat.consent import is_stop
from sika.errors import SikaError
from sika.payments.outbox import enqueue

__all__ = ["router"]

router = APIRouter(tags=["channels"])
BODY_BYTES_MAX = 4_096
_FIELDS = ("from", "to", "text", "date", "id", "linkId")


def _stop(container: Container, msisdn: str, message_id: str) -> None:
    assert container.notices is not None
    container.notices.store.opt_out(msisdn, via="sms")
    with container.engine.begin() as connection:
        enqueue(connection, dedupe_key=f"sms-stop:{message_id[:100]}", msisdn=msisdn, kind="stop_confirmed",
                params={}, now_ns=time.time_ns())


@router.post("/webhooks/africastalking/sms/inbound", summary="Africa's Talking incoming SMS (STOP)",
             responses={403: {"description": "forbidden: not from Africa's Talking"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/x-www-form-urlencoded": {"schema": {
                     "type": "object", "required": ["from", "id"],
                     "properties": {name: {"type": "string", "minLength": 1 if name in ("from", "id") else 0}
                                    for name in _FIELDS}}}}}})
async def inbound_sms(request: Request,
                      container: Annotated[Container, Depends(container_of)]) -> JSONResponse:
    """``from`` (the sender), ``text``, ``id`` (the gateway's id: a repeated callback stops once)."""
    if not africastalking_allowed(request, container.settings):
        return problem(403, "forbidden", "this callback comes from Africa's Talking only")
    body = await request.body()
    if len(body) > BODY_BYTES_MAX:
        return problem(413, "payload_too_large", f"an incoming SMS is at most {BODY_BYTES_MAX} bytes")
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    sender, text, message_id = fields.get("from", ""), fields.get("text", ""), fields.get("id", "")
    if not sender or not message_id:
        return problem(422, "validation_error", "an incoming SMS has a sender (from) and an id")
    try:
        msisdn = phones.normalize(sender)
    except SikaError:
        msisdn = None  # a short code, a sender name, a number abroad: nothing to opt out
    if msisdn is None or not is_stop(text):
        return JSONResponse({"received": True, "stop": False})
    await run_in_threadpool(_stop, container, msisdn, message_id)
    return JSONResponse({"received": True, "stop": True})
