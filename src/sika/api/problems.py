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

from sika.api.statuses import status_for, status_of
from sika.db import UNAVAILABLE
from sika.error_codes import Code
from sika.errors import SikaError

__all__ = ["install", "problem", "problem_body", "problem_for", "status_of"]

_MEDIA_TYPE = "application/problem+json"


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"https://sika.dev/problems/{code}", "title": code.replace("_", " "),
            "status": status, "detail": detail, "code": code, **extra}


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, code, detail, **extra), status_code=status,
                        media_type=_MEDIA_TYPE)


def problem_for(code: Code, detail: str, **extra: Any) -> JSONResponse:
    """The answer for a registered code, with the status the edge gives its category."""
    return problem(status_for(code), code, detail, **extra)


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
        return problem_for(Code.VALIDATION_ERROR, "the request is not valid", errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 405:
            exc.headers = {"Allow": _allowed(request)}
        code = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED, 401: Code.UNAUTHORIZED}.get(
            exc.status_code, Code.HTTP_ERROR
        )
        answer = problem(exc.status_code, code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            answer.headers[name] = value  # 405's Allow (RFC 9110 requires it), 401's WWW-Authenticate
        return answer

    async def _database(_request: Request, _exc: Exception) -> JSONResponse:
        # The database is down, restarting or too busy: the request may be retried (with its
        # Idempotency-Key, a retry finishes what this one started, once).
        answer = problem_for(Code.DATABASE_UNAVAILABLE, "the database did not answer; retry shortly")
        answer.headers["Retry-After"] = "1"
        return answer

    for error in UNAVAILABLE:
        app.add_exception_handler(error, _database)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # The traceback goes to the log (uvicorn logs it); the client learns nothing internal.
        return problem_for(Code.INTERNAL_ERROR, "an unexpected error occurred; it has been logged")


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
