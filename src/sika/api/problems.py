"""Errors as ``application/problem+json`` (RFC 9457), each with a stable machine-readable ``code``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sika.errors import SikaError

__all__ = ["install", "problem", "problem_body"]

_MEDIA_TYPE = "application/problem+json"


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"https://sika.dev/problems/{code}", "title": code.replace("_", " "),
            "status": status, "detail": detail, "code": code, **extra}


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(problem_body(status, code, detail, **extra), status_code=status,
                        media_type=_MEDIA_TYPE)


def install(app: FastAPI) -> None:
    @app.exception_handler(SikaError)
    async def _sika_error(_request: Request, exc: SikaError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return problem(422, "validation_error", "the request is not valid", errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # The traceback goes to the log (uvicorn logs it); the client learns nothing internal.
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")
