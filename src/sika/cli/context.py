"""One container per operator command, closed on the way out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sika.bootstrap import Container, bootstrap
from sika.config import settings

__all__ = ["container"]


@contextmanager
def container(*, providers: bool = False) -> Iterator[Container]:
    """``providers``: the configured providers too (reconcile, payouts); most commands never order
    from a provider, and keep local fakes and HTTP clients out of their process."""
    chosen = settings() if providers else settings().model_copy(update={"providers": "off"})
    built = bootstrap(chosen)
    try:
        yield built
    finally:
        built.close()
