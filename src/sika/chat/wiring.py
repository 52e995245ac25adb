"""The chat's ports (:class:`~sika.chat.services.ChatServices`) built from Sika's services, once, by
:func:`sika.bootstrap.bootstrap`.

The services satisfy the ports as they are; the few things flows need that are not a service's
method (a rider's past places, which channel reaches a number, where conversations are kept) get a
small adapter here, so that no flow holds a database engine or the outbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from sika.chat import abroad
from sika.chat.services import (
    AccountPort,
    ApprovalPort,
    ChatServices,
    CustomerPort,
    NoticePort,
    PaymentPort,
    PromotionPort,
    PurchasePort,
    RidePort,
    StatementPort,
)
from sika.chat.state import Conversations
from sika.payments.outbox import Outbox
from sika.rides.places import Place, last_city, recent

__all__ = ["chat_services"]


def chat_services(engine: Engine, *, customers: CustomerPort, accounts: AccountPort, payments: PaymentPort,
                  purchases: PurchasePort, approvals: ApprovalPort, statements: StatementPort,
                  rides: RidePort, promotions: PromotionPort, notices: NoticePort,
                  outbox: Outbox, voucher_ttl_s: int,
                  clock_ns: Callable[[], int] = time.time_ns) -> ChatServices:
    def code_route(msisdn: str) -> str | None:
        # Read when asked: the outbox's routes are wired after the chat (WhatsApp needs the dialog).
        route = outbox.channel.route(msisdn, "voucher_received", secret=True)
        return route.name if route is not None else None

    return ChatServices(
        customers=customers, accounts=accounts, payments=payments, purchases=purchases,
        approvals=approvals, statements=statements, rides=rides, places=_RiderPlaces(engine),
        promotions=promotions, notices=notices,
        code_route=code_route, voucher_ttl_s=voucher_ttl_s,
        conversations=Conversations(engine, clock_ns=clock_ns),
        answered_abroad=abroad.remembered(engine, clock_ns))


class _RiderPlaces:
    """:class:`~sika.chat.services.PlacePort` over the trips table (:mod:`sika.rides.places`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def last_city(self, customer_id: int) -> str | None:
        return last_city(self._engine, customer_id)

    def recent(self, customer_id: int, places: Sequence[Place], limit: int) -> list[Place]:
        return recent(self._engine, customer_id, places, limit)
