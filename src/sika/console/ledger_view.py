"""From a movement down to the ledger: its legs, the transfers the ledger stored for them (and the
post or void that resolved a hold), and the accounts on each side with who owns them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from sika.bootstrap import Container
from sika.console.i18n import N_
from sika.ledger import Account
from sika.ledger.model import TransferRecord
from sika.payments import Movement
from sika.payments.movements import Code, Leg
from sika.payments.schema import agents, inflow_meters, merchants, system_accounts
from sika.rides.schema import drivers
from sika.wallet.schema import customers

__all__ = ["AccountView", "LegView", "Owner", "code_name", "leg_views", "owners"]


@dataclass(frozen=True, slots=True)
class Owner:
    role: str  # a msgid: what kind of holder
    name: str
    link: str | None


@dataclass(frozen=True, slots=True)
class AccountView:
    account: Account
    owner: Owner


@dataclass(frozen=True, slots=True)
class LegView:
    leg: Leg
    transfer: TransferRecord | None  # None: the ledger has no such transfer (refused, or not yet sent)
    resolutions: list[TransferRecord]  # the post or void of a pending leg
    debit: AccountView | None
    credit: AccountView | None


def code_name(code: int) -> str:
    try:
        return Code(code).name.lower()
    except ValueError:
        return str(code)


def leg_views(container: Container, movement: Movement) -> list[LegView]:
    ledger = container.ledger
    found = []
    account_ids: set[int] = set()
    for leg in movement.legs:
        transfer = ledger.get_transfer(leg.id)
        resolutions = [r for r in (ledger.get_transfer(f"{leg.id}.{verb}") for verb in ("post", "void"))
                       if r is not None] if leg.pending else []
        found.append((leg, transfer, resolutions))
        account_ids.update((leg.debit, leg.credit))
    accounts = ledger.get_accounts(sorted(account_ids))
    who = owners(container.engine, account_ids)
    return [LegView(leg=leg, transfer=transfer, resolutions=resolutions,
                    debit=_view(accounts, who, leg.debit), credit=_view(accounts, who, leg.credit))
            for leg, transfer, resolutions in found]


def _view(accounts: dict[int, Account], who: dict[int, Owner], account_id: int) -> AccountView | None:
    account = accounts.get(account_id)
    if account is None:
        return None
    fallback = Owner(N_("account"), str(account.kind), None)
    return AccountView(account=account, owner=who.get(account_id, fallback))


def owners(engine: Engine, account_ids: Iterable[int]) -> dict[int, Owner]:
    """Who each account belongs to: a wallet, an agent's float, a merchant, a driver, a meter, the
    platform (by its account's name)."""
    ids = sorted(set(account_ids))[:500]
    out: dict[int, Owner] = {}
    if not ids:
        return out
    with engine.connect() as c:
        for row in c.execute(select(customers.c.account_id, customers.c.msisdn, customers.c.name)
                             .where(customers.c.account_id.in_(ids))):
            out[row.account_id] = Owner(N_("wallet"), f"{row.msisdn} {row.name}",
                                        f"/console/wallets/{row.msisdn}")
        for row in c.execute(select(agents.c.float_account_id, agents.c.id, agents.c.name)
                             .where(agents.c.float_account_id.in_(ids))):
            out[row.float_account_id] = Owner(N_("agent float"), f"#{row.id} {row.name}", "/console/agents")
        for row in c.execute(select(merchants.c.account_id, merchants.c.id, merchants.c.name)
                             .where(merchants.c.account_id.in_(ids))):
            out[row.account_id] = Owner(N_("merchant"), f"#{row.id} {row.name}", "/console/merchants")
        for row in c.execute(select(drivers.c.account_id, drivers.c.id, drivers.c.name)
                             .where(drivers.c.account_id.in_(ids))):
            out[row.account_id] = Owner(N_("driver"), f"#{row.id} {row.name}", "/console/rides")
        for account_id, name in c.execute(select(system_accounts.c.account_id, system_accounts.c.name)
                                          .where(system_accounts.c.account_id.in_(ids))):
            out[account_id] = Owner(N_("platform"), name, None)
        for row in c.execute(select(inflow_meters.c.account_id, inflow_meters.c.month, customers.c.msisdn)
                             .join(customers, customers.c.id == inflow_meters.c.customer_id)
                             .where(inflow_meters.c.account_id.in_(ids))):
            out[row.account_id] = Owner(N_("inflow meter"), f"{row.msisdn} {row.month}",
                                        f"/console/wallets/{row.msisdn}")
    return out
