"""``sika operator …``: the people who log in to the operations console (/console)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from sika.config import settings
from sika.console.operators import Operators, Role
from sika.db import create_db_engine
from sika.migration import upgrade

__all__ = ["operator_app"]

operator_app = typer.Typer(help="Console operators: accounts, roles, passwords, second factor.",
                           no_args_is_help=True)
_ROLES = "viewer (reads), operator (also proposes money movements), approver (also approves others')"


@contextmanager
def _operators() -> Iterator[Operators]:
    engine = create_db_engine(settings().database_url)
    try:
        upgrade(engine)
        yield Operators(engine)
    finally:
        engine.dispose()


def _password(ask: bool) -> str | None:
    if not ask:
        return None
    return str(typer.prompt("Password (12 characters or more)", hide_input=True, confirmation_prompt=True))


@operator_app.command("create")
def create(
    name: str = typer.Option(..., help="The operator's login name."),
    role: str = typer.Option(..., help=_ROLES),
    ask_password: bool = typer.Option(False, "--ask-password",
                                      help="Type the password instead of getting one."),
) -> None:
    """Create an operator; prints the initial password alone on the last line (unless typed)."""
    if role not in ("viewer", "operator", "approver"):
        raise typer.BadParameter(_ROLES, param_hint="--role")
    with _operators() as operators:
        operator, password = operators.create(name, Role(role), _password(ask_password))
    typer.echo(f"created operator #{operator.id} {operator.name!r} ({operator.role});"
               " log in at /console/login", err=True)
    if not ask_password:
        typer.echo("initial password (shown once):", err=True)
        typer.echo(password)


@operator_app.command("list")
def list_operators() -> None:
    """Operators, their roles and state."""
    with _operators() as operators:
        found = operators.list()
    table = Table("id", "name", "role", "TOTP", "state")
    for o in found:
        state = "disabled" if o.disabled else ("locked" if o.locked_until_ns else "active")
        table.add_row(str(o.id), o.name, str(o.role), "on" if o.totp_enabled else "off", state)
    Console().print(table)


@operator_app.command("password")
def password(name: str = typer.Argument(..., help="The operator's login name.")) -> None:
    """Set a new password (typed twice); also lifts a lockout."""
    with _operators() as operators:
        operators.set_password(name, str(_password(True)))
    typer.echo(f"password of {name!r} changed")


@operator_app.command("totp")
def enable_totp(name: str = typer.Argument(..., help="The operator's login name.")) -> None:
    """Turn on the second factor: prints the secret and the otpauth:// URI for an authenticator app."""
    from sika.console.totp import provisioning_uri

    with _operators() as operators:
        secret = operators.enable_totp(name)
    typer.echo("add this to an authenticator app (RFC 6238, 6 digits, 30 s):", err=True)
    typer.echo(provisioning_uri(secret, name), err=True)
    typer.echo(secret)


@operator_app.command("unlock")
def unlock(name: str = typer.Argument(..., help="The operator's login name.")) -> None:
    """Lift a lockout after too many wrong passwords."""
    with _operators() as operators:
        operators.unlock(name)
    typer.echo(f"{name!r} unlocked")


@operator_app.command("disable")
def disable(name: str = typer.Argument(..., help="The operator's login name.")) -> None:
    """Stop an operator from logging in (the account and its audit trail stay)."""
    from sika.console.sessions import ConsoleSessions

    with _operators() as operators:
        operators.disable(name)
        ended = ConsoleSessions(operators.engine).close_all(operators.get(name).actor)
    typer.echo(f"{name!r} disabled; {ended} open session(s) closed")
