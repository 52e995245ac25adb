"""The console's routes under /console, gathered in one router that ``sika.api.app`` includes.

None of them is in the OpenAPI document: they are HTML pages for people, not the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from sika.console.pages import approvals, auth, campaigns, home, money, operations, rides
from sika.console.services import services_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_YEAR_S = 365 * 24 * 3600


@router.get("/console/static/{version}/{path:path}")
async def static(request: Request, version: str, path: str) -> Response:
    """A vendored file: cached for a year under its content hash, gzipped when the browser accepts it."""
    asset = services_of(request).assets.find(path)
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    # An old hash (a page cached before an upgrade) still gets the file, but not for a year.
    cache = f"public, max-age={_YEAR_S}, immutable" if version == asset.version else "no-cache"
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


for _module in (auth, home, money, approvals, operations, rides, campaigns):
    router.include_router(_module.router)
