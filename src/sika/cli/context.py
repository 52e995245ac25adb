"""One container per operator command, closed on the way out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sika.bootstrap import Container, bootstrap
from sika.config import settings

__all__ = ["container"]


@contextmanager
def container() -> Iterator[Container]:
    # Operator commands never order from providers: keep sandboxes' threads out of them.
    built = bootstrap(settings().model_copy(update={"providers": "off"}))
    try:
        yield built
    finally:
        built.close()
