"""Migrations create exactly the tables the code describes, and run again harmlessly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from sika.db import create_db_engine
from sika.migration import current_revision, head_revision, upgrade
from sika.tables import load_all


def test_migrating_twice_leaves_the_database_at_head(database_url: str) -> None:
    engine = create_db_engine(database_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert {"ledger_accounts", "ledger_transfers", "ledger_pending"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_the_migrated_schema_matches_the_code_that_queries_it(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, load_all())
    assert differences == []
