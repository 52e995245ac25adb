"""Integration fixtures: every test that uses the ``engine`` fixture ends with a clean audit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ledger_support import FakeClock
from sqlalchemy import Engine

from sika.ledger import audit


@pytest.fixture(autouse=True)
def _audit_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test did through the ledger, the whole database must still pass the audit."""
    if "engine" not in request.fixturenames:
        yield
        return
    engine: Engine = request.getfixturevalue("engine")
    yield
    assert audit.check(engine) == []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
