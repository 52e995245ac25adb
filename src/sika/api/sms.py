"""``POST /webhooks/africastalking/sms``: Africa's Talking's SMS delivery reports (form-encoded).

Set this URL (with ``?token=<SIKA_AFRICASTALKING_CALLBACK_TOKEN>``) as the SMS delivery reports
callback in Africa's Talking's dashboard. The callback is not signed: it is accepted from the allowed
addresses and with the token (:func:`sika.api.gateway_auth.africastalking_allowed`). The body is
parsed by hand, as the USSD callback's is. A report for a message we never sent is answered 200 (the
gateway would retry anything else) and ignored.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sika.api.auth import container_of
from sika.api.gateway_auth import africastalking_allowed
from sika.api.problems import problem_for
from sika.bootstrap import Container
from sika.error_codes import Code

__all__ = ["router"]

router = APIRouter(tags=["channels"])
BODY_BYTES_MAX = 4_096
_FORM = "application/x-www-form-urlencoded"
_FIELDS = ("id", "status", "phoneNumber", "networkCode", "failureReason", "retryCount")
_FORM_SCHEMA = {"type": "object", "required": ["id", "status"],
                "properties": {name: {"type": "string", "minLength": 1 if name in ("id", "status") else 0}
                               for name in _FIELDS}}


@router.post("/webhooks/africastalking/sms", summary="Africa's Talking SMS delivery reports",
             responses={403: {"description": "forbidden: not from Africa's Talking"},
                        404: {"description": "sms_not_configured"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA}}}})
async def delivery_report(
    request: Request, container: Annotated[Container, Depends(container_of)]
) -> JSONResponse:
    """A message's delivery status: ``id`` (the gateway's messageId), ``status`` (Sent, Submitted,
    Buffered, Rejected, Success, Failed), ``failureReason`` when it failed."""
    if not africastalking_allowed(request, container.settings):
        return problem_for(Code.FORBIDDEN, "this callback comes from Africa's Talking only")
    if container.sms is None:
        return problem_for(Code.SMS_NOT_CONFIGURED, "SMS is not configured on this server")
    body = await request.body()
    if len(body) > BODY_BYTES_MAX:
        return problem_for(Code.PAYLOAD_TOO_LARGE, f"a delivery report is at most {BODY_BYTES_MAX} bytes")
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    message_id, status = fields.get("id", ""), fields.get("status", "")
    if not message_id or not status:
        return problem_for(Code.VALIDATION_ERROR, "a delivery report has an id and a status")
    sms = container.sms
    known = await run_in_threadpool(sms.report, message_id, status, fields.get("failureReason"))
    return JSONResponse({"received": True, "known": known})
