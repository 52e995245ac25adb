"""``sika reconcile``: what needs an operator, Sika's side and the providers' side."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sika.cli.context import container
from sika.cli.operators import when
from sika.config import settings

__all__ = ["reconcile"]


def reconcile(
    as_json: bool = typer.Option(False, "--json", help="One JSON object on the last line."),
    since_hours: int = typer.Option(168, min=1, max=24 * 90,
                                    help="Compare the provider orders of the last this many hours."),
    providers: bool = typer.Option(True, "--providers/--no-providers",
                                   help="Ask each live provider about its orders (and balance)."),
) -> None:
    """List what needs an operator: provider payments past their deadline, movements a crash left
    half-done, provider successes after the hold was released, payouts whose outcome is unknown,
    undelivered merchant callbacks, and orders where Sika and a provider disagree (drift). Exits 1
    when anything is listed."""
    from sika.payments.reconciliation import reconcile_providers

    mode = settings().providers
    ask = providers and mode == "live"
    with container(providers=ask) as c:
        stuck = c.payments.stuck()
        callbacks = c.callbacks.undelivered()
        report = reconcile_providers(c.engine, c.payments, c.purchases.providers,
                                     since_s=since_hours * 3600) if ask else None
    rows = [{"id": m.id, "kind": str(m.kind), "status": str(m.status), "provider": m.provider,
             "amount": m.amount, "since": when(m.updated_at_ns), "issue": _issue(m.kind, m.status, m.details)}
            for m in stuck]
    why = "--no-providers" if not providers else f"SIKA_PROVIDERS={mode} (its fakes live in `sika serve`)"
    skipped = None if ask else f"provider checks skipped: {why}"
    if as_json:
        typer.echo(json.dumps({"movements": rows, "callbacks": callbacks,
                               "providers": report.as_json() if report is not None else None,
                               "skipped": skipped}))
    else:
        _print(rows, callbacks, report.as_json() if report is not None else None, skipped)
    if rows or callbacks or (report is not None and report.drift):
        sys.exit(1)


def _print(rows: list[dict[str, Any]], callbacks: list[dict[str, Any]], report: dict[str, Any] | None,
           skipped: str | None) -> None:
    console = Console()
    columns = ("id", "kind", "status", "provider", "amount", "since", "issue")
    table = Table(*columns[:-2], "since (UTC)", "issue")
    for row in rows:
        table.add_row(*(str(row[k]) for k in columns))
    console.print(table)
    for callback in callbacks:
        console.print(f"callback {callback['dedupe_key']} to {callback['url']}: {callback['status']}, "
                      f"{callback['attempts']} tries, last error {callback['last_error']}")
    drift: list[dict[str, Any]] = report["drift"] if report is not None else []
    if report is not None:
        found = Table("id", "provider", "product", "amount", "here", "at the provider", "issue",
                      title="Sika and the providers")
        for d in drift:
            found.add_row(d["movement_id"], d["provider"], d["product"], str(d["amount"]), d["sika"],
                          d["at_provider"] + (f" ({d['provider_amount']})" if d["provider_amount"] else ""),
                          d["issue"])
        console.print(found)
        for balance in report["balances"]:
            console.print(f"balance at {balance['account']}: {balance['amount']} {balance['currency']}")
        for provider, count in report["unchecked"].items():
            console.print(f"{count} order(s) at {provider} could not be checked "
                          "(not configured or unavailable)")
        for note in report["notes"]:
            console.print(note)
    if skipped:
        console.print(skipped)
    console.print(f"{len(rows)} movement(s), {len(callbacks)} callback(s) and {len(drift)} drift(s) "
                  "need attention")


def _issue(kind: object, status: object, details: dict[str, object]) -> str:
    if str(kind) == "payout":
        return ("payout outcome unknown: check the provider's dashboard, then "
                "`sika payout resolve ID --sent|--failed`")
    if details.get("late_outcome"):
        return "provider succeeded after the hold was released: charge or reverse with the provider"
    if details.get("trip") and str(status) == "failed":
        return "the card refused a completed ride's fare: collect it from the rider, pay the driver"
    if details.get("refund_required"):
        return "paid at the provider but refused by our limits: refund at the provider"
    if str(status) == "processing":
        return "interrupted: the recovery job finishes it"
    return "past its deadline: the polling job gives it up"
