"""The console's own services, built once per application from Sika's container."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from fastapi import Request

from sika.bootstrap import Container
from sika.console.assets import Assets
from sika.console.audit import Audit
from sika.console.operators import Operators
from sika.console.proposals import Proposals
from sika.console.sessions import ConsoleSessions

__all__ = ["ConsoleServices", "services_of"]

_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ConsoleServices:
    container: Container
    operators: Operators
    sessions: ConsoleSessions
    audit: Audit
    proposals: Proposals
    assets: Assets

    @classmethod
    def build(cls, container: Container) -> ConsoleServices:
        engine = container.engine
        return cls(container=container, operators=Operators(engine), sessions=ConsoleSessions(engine),
                   audit=Audit(engine), proposals=Proposals(engine, container), assets=Assets())


def services_of(request: Request) -> ConsoleServices:
    state = request.app.state
    found: ConsoleServices | None = getattr(state, "console", None)
    if found is None:
        with _lock:
            found = getattr(state, "console", None)
            if found is None:
                found = ConsoleServices.build(state.container)
                state.console = found
    return found
