"""Where providers call back: ``/v1/providers/{name}/callback`` (``paygate``, ``cinetpay``,
``africastalking``, ``biller``).

Each callback is authenticated by its provider's adapter, as that provider specifies (CinetPay's
``x-token`` HMAC, the biller aggregator's signature; PayGate and Africa's Talking sign nothing, so
their source address and a secret token in the registered URL are checked): a forged one is answered
401 ``forged_callback`` and changes nothing. Register ``<SIKA_PUBLIC_URL>/v1/providers/<name>/callback``
(with ``?token=…`` where docs/deploy.md says) in each provider's dashboard.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sika.api.auth import container_of
from sika.api.problems import problem_for
from sika.bootstrap import Container
from sika.error_codes import Code
from sika.providers import CallbackRequest

__all__ = ["router"]

router = APIRouter(prefix="/v1/providers", tags=["provider callbacks"])

# No provider's callback is larger (CinetPay's form is the largest, under 2 KiB).
CALLBACK_BYTES_MAX = 64 * 1024
Name = Annotated[str, Path(max_length=40, pattern=r"^[a-z_]+$")]


@router.post("/{name}/callback", summary="A provider's callback about an order, authenticated by its adapter",
             responses={401: {"description": "forged_callback"}, 404: {"description": "unknown_provider"},
                        413: {"description": "callback_too_large"}})
async def callback(name: Name, request: Request,
                   container: Annotated[Container, Depends(container_of)]) -> JSONResponse:
    length = request.headers.get("content-length", "0")
    if not length.isdigit() or int(length) > CALLBACK_BYTES_MAX:
        return problem_for(Code.CALLBACK_TOO_LARGE, f"a callback is at most {CALLBACK_BYTES_MAX} bytes")
    body = await request.body()
    if len(body) > CALLBACK_BYTES_MAX:
        return problem_for(Code.CALLBACK_TOO_LARGE, f"a callback is at most {CALLBACK_BYTES_MAX} bytes")
    received = CallbackRequest(headers={k.lower(): v for k, v in request.headers.items()},
                               query=dict(request.query_params), body=body,
                               client_host=request.client.host if request.client is not None else None)
    handled = await run_in_threadpool(container.purchases.callback, name, received)
    return JSONResponse({"received": handled})


@router.get("/{name}/callback", summary="Answers 200: CinetPay checks that its notification URL is up")
async def ping(name: Name) -> JSONResponse:
    return JSONResponse({"status": "ok", "provider": name})
