"""Operator commands: agents and their floats, merchants, wallets and their history."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from sika.cli.context import container
from sika.errors import SikaError
from sika.payments import movement_id, new_movement_id

if TYPE_CHECKING:
    from sika.ledger import Ledger
    from sika.rides.payouts import Payout
    from sika.rides.service import Rides
    from sika.wallet import Customers

__all__ = ["agent_app", "merchant_app", "wallet_app", "when"]

agent_app = typer.Typer(help="Agents: the shops where customers cash in and out.", no_args_is_help=True)
merchant_app = typer.Typer(help="Merchants: paid by request-to-pay, with signed callbacks.",
                           no_args_is_help=True)
wallet_app = typer.Typer(help="Wallets: look one up, see its history, change its tier.", no_args_is_help=True)


def _driving(rides: Rides, ledger: Ledger, customers: Customers, customer_id: int) -> Payout | None:
    """Where a wallet holder who drives stands with the platform (None: not a driver)."""
    from sika.rides.payouts import standing

    try:
        driver = rides.driver_of(customer_id)
    except SikaError:
        return None
    return standing(rides, ledger, customers, driver.id)


def when(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9))


@agent_app.command("create")
def agent_create(
    name: str = typer.Option(..., help="The agent's shop name."),
    msisdn: str | None = typer.Option(None, help="The agent's phone number."),
) -> None:
    """Create an agent with an empty float; its API key is printed alone on the last line."""
    with container() as c:
        agent, secret = c.agents.create(name, msisdn=msisdn)
    typer.echo(f"created agent #{agent.id} {agent.name!r}; credit its float with `sika agent credit`."
               " Its API key (keep it secret):", err=True)
    typer.echo(secret)


@agent_app.command("list")
def agent_list(limit: int = typer.Option(50, min=1, max=200)) -> None:
    """Agents and their floats."""
    with container() as c:
        table = Table("id", "name", "phone", "float (XOF)")
        for agent in c.agents.list(limit):
            balance = c.ledger.get_account(agent.float_account_id).balance
            table.add_row(str(agent.id), agent.name, agent.msisdn or "", f"{balance:,}".replace(",", " "))
    Console().print(table)


@agent_app.command("credit")
def agent_credit(
    agent_id: int = typer.Argument(..., help="The agent's id (see `sika agent list`)."),
    amount: int = typer.Argument(..., min=1, help="XOF the agent paid in (bank deposit)."),
    reference: str | None = typer.Option(
        None, help="The deposit's reference: crediting it twice does nothing."),
) -> None:
    """Credit an agent's float after it paid the settlement bank."""
    mid = movement_id("operator-float", reference) if reference else new_movement_id()
    with container() as c:
        done = c.payments.credit_float(mid, c.agents.get(agent_id), amount).raise_for_failure()
        balance = c.ledger.get_account(c.agents.get(agent_id).float_account_id).balance
    typer.echo(f"credited {done.amount} XOF to agent #{agent_id} ({done.id}); float now {balance} XOF")


@merchant_app.command("create")
def merchant_create(
    name: str = typer.Option(..., help="The merchant's trading name."),
    callback_url: str | None = typer.Option(None, help="Where signed payment events are POSTed."),
) -> None:
    """Create a merchant; prints its callback signing key, then its API key alone on the last line."""
    with container() as c:
        merchant, secret = c.merchants.create(name, callback_url=callback_url)
    typer.echo(f"created merchant #{merchant.id} {merchant.name!r}", err=True)
    typer.echo(f"callback signing key: {merchant.callback_secret}", err=True)
    typer.echo(secret)


@merchant_app.command("list")
def merchant_list(limit: int = typer.Option(50, min=1, max=200)) -> None:
    """Merchants and their balances."""
    with container() as c:
        table = Table("id", "name", "balance (XOF)", "callback")
        for merchant in c.merchants.list(limit):
            balance = c.ledger.get_account(merchant.account_id).balance
            table.add_row(str(merchant.id), merchant.name, str(balance), merchant.callback_url or "")
    Console().print(table)


@wallet_app.command("show")
def wallet_show(msisdn: str = typer.Argument(..., help="The wallet's phone number.")) -> None:
    """A wallet: holder, tier and limits, balance, this month's inflow, PIN state."""
    from sika.payments.meters import month_of

    with container() as c:
        customer = c.customers.get(msisdn)
        assert customer.account_id is not None
        account = c.ledger.get_account(customer.account_id)
        limits = c.customers.limits(customer)
        month = month_of(time.time_ns())
        inflow = c.payments.meters.used(customer.id, month)
        vouchers = c.payments.vouchers_for(customer.msisdn)
        driving = _driving(c.rides, c.ledger, c.customers, customer.id) if c.rides is not None else None
    table = Table(show_header=False)
    for label, value in [
        ("number", customer.msisdn), ("name", customer.name), ("language", customer.language),
        ("tier", f"{customer.tier} (holds ≤ {limits.balance_max}, moves ≤ {limits.transaction_max} at a "
                 f"time, receives ≤ {limits.inflow_month_max} a month)"),
        ("balance", f"{account.balance} XOF (available {account.available})"),
        (f"inflow {month}", f"{inflow} XOF of {limits.inflow_month_max}"),
        ("PIN", "locked until " + when(customer.pin_locked_until_ns)
         if customer.pin_locked_until_ns and customer.pin_locked_until_ns > time.time_ns()
         else ("set" if customer.has_pin else "not set")),
        ("vouchers waiting", str(len(vouchers))),
        ("opened", when(customer.created_at_ns)),
        *_driver_rows(driving),
    ]:
        table.add_row(label, value)
    Console().print(table)


def _driver_rows(driving: Payout | None) -> list[tuple[str, str]]:
    if driving is None:
        return []
    if driving.owed:
        return [("driver account", f"owes {driving.owed} XOF of cash-ride commissions: top up the wallet, "
                                   "then `sika wallet payout` takes it")]
    return [("driver account", f"{driving.earnings} XOF of earnings to pay out (`sika wallet payout`)")]


@wallet_app.command("history")
def wallet_history(
    msisdn: str = typer.Argument(..., help="The wallet's phone number."),
    limit: int = typer.Option(20, min=1, max=200, help="How many movements, newest first."),
    cursor: str | None = typer.Option(None, help="Go on from a previous page's cursor."),
    as_json: bool = typer.Option(False, "--json",
                                 help="One JSON object (items, next_cursor) on the last line."),
) -> None:
    """A wallet's statement: each movement once as this customer sees it (the amounts of completed
    items add up to the balance): when, what, with whom, amount, fee, status."""
    from sika.chat.i18n import translator
    from sika.chat.statement_text import as_dict

    with container() as c:
        customer = c.customers.get(msisdn)
        page = c.statements.page(customer, limit=limit, cursor=cursor)
        assert customer.account_id is not None
        balance = c.ledger.get_account(customer.account_id).balance
    t = translator(customer.language)
    items = [as_dict(t, item) for item in page.items]
    if as_json:
        typer.echo(json.dumps({"items": items, "next_cursor": page.next_cursor}, ensure_ascii=False))
        return
    table = Table("when (UTC)", "id", "what", "with", "amount", "fee", "status")
    for item, shown in zip(page.items, items, strict=True):
        table.add_row(when(item.at_ns), item.id, shown["description"], shown["counterparty"],
                      f"{item.amount:+}", str(item.fee),
                      shown["status"] + (f" ({item.error_code})" if item.error_code else ""))
    console = Console()
    console.print(table)
    more = f"; more with --cursor {page.next_cursor}" if page.next_cursor else ""
    console.print(f"balance {balance} XOF{more}")


@wallet_app.command("payout")
def wallet_payout(msisdn: str = typer.Argument(..., help="The driver's wallet number.")) -> None:
    """Settle a driver's account with their wallet: earnings paid out, or cash-ride commissions owed
    taken from it; says what moved and what is still owed."""
    from sika.chat.i18n import translator
    from sika.chat.payout_text import explain
    from sika.rides.payouts import pay_out

    with container() as c:
        assert c.rides is not None
        driver = c.rides.driver_of(c.customers.get(msisdn).id)
        done = pay_out(c.rides, c.ledger, c.customers, driver.id)
    typer.echo(explain(translator("en"), done))
    typer.echo(json.dumps(done.as_dict()))


@wallet_app.command("tier")
def wallet_tier(
    msisdn: str = typer.Argument(..., help="The wallet's phone number."),
    tier: int = typer.Argument(..., min=0, max=2,
                               help="The KYC tier: 0 self-registered, 1 ID checked, 2 full."),
) -> None:
    """Move a wallet to another KYC tier (its limits follow)."""
    with container() as c:
        customer = c.customers.set_tier(msisdn, tier)
    typer.echo(f"{customer.msisdn} is now tier {customer.tier}")
