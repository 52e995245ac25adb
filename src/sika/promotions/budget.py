"""A campaign's budget: its own ledger account, funded by real transfers from the sponsor, spent by
rewards in their movements' chains, returned to the sponsor when the campaign ends.

The account may not go below zero (``debits_must_not_exceed_credits``): the ledger refuses any reward
the budget cannot pay, under the account's lock, whatever races. Where the money stands is read from
the ledger alone, in one statement (one snapshot): the account's totals, the fundings credited to it
and the returns debited from it. Hence, exactly and at every moment::

    budget    = funded - returned
    spent     = (debits_posted - returned) - (credits_posted - funded)    rewards and prizes, less clawbacks
    reserved  = debits_pending                                           rewards of payments in flight
    remaining = credits_posted - debits_posted - debits_pending          the account's available balance
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine, and_, func, select

from sika.errors import SikaError
from sika.ledger import AccountFlags, AccountKind, Ledger, Transfer, TransferResult
from sika.ledger.schema import accounts, transfers
from sika.payments.accounts import SystemAccounts
from sika.payments.agents import Merchants
from sika.payments.movements import Code
from sika.promotions.errors import CampaignStateError
from sika.promotions.model import BudgetState, Campaign, Sponsor, State

__all__ = ["RETURNS_MAX", "Budgets", "FundingRefused"]

# Returns of one campaign's unspent money: one at the end, then one per reservation voided later.
RETURNS_MAX = 32
PLATFORM_ACCOUNT = "promotions_expense"
_FLAGS_NOT_POSTED = 2 | 8  # pending and void transfers move no posted money


class FundingRefused(SikaError):
    code = "insufficient_funds"


class Budgets:
    def __init__(self, engine: Engine, ledger: Ledger, system: SystemAccounts, merchants: Merchants) -> None:
        self._engine = engine
        self._ledger = ledger
        self._system = system
        self._merchants = merchants

    def open_account(self, campaign_id: str) -> int:
        account = self._ledger.create_account(
            currency="XOF",
            kind=AccountKind.CAMPAIGN_BUDGET,
            flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            metadata={"campaign": campaign_id},
        )
        return account.id

    def sponsor_account(self, sponsor: Sponsor) -> int:
        """The ledger account a sponsor pays from (and gets the unspent budget back into)."""
        if sponsor.kind == "merchant":
            return self._merchants.get(int(sponsor.ref)).account_id
        if sponsor.kind == "operator":
            # What Sika owes the operator for what it delivered: the operator pays by owing less.
            return self._system.provider(sponsor.ref)
        return self._system.id(PLATFORM_ACCOUNT)

    def fund(self, campaign: Campaign, amount: int, *, key: str, source: Sponsor | None = None) -> None:
        """Move ``amount`` from the source (the sponsor by default) into the budget, once per ``key``."""
        assert amount > 0
        if campaign.state is State.ENDED:
            raise CampaignStateError("this campaign has ended: its budget takes no more money")
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        payer = self.sponsor_account(source or campaign.sponsor)
        transfer = Transfer(
            id=f"{campaign.id}.fund.{digest}",
            debit_account_id=payer,
            credit_account_id=campaign.account_id,
            amount=amount,
            code=Code.BUDGET_FUNDING,
            metadata={"campaign": campaign.id},
        )
        (result,) = self._ledger.submit([transfer])
        if result is TransferResult.EXISTS_WITH_DIFFERENT_FIELDS:
            raise SikaError(
                "this Idempotency-Key funded this campaign with another amount or source",
                code="idempotency_conflict",
            )
        if result is TransferResult.EXCEEDS_CREDITS:
            raise FundingRefused(f"the account of {source or campaign.sponsor} does not cover {amount} XOF")
        if result not in (TransferResult.OK, TransferResult.EXISTS):
            raise CampaignStateError(f"the ledger refused the funding ({result})")

    def give_back(self, campaign: Campaign) -> int:
        """Return what the budget neither spent nor reserves to the sponsor; the amount returned."""
        sponsor = self.sponsor_account(campaign.sponsor)
        for _ in range(RETURNS_MAX):
            returned_ids = self._returns_done(campaign)
            available = self._ledger.get_account(campaign.account_id).available
            if available <= 0:
                return 0
            if len(returned_ids) >= RETURNS_MAX:
                raise CampaignStateError("this campaign's budget was returned too many times; see the ledger")
            transfer = Transfer(
                id=_return_id(campaign.id, len(returned_ids)),
                debit_account_id=campaign.account_id,
                credit_account_id=sponsor,
                amount=available,
                code=Code.BUDGET_RETURN,
                metadata={"campaign": campaign.id},
            )
            (result,) = self._ledger.submit([transfer])
            if result in (TransferResult.OK, TransferResult.EXISTS):
                return available
            # Another process returned (or a reward reserved) meanwhile: read again and retry.
            assert result in (TransferResult.EXCEEDS_CREDITS, TransferResult.EXISTS_WITH_DIFFERENT_FIELDS), (
                result
            )
        raise CampaignStateError("the budget kept changing while it was being returned; try again")

    def state(self, campaign: Campaign, now_ns: int) -> BudgetState:
        """Where the money stands, from one read of the ledger (see the module's docstring)."""
        account = campaign.account_id
        funded = (
            select(func.coalesce(func.sum(transfers.c.amount), 0))
            .where(
                transfers.c.credit_account_id == account,
                transfers.c.code == Code.BUDGET_FUNDING,
                transfers.c.flags.op("&")(_FLAGS_NOT_POSTED) == 0,
            )
            .scalar_subquery()
        )
        returned = (
            select(func.coalesce(func.sum(transfers.c.amount), 0))
            .where(
                and_(
                    transfers.c.id.in_([_return_id(campaign.id, i) for i in range(RETURNS_MAX)]),
                    transfers.c.debit_account_id == account,
                )
            )
            .scalar_subquery()
        )
        query = select(
            accounts.c.debits_posted,
            accounts.c.credits_posted,
            accounts.c.debits_pending,
            funded.label("funded"),
            returned.label("returned"),
        ).where(accounts.c.id == account)
        with self._engine.connect() as connection:
            row = connection.execute(query).one()
        funded_total, returned_total = int(row.funded), int(row.returned)
        clawed = int(row.credits_posted) - funded_total
        paid = int(row.debits_posted) - returned_total
        remaining = int(row.credits_posted) - int(row.debits_posted) - int(row.debits_pending)
        unfunded = max(0, campaign.planned - funded_total) if campaign.state is State.DRAFT else 0
        return BudgetState(
            budget=funded_total - returned_total + unfunded,
            spent=paid - clawed,
            reserved=int(row.debits_pending),
            remaining=remaining + unfunded,
            funded=funded_total,
            returned=returned_total,
            clawed_back=clawed,
        )

    def _returns_done(self, campaign: Campaign) -> list[str]:
        ids = [_return_id(campaign.id, i) for i in range(RETURNS_MAX)]
        with self._engine.connect() as connection:
            return list(connection.execute(select(transfers.c.id).where(transfers.c.id.in_(ids))).scalars())


def _return_id(campaign_id: str, index: int) -> str:
    return f"{campaign_id}.ret.{index}"
