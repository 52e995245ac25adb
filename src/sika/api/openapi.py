"""The OpenAPI document, made to say what the server does.

FastAPI describes the success answers and its own 422 (as ``application/json``). Sika answers every
error as ``application/problem+json`` with a stable ``code``, and any route can refuse a request for
reasons no schema states (who is asking, what exists, the state of a wallet). So every operation gets
the error answers it can give, as problems; the routes that move money declare their
``Idempotency-Key`` as the required header it is.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from sika.api.idempotency import KEY_PATTERN
from sika.payments.devices import DEVICE_PATTERN

__all__ = ["install"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details with Sika's stable machine-readable code",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["insufficient_funds"]},
    },
}
# The answers any route may give besides its own: what they mean, in general.
_COMMON: dict[str, str] = {
    "400": "bad input the schema cannot state: invalid_msisdn, weak_pin, idempotency_key_required, …",
    "401": "unauthorized (no or unknown credential), invalid_pin",
    "403": "forbidden (this credential may not), limit_exceeded",
    "404": "not found, or not visible to this caller: unknown_wallet, unknown_transfer, …",
    "409": "conflict with the state of things: idempotency_conflict, idempotency_in_progress, "
           "insufficient_funds, …",
    "422": "validation_error: the request does not match this schema",
    "429": "too many tries: pin_locked (see Retry-After), too_many_attempts, too_many_updates",
    "5XX": "the server or a provider failed: internal_error, provider_failed, provider_not_configured, …",
}
_PUBLIC = {("/healthz", "get"), ("/ussd", "post"), ("/webhooks/whatsapp", "get"),
           ("/webhooks/whatsapp", "post"), ("/webhooks/africastalking/sms", "post"),
           ("/v1/providers/{name}/callback", "post"), ("/v1/providers/{name}/callback", "get")}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            app.openapi_schema = complete(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with problem answers on every operation and required idempotency keys."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = _PROBLEM
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch"):
                _complete_operation(operation, public=(path, method) in _PUBLIC)
    return schema


def _complete_operation(operation: dict[str, Any], *, public: bool) -> None:
    responses = operation.setdefault("responses", {})
    for status, description in _COMMON.items():
        if public and status in ("401", "403"):
            continue
        answer = responses.setdefault(status, {"description": description})
        answer["content"] = {"application/problem+json": {"schema": _PROBLEM_REF}}
    for status, answer in responses.items():
        if status[0] in "45" and "content" in answer:
            answer["content"] = {"application/problem+json": {"schema": _PROBLEM_REF}}
    for parameter in operation.get("parameters", []):
        if (parameter.get("in") == "header" and parameter.get("name", "").lower() == "idempotency-key"
                and parameter.get("description", "").startswith("required")):
            parameter["required"] = True
            parameter["schema"] = {"type": "string", "pattern": KEY_PATTERN, "maxLength": 255,
                                   "title": "Idempotency-Key"}
        elif parameter.get("in") == "header" and parameter.get("name", "").lower() == "x-sika-device":
            # Optional: absent, not null (FastAPI writes "string or null", and a header has no null).
            parameter["schema"] = {"type": "string", "pattern": DEVICE_PATTERN, "minLength": 8,
                                   "maxLength": 128, "title": "X-Sika-Device"}
