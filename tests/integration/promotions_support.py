"""A small town for promotions tests: an agent with float, wallets, a merchant, and campaigns; plus
the budget identity and the ledger audit every test ends with."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import audit
from sika.payments import Agent, Merchant, Movement, new_movement_id
from sika.promotions import BudgetState, Campaign
from sika.wallet import Customer, Pin

_numbers = itertools.count(10)
PIN = "4827"


@contextlib.contextmanager
def audited_containers(database_url: str, processes: int) -> Iterator[list[Container]]:
    """``processes`` containers on one database, as that many processes would have (the first one
    migrates); the ledger audited at the end."""
    built = [bootstrap(Settings(database_url=database_url, providers="instant"))]
    built += [bootstrap(Settings(database_url=database_url, providers="instant"), migrate=False)
              for _ in range(processes - 1)]
    try:
        yield built
        assert audit.check(built[0].engine) == []
    finally:
        for container in built:
            container.close()


@dataclass
class Town:
    container: Container
    agent: Agent

    @classmethod
    def open(cls, container: Container) -> Town:
        agent, _ = container.agents.create("Boutique Bè", msisdn="+22892001122")
        container.payments.credit_float(new_movement_id(), agent, 100_000_000)
        return cls(container, agent)

    def wallet(self, name: str, cash: int = 0, *, tier: int = 1) -> Customer:
        msisdn = f"+228900{next(_numbers):05d}"
        self.container.customers.open(msisdn, name, pin=Pin(PIN), tier=tier)
        if cash:
            done = self.container.payments.cash_in(new_movement_id(), self.agent, msisdn, cash)
            assert done.status.value == "completed", done
        return self.container.customers.get(msisdn)

    def merchant(self, name: str = "Assigame Market", cash: int = 0) -> Merchant:
        merchant, _ = self.container.merchants.create(name)
        if cash:  # a customer pays the merchant: its account holds money to fund or refund with
            buyer = self.wallet(f"Buyer of {name}", cash)
            self.container.payments.merchant_payment(new_movement_id(), merchant, buyer, cash)
        return merchant

    def campaign(
        self, kind: str = "cashback", budget: int = 1_000, *, start: bool = True, **fields: Any
    ) -> Campaign:
        rules = fields.pop("rules", {"percent": 5, "reward_max": 250, "operations": ["transfer"]})
        made = self.container.promotions.campaigns.create(
            name=fields.pop("name", f"{kind} test"), kind=kind, budget=budget, rules=rules, **fields
        )
        if start:
            self.container.promotions.campaigns.start(made.id)
        return self.container.promotions.store.get(made.id)

    def send(self, payer: Customer, to: Customer, amount: int) -> Movement:
        return self.container.payments.transfer(new_movement_id(), payer, to.msisdn, amount)

    def balance(self, customer: Customer) -> int:
        assert customer.account_id is not None
        return self.container.ledger.get_account(customer.account_id).balance

    def money(self, campaign: Campaign) -> BudgetState:
        return self.container.promotions.campaigns.view(campaign.id).money


def assert_adds_up(town: Town, campaign: Campaign) -> BudgetState:
    """The budget identity, the ledger's own view of the account, and the whole ledger's audit."""
    money = town.money(campaign)
    assert money.spent + money.reserved + money.remaining == money.budget, money
    account = town.container.ledger.get_account(campaign.account_id)
    assert money.remaining == account.available >= 0, (money, account)
    assert money.reserved == account.debits_pending, (money, account)
    assert audit.check(town.container.engine) == []
    return money


def assert_statement_adds_up(town: Town, customer: Customer) -> None:
    """The wallet's statement (what the REST history shows) adds up to its balance, rewards included."""
    items = town.container.statements.page(customer, limit=200).items
    assert sum(i.amount for i in items if i.status.value == "completed") == town.balance(customer), items
