"""pydantic's validation errors as one line a person can act on."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["first_error"]


def first_error(exc: ValidationError) -> str:
    """``start: unknown prayer 'magrib'``: the first error, where it is, without pydantic's URL."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    count = exc.error_count()
    more = f" (and {count - 1} more)" if count > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"
