"""Alembic environment: runs against the connection that ``sika.migration`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from sika.tables import load_all

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=load_all(), render_as_batch=True)

with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Several processes may start together (serve + workers): one migrates, the others wait.
        connection.execute(text("SELECT pg_advisory_xact_lock(7368201)"))
    context.run_migrations()
