"""Money-moving actions an operator may propose and another must approve (maker-checker).

Each kind says which fields its form asks for, how to check them when proposed (``prepare``: nothing
moves, the inputs become stored parameters), and how to carry it out once approved (``execute``,
through the payments services, with a movement id derived from the proposal so that it moves the
money once however often it runs; or ``None`` for an action that moves money without a movement of
its own, such as a campaign's funding, a ledger transfer keyed by the same id). Other packages add
kinds with :func:`register`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sika.bootstrap import Container
from sika.console.i18n import N_
from sika.errors import SikaError
from sika.payments import Kind, Movement, Status
from sika.payments.movements import Code, Leg, Role
from sika.promotions.errors import CampaignStateError
from sika.promotions.model import Campaign
from sika.promotions.model import Status as CampaignStatus

__all__ = ["ActionKind", "Field", "Prepared", "kind", "kinds", "register"]

AMOUNT_MAX = 100_000_000


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str  # a msgid, translated on the page
    kind: str = "text"  # "text", "amount", "msisdn", "int"
    required: bool = True


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a proposal stores: the checked parameters, the amount, and whom it concerns."""

    params: dict[str, Any]
    amount: int
    target: str


@dataclass(frozen=True, slots=True)
class ActionKind:
    name: str
    title: str  # a msgid
    fields: tuple[Field, ...]
    prepare: Callable[[Container, Mapping[str, str]], Prepared]
    execute: Callable[[Container, str, Mapping[str, Any]], Movement | None]


_KINDS: dict[str, ActionKind] = {}


def register(action: ActionKind) -> None:
    assert action.name not in _KINDS, f"action kind {action.name} registered twice"
    assert len(action.name) <= 32
    _KINDS[action.name] = action


def kind(name: str) -> ActionKind:
    found = _KINDS.get(name)
    if found is None:
        raise SikaError(f"no action kind {name!r}", code="unknown_action")
    return found


def kinds() -> list[ActionKind]:
    return list(_KINDS.values())


def amount_of(value: str | None, *, required: bool = True) -> int | None:
    text = (value or "").replace(" ", "").replace("\u202f", "").replace(",", "")
    if not text and not required:
        return None
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= AMOUNT_MAX:  # "²" is a digit
        raise SikaError(f"an amount is a whole number of francs, 1 to {AMOUNT_MAX}", code="invalid_amount")
    return int(text)


def _required(inputs: Mapping[str, str], name: str) -> str:
    value = (inputs.get(name) or "").strip()
    if not value:
        raise SikaError(f"{name} is required", code="validation_error")
    return value


# Wallet corrections ------------------------------------------------------------------------------


def _prepare_wallet(container: Container, inputs: Mapping[str, str]) -> Prepared:
    customer = container.customers.get(_required(inputs, "msisdn"))
    amount = amount_of(inputs.get("amount"))
    assert amount is not None
    return Prepared(params={"msisdn": customer.msisdn, "amount": amount}, amount=amount,
                    target=f"{customer.msisdn} {customer.name}")


def _credit_wallet(container: Container, movement_id: str, params: Mapping[str, Any]) -> Movement:
    movements = container.movements
    customer = container.customers.get(params["msisdn"])
    amount = int(params["amount"])
    movements.limits.check_transaction(customer, amount)
    assert customer.account_id is not None
    legs = [Leg(f"{movement_id}.0", movements.accounts.id("manual_adjustments"), customer.account_id, amount,
                Code.ADJUSTMENT, Role.PLATFORM), movements.limits.meter_leg(movement_id, customer, amount)]
    return movements.run(movement_id, legs, kind=Kind.ADJUSTMENT, amount=amount,
                        payee_customer_id=customer.id, counterparty="Sika",
                         details={"proposal": params.get("proposal"), "direction": "credit"})


def _debit_wallet(container: Container, movement_id: str, params: Mapping[str, Any]) -> Movement:
    movements = container.movements
    customer = container.customers.get(params["msisdn"])
    amount = int(params["amount"])
    assert customer.account_id is not None
    legs = [Leg(f"{movement_id}.0", customer.account_id, movements.accounts.id("manual_adjustments"), amount,
                Code.ADJUSTMENT, Role.PAYER)]
    return movements.run(movement_id, legs, kind=Kind.ADJUSTMENT, amount=amount,
                         payer_customer_id=customer.id, counterparty="Sika",
                         details={"proposal": params.get("proposal"), "direction": "debit"})


# Agents and merchants ------------------------------------------------------------------------------


def _prepare_float(container: Container, inputs: Mapping[str, str]) -> Prepared:
    raw = _required(inputs, "agent_id")
    if not raw.isdigit():
        raise SikaError("an agent is named by its number", code="validation_error")
    agent = container.agents.get(int(raw))
    amount = amount_of(inputs.get("amount"))
    assert amount is not None
    return Prepared(params={"agent_id": agent.id, "amount": amount}, amount=amount,
                    target=f"#{agent.id} {agent.name}")


def _credit_float(container: Container, movement_id: str, params: Mapping[str, Any]) -> Movement:
    agent = container.agents.get(int(params["agent_id"]))
    return container.payments.credit_float(movement_id, agent, int(params["amount"]))


def _prepare_refund(container: Container, inputs: Mapping[str, str]) -> Prepared:
    payment = container.payments.get(_required(inputs, "payment_id")[:40])
    if payment.kind is not Kind.MERCHANT_PAYMENT or payment.merchant_id is None:
        raise SikaError("only a merchant payment can be refunded here", code="not_refundable")
    if payment.status is not Status.COMPLETED:
        raise SikaError(f"payment {payment.id} is {payment.status}: nothing to refund", code="not_refundable")
    amount = amount_of(inputs.get("amount"), required=False) or payment.amount
    if amount > payment.amount:
        raise SikaError("a refund is at most the payment's amount", code="invalid_amount")
    merchant = container.merchants.get(payment.merchant_id)
    return Prepared(params={"payment_id": payment.id, "amount": amount}, amount=amount,
                    target=f"{payment.id} {merchant.name}")


def _refund(container: Container, movement_id: str, params: Mapping[str, Any]) -> Movement:
    payment = container.payments.get(params["payment_id"])
    assert payment.merchant_id is not None
    merchant = container.merchants.get(payment.merchant_id)
    return container.payments.merchant_refund(movement_id, merchant, payment.id, int(params["amount"]))


# Campaigns ---------------------------------------------------------------------------------------


def _prepare_fund(container: Container, inputs: Mapping[str, str]) -> Prepared:
    campaign = _open_campaign(container, _required(inputs, "campaign_id")[:16])
    amount = amount_of(inputs.get("amount"))
    assert amount is not None
    return Prepared(params={"campaign_id": campaign.id, "amount": amount}, amount=amount,
                    target=f"{campaign.id} {campaign.name}")


def _fund_campaign(container: Container, movement_id: str, params: Mapping[str, Any]) -> None:
    _open_campaign(container, str(params["campaign_id"]))  # approved after its end: refused then too
    # Keyed by the proposal's movement id: an approval run twice funds once.
    container.promotions.campaigns.fund(str(params["campaign_id"]), int(params["amount"]), key=movement_id)


def _open_campaign(container: Container, campaign_id: str) -> Campaign:
    """The campaign, unless it has ended: by an operator, or its end has passed (live, paused or a
    draft: such a campaign rewards nothing more and cannot start, and money put in would sit there)."""
    view = container.promotions.campaigns.view(campaign_id)
    ends = view.campaign.ends_at_ns
    if view.status is CampaignStatus.ENDED or (ends is not None and ends <= time.time_ns()):
        raise CampaignStateError("this campaign has ended: its budget takes no more money")
    return view.campaign


_AMOUNT = Field("amount", N_("Amount (F CFA)"), "amount")
_WALLET = Field("msisdn", N_("Wallet number"), "msisdn")
register(ActionKind("wallet_credit", N_("Credit a wallet"),
                    (_WALLET, _AMOUNT), _prepare_wallet, _credit_wallet))
register(ActionKind("wallet_reversal", N_("Take back a wrong credit"),
                    (_WALLET, _AMOUNT), _prepare_wallet, _debit_wallet))
register(ActionKind("agent_float", N_("Credit an agent's float"),
                    (Field("agent_id", N_("Agent number"), "int"), _AMOUNT), _prepare_float, _credit_float))
register(ActionKind("merchant_refund", N_("Refund a merchant payment"),
                    (Field("payment_id", N_("Payment reference")),
                     Field("amount", N_("Amount (F CFA), empty for all of it"), "amount", required=False)),
                    _prepare_refund, _refund))
register(ActionKind("campaign_fund", N_("Fund a campaign's budget (from its sponsor)"),
                    (Field("campaign_id", N_("Campaign")), _AMOUNT), _prepare_fund, _fund_campaign))
