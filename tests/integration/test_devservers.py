"""The throwaway PostgreSQL cluster of benchmarks: reached through its Unix socket when asked, as
clients on the server's own machine are, and through the loopback otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sika.bench import databases, whatsapp
from sika.devservers import temporary_postgres

pytestmark = pytest.mark.postgres


def _client_address(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            address = connection.execute(text("SELECT host(inet_client_addr())")).scalar()
            return None if address is None else str(address)
    finally:
        engine.dispose()


def test_a_cluster_asked_for_its_socket_is_reached_through_it_and_still_listens_on_the_loopback() -> None:
    with temporary_postgres(durable=False, unix_socket=True) as url:
        parsed = make_url(url)
        assert parsed.host is None and str(parsed.query["host"]).startswith("/")
        assert _client_address(url) is None  # a Unix socket has no client address
        loopback = parsed.set(host="127.0.0.1", port=int(str(parsed.query["port"])), query={})
        assert _client_address(loopback.render_as_string(hide_password=False)) == "127.0.0.1"


def test_the_benchmarks_ask_for_the_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    asked: list[dict[str, object]] = []

    @contextmanager
    def recorded(**options: object) -> Iterator[str]:
        asked.append(options)
        yield "postgresql+psycopg://postgres@/postgres?host=%2Ftmp&port=5432"

    monkeypatch.setattr(databases, "temporary_postgres", recorded)
    monkeypatch.setattr(whatsapp, "temporary_postgres", recorded)
    # No PostgreSQL configured: the benchmark starts its own cluster.
    monkeypatch.setattr(databases, "settings", lambda: SimpleNamespace(database_url="sqlite:///sika.db"))
    with databases.bench_server("postgres"), whatsapp._database("postgres", tmp_path):
        pass
    assert [options.get("unix_socket") for options in asked] == [True, True]
