"""Who is asking, and may they: the session cookie, the CSRF token, and errors as HTML pages.

Every console route uses :class:`ConsoleRoute`: a missing session sends the browser to the login page
(htmx requests get ``HX-Redirect``), and a :class:`~sika.errors.SikaError` becomes an error page in the
operator's language with its stable code, instead of the API's problem+json.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika.api.statuses import status_of
from sika.console.services import ConsoleServices, services_of
from sika.console.sessions import ConsoleSession
from sika.console.templating import page
from sika.errors import SikaError

__all__ = ["COOKIE", "Acting", "ConsoleRoute", "CsrfRefused", "LoginRequired", "acting", "address_of",
           "audited", "current", "form_of", "secure_request"]

COOKIE = "sika_console"
FORM_BYTES_MAX = 16_384


class LoginRequired(SikaError):
    """No live session: the browser goes to the login page (the guard catches it first)."""

    code = "login_required"

    def __init__(self, message: str = "log in first") -> None:
        super().__init__(message)


class CsrfRefused(SikaError):
    code = "csrf_refused"


@dataclass(frozen=True, slots=True)
class Acting:
    """A request that changes something: its session (CSRF checked), form fields and origin."""

    session: ConsoleSession
    form: dict[str, str]
    address: str


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except LoginRequired:
                target = "/console/login?next=" + quote(request.url.path, safe="/")
                if request.headers.get("hx-request"):
                    return HTMLResponse("", headers={"HX-Redirect": target})
                return RedirectResponse(target, status_code=303)
            except SikaError as exc:
                session = await _session_or_none(request)
                status = status_of(exc)
                return page(request, "error.html", session=session, status=status, code=exc.code,
                            message=exc.message, error_status=status)

        return handler


def secure_request(request: Request) -> bool:
    """Whether the browser came over https (directly, or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def address_of(request: Request) -> str:
    direct = request.client.host if request.client else ""
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    return (f"{forwarded} via {direct}" if forwarded else direct)[:64]


async def _session_or_none(request: Request) -> ConsoleSession | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await run_in_threadpool(services_of(request).sessions.find, token)


async def current(request: Request) -> ConsoleSession:
    """The caller's live session, or off to the login page."""
    session = await _session_or_none(request)
    if session is None:
        raise LoginRequired
    return session


async def form_of(request: Request) -> dict[str, str]:
    """An url-encoded form, parsed by hand (no multipart library), at most ``FORM_BYTES_MAX``."""
    body = await request.body()
    if len(body) > FORM_BYTES_MAX:
        raise SikaError("this form is too large", code="form_too_large")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


async def acting(request: Request) -> Acting:
    """For every POST: a session, and the CSRF token it issued, in the form or the X-CSRF-Token header
    (htmx). A request without it is refused and written to the audit log."""
    session = await current(request)
    form = await form_of(request)
    sent = form.pop("_csrf", None) or request.headers.get("x-csrf-token")
    address = address_of(request)
    if not session.csrf_ok(sent):
        who = session.principal
        await run_in_threadpool(services_of(request).audit.record, actor=who.actor, actor_name=who.name,
                                action="csrf_refused", outcome="refused", target=request.url.path,
                                address=address)
        raise CsrfRefused("this form did not come from a console page you have open, or it has expired:"
                          " reload the page and try again")
    return Acting(session=session, form=form, address=address)


async def audited(services: ConsoleServices, act: Acting, action: str, outcome: str, target: str,
                  **detail: object) -> None:
    """Write what the acting operator tried (``action`` on ``target``) and how it ended to the audit log."""
    who = act.session.principal
    await run_in_threadpool(services.audit.record, actor=who.actor, actor_name=who.name, action=action,
                            outcome=outcome, target=target, address=act.address, detail=detail)
