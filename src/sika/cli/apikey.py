"""``sika apikey``: API keys for agents, merchants and operators."""

from __future__ import annotations

import typer

from sika.auth import ApiKeys, Role
from sika.config import settings
from sika.db import create_db_engine
from sika.migration import upgrade

__all__ = ["app"]

app = typer.Typer(help="API keys: create them for agents, merchants and operators.",
                  no_args_is_help=True)


@app.command("create")
def create_command(
    role: Role = typer.Option(..., help="What the key may do: admin, agent or merchant."),
    name: str = typer.Option("", help="Who holds it (defaults to the role)."),
) -> None:
    """Create a key; it is printed alone on the last line, once, and cannot be shown again."""
    engine = create_db_engine(settings().database_url)
    try:
        upgrade(engine)
        key, secret = ApiKeys(engine).create(role, name or str(role))
    finally:
        engine.dispose()
    typer.echo(f"created {key.role} key #{key.id} for {key.name!r}; keep it secret:", err=True)
    typer.echo(secret)
