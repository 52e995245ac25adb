"""Wires the adapters once: settings -> engine -> ledger. Commands and the HTTP app start here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from sika.auth import ApiKeys, Sessions
from sika.config import Settings
from sika.db import create_db_engine
from sika.ledger import Ledger
from sika.migration import upgrade
from sika.wallet import Customers

__all__ = ["Container", "bootstrap"]


@dataclass(slots=True)
class Container:
    settings: Settings
    engine: Engine
    ledger: Ledger
    customers: Customers
    api_keys: ApiKeys
    sessions: Sessions

    def close(self) -> None:
        self.ledger.close()
        self.engine.dispose()


def bootstrap(settings: Settings, *, migrate: bool = True) -> Container:
    engine = create_db_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    if migrate:
        upgrade(engine)
    ledger = Ledger(engine, group_max=settings.ledger_group_max)
    customers = Customers(engine, ledger, pin_tries_max=settings.pin_tries_max,
                          pin_lock_s=settings.pin_lock_s, tiers=settings.tiers)
    return Container(
        settings=settings,
        engine=engine,
        ledger=ledger,
        customers=customers,
        api_keys=ApiKeys(engine),
        sessions=Sessions(engine, customers),
    )
