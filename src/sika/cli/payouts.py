"""``sika payout``: a merchant's balance out to a Flooz or T-Money wallet, and the operator's word on
a payout whose outcome was unknown."""

from __future__ import annotations

import typer

from sika.cli.context import container
from sika.payments import movement_id, new_movement_id

__all__ = ["app"]

app = typer.Typer(help="Payouts to mobile-money wallets (PayGate).", no_args_is_help=True)


@app.command("merchant")
def merchant_payout(  # noqa: PLR0917 (a command's options, as typer takes them)
    merchant_id: int = typer.Argument(..., help="The merchant's id (see `sika merchant list`)."),
    amount: int = typer.Argument(..., min=1, help="XOF to pay out of the merchant's balance."),
    msisdn: str = typer.Option(..., help="The wallet's number, like +22890112233."),
    network: str = typer.Option(..., help="FLOOZ or TMONEY."),
    reference: str | None = typer.Option(None, help="This payout's reference: using it twice pays once."),
    reason: str = typer.Option("Sika payout", help="What the recipient's statement shows."),
) -> None:
    """Pay a merchant's balance out to a mobile-money wallet."""
    from sika import phones

    mid = movement_id("operator-payout", reference) if reference else new_movement_id()
    with container(providers=True) as c:
        merchant = c.merchants.get(merchant_id)
        done = c.payouts.merchant_payout(mid, merchant, msisdn=phones.normalize(msisdn),
                                         network=network.strip().upper(), amount=amount, reason=reason)
    if done.details.get("outcome_unknown"):
        typer.echo(f"payout {done.id}: PayGate did not answer; the amount stays held. Check PayGate's "
                   f"dashboard, then `sika payout resolve {done.id} --sent` or `--failed`", err=True)
        raise typer.Exit(2)
    done.raise_for_failure()
    typer.echo(f"payout {done.id}: {done.amount} XOF to {done.counterparty}, {done.status}")


@app.command("resolve")
def resolve(
    payout_id: str = typer.Argument(..., help="The payout's id (see `sika reconcile`)."),
    sent: bool = typer.Option(..., "--sent/--failed",
                              help="What the provider's dashboard says: the money left, or it did not."),
) -> None:
    """Settle a payout whose outcome was unknown, after checking the provider's dashboard."""
    with container() as c:
        done = c.payouts.resolve(payout_id, sent=sent)
    typer.echo(f"payout {done.id}: {done.status}")
