"""The API's documentation pages and the front page, served without internet.

FastAPI's ``/docs`` (Swagger UI) and ``/redoc`` load their scripts from a CDN by default, so on a
machine without internet (a demo in a shop, a test bench) they were blank. The scripts are vendored in
``static/`` (see ``static/VERSIONS``) and served from ``/static/docs``. ``/`` is a small page that
points to them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "install"]

ASSETS_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/static/docs"

_FRONT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sika</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{assets}/favicon-32x32.png">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;
line-height:1.5}} a{{color:#0a6c4f}}</style></head>
<body><h1>Sika {version}</h1>
<p>Mobile money over chat, moto-taxi on demand and promotions for the XOF zone.</p>
<ul>
<li><a href="/docs">API reference (Swagger UI)</a>: try every route</li>
<li><a href="/redoc">API reference (ReDoc)</a></li>
<li><a href="/openapi.json">OpenAPI document</a></li>
<li><a href="/healthz">Health</a></li>
</ul></body></html>
"""


def install(app: FastAPI) -> None:
    """Serve ``/``, ``/docs``, ``/redoc`` and their assets; the app is made with ``docs_url=None``
    and ``redoc_url=None`` so that these replace FastAPI's CDN pages."""
    assert app.docs_url is None and app.redoc_url is None, "the CDN pages would shadow these"
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    front = _FRONT.format(version=app.version, assets=ASSETS_PATH)

    @app.get("/", include_in_schema=False)
    async def front_page() -> HTMLResponse:
        return HTMLResponse(front)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{title}: API",
                                   swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{title}: API",
                              redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png", with_google_fonts=False)
