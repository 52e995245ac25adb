"""How many threads a process gives the WhatsApp inbox: as configured, else by database (two on
PostgreSQL, where a message waits for the server at each round trip; one on SQLite, whose write lock
a second thread would only queue for)."""

from __future__ import annotations

from sika.config import Settings, inbox_threads


def test_the_default_is_the_database_s() -> None:
    assert inbox_threads("postgresql+psycopg://sika@db/sika", None) == 2
    assert inbox_threads("sqlite:///./sika.db", None) == 1


def test_a_configured_number_wins() -> None:
    assert inbox_threads("postgresql+psycopg://sika@db/sika", 1) == 1
    assert inbox_threads("sqlite:///./sika.db", 3) == 3


def test_the_setting_is_unset_unless_given(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SIKA_WHATSAPP_INBOX_THREADS", raising=False)
    assert Settings().whatsapp_inbox_threads is None
    monkeypatch.setenv("SIKA_WHATSAPP_INBOX_THREADS", "4")
    assert Settings().whatsapp_inbox_threads == 4
