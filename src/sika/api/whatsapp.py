"""``/webhooks/whatsapp``: Meta's subscription handshake (GET) and its notifications (POST).

A notification is checked (size, then ``X-Hub-Signature-256`` over the raw bytes), stored in the
inbox and answered ``200`` at once; the dialog runs later, in the workers. A correctly signed body
that is not a notification Sika understands (junk JSON, another webhook field) is answered ``200``
too, with nothing stored: Meta retries every other answer for days, and junk would never get better.
``404`` while WhatsApp is off (no verify token or app secret).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from sika.api import problems
from sika.chat.whatsapp import WhatsApp

__all__ = ["BODY_BYTES_MAX", "include", "router"]

router = APIRouter(tags=["channels"])
# Meta's notifications are a few kilobytes; a body this large is not one.
BODY_BYTES_MAX = 1024 * 1024
_PROBLEMS: dict[int | str, dict[str, Any]] = {404: {"description": "WhatsApp is off"}}


def include(app: FastAPI, whatsapp: WhatsApp | None) -> None:
    """Serve the webhook with ``whatsapp`` (None: answer 404 until one is set)."""
    app.state.whatsapp = whatsapp
    app.include_router(router)


def _service(request: Request) -> WhatsApp | None:
    whatsapp: WhatsApp | None = getattr(request.app.state, "whatsapp", None)
    return whatsapp if whatsapp is not None and whatsapp.enabled else None


def _off() -> JSONResponse:
    return problems.problem(404, "whatsapp_off", "WhatsApp is not configured on this server")


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse,
            summary="Meta's webhook verification: echoes hub.challenge when hub.verify_token matches",
            responses={403: {"description": "wrong verify token"}, **_PROBLEMS})
async def verify(
    request: Request,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> Response:
    whatsapp = _service(request)
    if whatsapp is None:
        return _off()
    echoed = whatsapp.verify(mode, token, challenge)
    if echoed is None:
        return problems.problem(403, "forbidden", "the verify token does not match")
    return PlainTextResponse(echoed)


@router.post("/webhooks/whatsapp", summary="Meta's notifications: messages and delivery statuses",
             responses={401: {"description": "missing or wrong X-Hub-Signature-256"},
                        413: {"description": "body over 1 MiB"}, **_PROBLEMS},
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "properties": {"object": {"type": "string"},
                                                             "entry": {"type": "array"}}}}}}})
async def notify(request: Request) -> Response:
    """Stores new messages in the inbox (each message id once) and applies statuses; ``200`` quickly."""
    whatsapp = _service(request)
    if whatsapp is None:
        return _off()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_BYTES_MAX:
        return _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_BYTES_MAX:
            return _too_large()
    raw = bytes(body)
    if not whatsapp.authentic(raw, request.headers.get("x-hub-signature-256")):
        return problems.problem(401, "invalid_signature", "X-Hub-Signature-256 is missing or wrong")
    stored = await run_in_threadpool(whatsapp.receive, raw)
    return JSONResponse({"received": stored})


def _too_large() -> JSONResponse:
    return problems.problem(413, "payload_too_large", f"a notification is at most {BODY_BYTES_MAX} bytes")
