"""``sika ledger``: audit the ledger and look at accounts."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from sika.config import settings
from sika.db import create_db_engine
from sika.ledger import Ledger
from sika.ledger.audit import check, check_names
from sika.migration import upgrade

__all__ = ["app"]

app = typer.Typer(help="The double-entry ledger: audit and inspect.", no_args_is_help=True)


@app.command("check")
def check_command() -> None:
    """Audit the whole database; exit 1 on any violated invariant."""
    engine = create_db_engine(settings().database_url)
    try:
        upgrade(engine)
        violations = check(engine)
    finally:
        engine.dispose()
    if not violations:
        typer.echo(f"ledger check passed: {len(check_names())} invariants hold")
        return
    # One line per violation, so operators can grep and alert on them.
    for violation in violations:
        typer.echo(f"violation {violation.check}: {violation.detail}", err=True)
    typer.echo(f"ledger check failed: {len(violations)} violation(s)", err=True)
    sys.exit(1)


@app.command("account")
def account_command(
    account_id: int = typer.Argument(..., help="Ledger account id."),
    limit: int = typer.Option(20, min=1, max=200, help="How many recent transfers to show."),
) -> None:
    """Show an account's balances and its latest transfers."""
    engine = create_db_engine(settings().database_url)
    ledger = Ledger(engine)
    try:
        account = ledger.get_account(account_id)
        page = ledger.account_transfers(account_id, limit=limit)
    finally:
        engine.dispose()
    console = Console()
    console.print(
        f"account {account.id} {account.kind} {account.currency}: balance {account.balance},"
        f" available {account.available}, pending debits {account.debits_pending},"
        f" pending credits {account.credits_pending}"
    )
    table = Table("id", "debit", "credit", "amount", "flags", "pending")
    for t in page.items:
        table.add_row(t.id, str(t.debit_account_id), str(t.credit_account_id), str(t.amount),
                      t.flags.name or "", t.pending_status or "")
    console.print(table)
