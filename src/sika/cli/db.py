"""``sika db``: schema migrations."""

from __future__ import annotations

import typer

from sika.config import settings
from sika.db import create_db_engine
from sika.migration import current_revision, head_revision, upgrade

__all__ = ["app"]

app = typer.Typer(help="Database schema: upgrade and status.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command() -> None:
    """Apply every pending migration (sika serve does this on start)."""
    engine = create_db_engine(settings().database_url)
    try:
        upgrade(engine)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@app.command("status")
def status_command() -> None:
    """Show the database's revision and the newest one this code knows."""
    engine = create_db_engine(settings().database_url)
    try:
        typer.echo(f"current: {current_revision(engine) or 'empty'}  head: {head_revision()}")
    finally:
        engine.dispose()
