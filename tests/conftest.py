"""Shared fixtures: a migrated database per test, on SQLite and on a throwaway PostgreSQL cluster.

One PostgreSQL cluster serves the whole session (started as the ``postgres`` user when we are root);
each test gets a fresh database in it, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from sika.db import create_db_engine
from sika.devservers import temporary_postgres
from sika.ledger import Ledger
from sika.migration import upgrade

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a session-wide cluster (fsync off: correctness here, speed in `sika bench`)."""
    with temporary_postgres(durable=False) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database in the session's cluster."""
    name = f"sika_test_{next(_counter)}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sika.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh database, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    db = create_db_engine(database_url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def ledger(engine: Engine) -> Iterator[Ledger]:
    book = Ledger(engine)
    yield book
    book.close()
