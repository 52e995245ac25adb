"""Pages: Jinja2 templates from the package, in the operator's language, with the console's headers.

Every page is sent with a Content-Security-Policy that allows scripts, styles and data from this
origin only (no inline script, no CDN), and is never framed or cached by a shared proxy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sika.console import nav
from sika.console.i18n import console_translator
from sika.console.services import services_of
from sika.console.sessions import ConsoleSession

__all__ = ["SECURITY_HEADERS", "page", "when"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self';"
                               " script-src 'self'; connect-src 'self'; frame-ancestors 'none';"
                               " form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(("html",)),
                   trim_blocks=True, lstrip_blocks=True, auto_reload=False)


def when(ns: int | None) -> str:
    """A time as operators read it: UTC, which is also Lomé's, Ouagadougou's and Bamako's time."""
    if not ns:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9))


def page(request: Request, template: str, *, session: ConsoleSession | None, language: str | None = None,
         status: int = 200, **context: Any) -> HTMLResponse:
    t = console_translator(language or (session.language if session else None))
    services = services_of(request)
    html = _env.get_template(template).render(
        _=t, t=t, lang=t.language, session=session, csrf=session.csrf_token if session else "",
        nav=nav.entries(), path=request.url.path, asset=services.assets.url, when=when,
        amount=t.amount, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
