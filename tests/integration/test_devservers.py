"""The throwaway PostgreSQL cluster of benchmarks: reached through its Unix socket when asked, as
clients on the server's own machine are, and through the loopback otherwise."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sika.devservers import temporary_postgres


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
