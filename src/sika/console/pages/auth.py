"""Login with an operator account (password, and the TOTP code when enabled) or an admin API key;
logout; the language switch.

The login form has no session yet, so its CSRF defence is a double-submit token: a random value in a
SameSite=Strict cookie that the form must repeat.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sika.auth import Role as KeyRole
from sika.console.guard import (
    COOKIE,
    Acting,
    ConsoleRoute,
    CsrfRefused,
    acting,
    address_of,
    form_of,
    secure_request,
)
from sika.console.i18n import LANGUAGES
from sika.console.operators import LoginRefused, Role
from sika.console.services import ConsoleServices, services_of
from sika.console.sessions import ABSOLUTE_S, Principal
from sika.console.templating import page

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_LOGIN_COOKIE = "sika_console_login"


def _language(request: Request, asked: str | None = None) -> str:
    if asked in LANGUAGES:
        assert asked is not None
        return asked
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "fr"


def _next(value: str | None) -> str:
    """Only a console path: a login link must not send the operator elsewhere."""
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console"


def _login_page(request: Request, language: str, *, error: str | None = None, status: int = 200,
                next_path: str = "/console") -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", session=None, language=language, status=status,
                    login_csrf=token, error=error, next_path=next_path)
    response.set_cookie(_LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=secure_request(request), path="/console/login")
    return response


@router.get("/console/login")
async def login_form(request: Request, next: str | None = None, lang: str | None = None) -> Response:
    return _login_page(request, _language(request, lang), next_path=_next(next))


async def _principal(services: ConsoleServices, form: dict[str, str]) -> Principal:
    api_key = form.get("api_key", "").strip()
    if api_key:
        key = await run_in_threadpool(services.container.api_keys.authenticate, api_key)
        if key is None or key.role is not KeyRole.ADMIN:
            raise LoginRefused("this is not a live admin API key")
        return Principal(actor=f"apikey:{key.id}", name=key.name, role=Role.ADMIN)
    operator = await run_in_threadpool(services.operators.authenticate, form.get("name", ""),
                                       form.get("password", ""), form.get("code", ""))
    return Principal(actor=operator.actor, name=operator.name, role=operator.role)


@router.post("/console/login")
async def login(request: Request) -> Response:
    services = services_of(request)
    form = await form_of(request)
    language = _language(request, form.get("lang"))
    next_path = _next(form.get("next"))
    sent, expected = form.get("_csrf", ""), request.cookies.get(_LOGIN_COOKIE, "")
    if not sent or not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("the login form expired: reload the page and try again")
    address = address_of(request)
    who = (form.get("name") or "API key")[:80]
    try:
        principal = await _principal(services, form)
    except LoginRefused as exc:
        await run_in_threadpool(services.audit.record, actor="anonymous", actor_name=who, action="login",
                                outcome="refused", address=address, detail={"code": exc.code})
        return _login_page(request, language, error=exc.code, status=401, next_path=next_path)
    token, _session = await run_in_threadpool(services.sessions.open, principal, language)
    await run_in_threadpool(services.audit.record, actor=principal.actor, actor_name=principal.name,
                            action="login", outcome="ok", address=address,
                            detail={"role": str(principal.role)})
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(COOKIE, token, max_age=ABSOLUTE_S, httponly=True, samesite="strict",
                        secure=secure_request(request), path="/console")
    response.delete_cookie(_LOGIN_COOKIE, path="/console/login")
    return response


@router.post("/console/logout")
async def logout(request: Request, act: Annotated[Acting, Depends(acting)]) -> Response:
    services = services_of(request)
    token = request.cookies.get(COOKIE, "")
    await run_in_threadpool(services.sessions.close, token)
    who = act.session.principal
    await run_in_threadpool(services.audit.record, actor=who.actor, actor_name=who.name, action="logout",
                            outcome="ok", address=act.address)
    response = RedirectResponse(f"/console/login?lang={act.session.language}", status_code=303)
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict",
                           secure=secure_request(request))
    return response


@router.post("/console/language")
async def language(request: Request, act: Annotated[Acting, Depends(acting)]) -> Response:
    chosen = act.form.get("lang", "")
    if chosen in LANGUAGES:
        await run_in_threadpool(services_of(request).sessions.set_language, request.cookies.get(COOKIE, ""),
                                chosen)
    return RedirectResponse(_next(act.form.get("back")), status_code=303)
