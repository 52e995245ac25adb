"""``/webhooks/whatsapp``: Meta's subscription handshake (GET) and its notifications (POST).

A notification is checked (size, then ``X-Hub-Signature-256`` over the raw bytes), stored in the
inbox and answered ``200`` at once; the dialog runs later, in the workers. A correctly signed body
that is not a notification Sika understands (junk JSON, another webhook field) is answered ``200``
too, with nothing stored: Meta retries every other answer for days, and junk would never get better.
``404`` while WhatsApp is off (no verify token or app secret). ``503`` (``whatsapp_inbox_busy``, with
``Retry-After``) when the inbox cannot store it now: too many notifications wait for the database, or
the wait ran out (:mod:`sika.chat.whatsapp.group_commit`); Meta delivers it again.

Notifications are the server's busiest path (a thousand a second at full load), so :func:`include`
serves them from a small ASGI middleware, ahead of FastAPI's routing (which tries every included router
in turn) and its endpoint machinery: together a third of the server's CPU per notification. The routes
below document them (OpenAPI), and serve them in an app that includes ``router`` without :func:`include`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.datastructures import State
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from sika.api import problems
from sika.chat.whatsapp import WhatsApp
from sika.chat.whatsapp.group_commit import InboxBusy
from sika.error_codes import Code

__all__ = ["BODY_BYTES_MAX", "include", "router"]

router = APIRouter(tags=["channels"])
PATH = "/webhooks/whatsapp"
# Meta's notifications are a few kilobytes; a body this large is not one.
BODY_BYTES_MAX = 1024 * 1024
# When a busy inbox asks Meta to deliver a notification again (Meta retries with back-off anyway).
RETRY_AFTER_S = 5
_PROBLEMS: dict[int | str, dict[str, Any]] = {404: {"description": "WhatsApp is off"}}


def include(app: FastAPI, whatsapp: WhatsApp | None) -> None:
    """Serve the webhook with ``whatsapp`` (None: answer 404 until one is set)."""
    app.state.whatsapp = whatsapp
    app.include_router(router)
    app.add_middleware(_Notifications, state=app.state)


class _Notifications:
    """Answers ``POST /webhooks/whatsapp`` before FastAPI routes it; passes everything else on.

    It sits inside Starlette's error middleware, so that an unexpected error still gets its ``500``
    problem (and its log line), as from the route."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or _route_path(scope) != PATH:
            await self._app(scope, receive, send)
            return
        try:
            response = await _notified(_enabled(self._state), scope["headers"], receive)
        except ClientDisconnect:
            return  # nobody to answer; Meta delivers again
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the router would match, as Starlette sees it under a ``root_path``."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path):] if path[len(root_path)] == "/" else path


def _service(request: Request) -> WhatsApp | None:
    return _enabled(request.app.state)


def _enabled(state: State) -> WhatsApp | None:
    whatsapp: WhatsApp | None = getattr(state, "whatsapp", None)
    return whatsapp if whatsapp is not None and whatsapp.enabled else None


def _off() -> JSONResponse:
    return problems.problem_for(Code.WHATSAPP_OFF, "WhatsApp is not configured on this server")


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
        return problems.problem_for(Code.FORBIDDEN, "the verify token does not match")
    return PlainTextResponse(echoed)


@router.post("/webhooks/whatsapp", summary="Meta's notifications: messages and delivery statuses",
             responses={401: {"description": "missing or wrong X-Hub-Signature-256"},
                        413: {"description": "body over 1 MiB"},
                        503: {"description": "the inbox is busy: Meta delivers the notification again"},
                        **_PROBLEMS},
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "properties": {"object": {"type": "string"},
                                                             "entry": {"type": "array"}}}}}}})
async def notify(request: Request) -> Response:
    """Stores new messages in the inbox (each message id once) and applies statuses; ``200`` quickly."""
    return await _notified(_service(request), request.scope["headers"], request.receive)


async def _notified(whatsapp: WhatsApp | None, headers: Iterable[tuple[bytes, bytes]],
                    receive: Receive) -> Response:
    """The answer to one notification, its messages stored once it is ``200``. Raises
    :class:`ClientDisconnect` when the client goes away before the body is in."""
    if whatsapp is None:
        return _off()
    declared, signature = _headers(headers)
    # ASCII digits only ("²" is a digit int() refuses), and a length too long to read is too large.
    if declared.isascii() and declared.isdigit() and (len(declared) > 9 or int(declared) > BODY_BYTES_MAX):
        return _too_large()
    raw = await _body(receive)
    if raw is None:
        return _too_large()
    if not whatsapp.authentic(raw, signature):
        return problems.problem_for(Code.INVALID_SIGNATURE, "X-Hub-Signature-256 is missing or wrong")
    try:
        stored = await whatsapp.receive_async(raw)
    except InboxBusy as exc:  # the inbox is behind: Meta delivers the notification again later
        busy = problems.problem(503, exc.code, exc.message)
        busy.headers["Retry-After"] = str(RETRY_AFTER_S)
        return busy
    # What JSONResponse({"received": stored}) would send, without its general-purpose encoder.
    return Response(b'{"received":%d}' % stored, media_type="application/json")


def _headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str | None]:
    """Content-Length ("" when absent) and X-Hub-Signature-256: the first of each, as Starlette reads
    them (names are lower case in ASGI, values Latin-1)."""
    declared: str | None = None
    signature: str | None = None
    for name, value in headers:
        if name == b"content-length" and declared is None:
            declared = value.decode("latin-1")
        elif name == b"x-hub-signature-256" and signature is None:
            signature = value.decode("latin-1")
    return declared or "", signature


async def _body(receive: Receive) -> bytes | None:
    """The whole body, or None as soon as it is over :data:`BODY_BYTES_MAX` (a chunked body declares
    no length)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > BODY_BYTES_MAX:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large() -> JSONResponse:
    return problems.problem_for(Code.PAYLOAD_TOO_LARGE, f"a notification is at most {BODY_BYTES_MAX} bytes")
