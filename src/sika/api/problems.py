"""Errors as ``application/problem+json`` (RFC 9457), each with a stable machine-readable ``code``."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from sika.db import UNAVAILABLE
from sika.errors import SikaError

__all__ = ["install", "problem", "problem_body", "status_of"]

_MEDIA_TYPE = "application/problem+json"
# The HTTP status of an error the domain raises, where the domain's own guess does not follow the
# rule this API keeps (docs/wallet.md, "Errors"): 422 when a request breaks its schema, 400 for bad
# input no schema can state, 404 when something named does not exist (or is not the caller's to
# see), 409 when a well-formed request meets the state of things or the rules in force (a balance, a
# fee, a trip's state, a provider's answer about a bill), 429 when tries ran out for a while.
_STATUS_BY_CODE: dict[str, int] = {
    "unknown_trip": 404, "unknown_driver": 404, "unknown_product": 404, "unknown_provider": 404,
    "unknown_order": 404, "unknown_vehicle_type": 404, "invalid_reference": 404, "invalid_cursor": 404,
    "same_wallet": 409, "amount_below_minimum": 409, "amount_above_maximum": 409, "amount_mismatch": 409,
    "nothing_due": 409, "outside_service_area": 409, "pin_not_set": 409, "pin_already_set": 409,
    "documents_not_approved": 409, "insufficient_funds": 409, "float_insufficient": 409,
    "merchant_insufficient": 409, "not_refundable": 409, "voucher_expired": 409, "voucher_blocked": 409,
    "pin_locked": 429, "too_many_updates": 429,
}


def status_of(exc: SikaError) -> int:
    return _STATUS_BY_CODE.get(exc.code, exc.status)


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"https://sika.dev/problems/{code}", "title": code.replace("_", " "),
            "status": status, "detail": detail, "code": code, **extra}


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, code, detail, **extra), status_code=status,
                        media_type=_MEDIA_TYPE)


def install(app: FastAPI) -> None:
    @app.exception_handler(SikaError)
    async def _sika_error(_request: Request, exc: SikaError) -> JSONResponse:
        until_ns = getattr(exc, "locked_until_ns", None)
        if isinstance(until_ns, int):
            # A lock says when it ends, in the body and as Retry-After (RFC 9110), so that a client
            # neither hammers a locked wallet nor gives up on it for good.
            wait_s = max(1, math.ceil((until_ns - time.time_ns()) / 1e9))
            answer = problem(status_of(exc), exc.code, exc.message,
                             locked_until=until_ns // 1_000_000_000, retry_after_s=wait_s)
            answer.headers["Retry-After"] = str(wait_s)
            return answer
        return problem(status_of(exc), exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return problem(422, "validation_error", "the request is not valid", errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 405:
            exc.headers = {"Allow": _allowed(request)}
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        answer = problem(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            answer.headers[name] = value  # 405's Allow (RFC 9110 requires it), 401's WWW-Authenticate
        return answer

    async def _database(_request: Request, _exc: Exception) -> JSONResponse:
        # The database is down, restarting or too busy: the request may be retried (with its
        # Idempotency-Key, a retry finishes what this one started, once).
        answer = problem(503, "database_unavailable", "the database did not answer; retry shortly")
        answer.headers["Retry-After"] = "1"
        return answer

    for error in UNAVAILABLE:
        app.add_exception_handler(error, _database)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # The traceback goes to the log (uvicorn logs it); the client learns nothing internal.
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")


def _allowed(request: Request) -> str:
    """Every method the path takes, from the OpenAPI document (Starlette names only the first
    route's, and sees no further than an included router)."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        pattern, _, _ = compile_path(template)
        if pattern.match(path):
            methods.update(method.upper() for method in item if method in _METHODS)
    return ", ".join(sorted(methods))


_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
