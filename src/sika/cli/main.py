"""The ``sika`` command line. A user's mistake prints one line on stderr and exits non-zero."""

from __future__ import annotations

import sys

import typer

from sika.cli import (
    apikey,
    bench,
    calendar,
    campaign,
    chat,
    console,
    db,
    ledger,
    notifications,
    operators,
    payouts,
    reconcile,
    serve,
    simulate,
)
from sika.errors import SikaError

__all__ = ["app", "run"]

app = typer.Typer(
    name="sika",
    help="Sika: mobile money over chat, moto-taxi on demand and promotions, on a double-entry ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.add_typer(db.app, name="db")
app.add_typer(ledger.app, name="ledger")
app.add_typer(bench.app, name="bench")
app.add_typer(simulate.app, name="simulate")
app.add_typer(calendar.app, name="calendar")
app.add_typer(campaign.app, name="campaign")
app.add_typer(apikey.app, name="apikey")
app.add_typer(operators.agent_app, name="agent")
app.add_typer(operators.merchant_app, name="merchant")
app.add_typer(operators.wallet_app, name="wallet")
app.add_typer(payouts.app, name="payout")
app.add_typer(notifications.app, name="notifications")
app.command("reconcile")(reconcile.reconcile)
app.add_typer(console.operator_app, name="operator")
app.command("chat")(chat.chat)


def run() -> None:
    try:
        app()
    except SikaError as exc:
        typer.echo(f"sika: {exc.message} [{exc.code}]", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
