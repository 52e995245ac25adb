"""The root of Sika's exception tree. Every error a user can cause carries a stable ``code``."""

from __future__ import annotations

__all__ = ["ConfigurationError", "SikaError"]


class SikaError(Exception):
    """An operating error: expected, handled, reported with ``code`` (tests assert the code).

    The code is one of :class:`sika.error_codes.Code`; an error knows no HTTP status (the API edge,
    :mod:`sika.api.statuses`, gives one from the code's category).
    """

    code: str = "sika_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class ConfigurationError(SikaError):
    code = "configuration_error"
