"""Money movement: agents and merchants, fees, movements over the ledger, vouchers, the outbox."""

from sika.payments.agents import Agent, Agents, Merchant, Merchants, UnknownAgent, UnknownMerchant
from sika.payments.fees import DEFAULT_FEES, FeeBand, FeeSchedule, Operation
from sika.payments.movements import (
    Kind,
    Movement,
    MovementConflict,
    PaymentRefused,
    Status,
    UnknownMovement,
    movement_id,
    new_movement_id,
)
from sika.payments.outbox import Channel, InboxChannel, Message, Outbox
from sika.payments.service import Payments, TransferQuote
from sika.payments.settlement import Movements
from sika.payments.vouchers import VoucherRefused

__all__ = [
    "DEFAULT_FEES",
    "Agent",
    "Agents",
    "Channel",
    "FeeBand",
    "FeeSchedule",
    "InboxChannel",
    "Kind",
    "Merchant",
    "Merchants",
    "Message",
    "Movement",
    "MovementConflict",
    "Movements",
    "Operation",
    "Outbox",
    "PaymentRefused",
    "Payments",
    "Status",
    "TransferQuote",
    "UnknownAgent",
    "UnknownMerchant",
    "UnknownMovement",
    "VoucherRefused",
    "movement_id",
    "new_movement_id",
]
