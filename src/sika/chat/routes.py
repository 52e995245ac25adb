"""The outbox's routes, wired from the settings: WhatsApp for people on it, SMS, the in-app inbox.

- **WhatsApp** when it is configured for sending and the person is on it: they have written to us
  there (a template reaches them outside the 24-hour window).
- **SMS** (Africa's Talking) when it is configured (``SIKA_AFRICASTALKING_USERNAME`` and
  ``SIKA_AFRICASTALKING_API_KEY``): any mobile number. Secrets (codes) go by SMS first.
- **The in-app inbox** for wallet holders only: read from ``GET /v1/wallets/{msisdn}/notifications``.

A number none of them reaches gets nothing: the message fails at once and its fallback is sent (a
voucher's code goes to its sender, to pass on). A plain server, without WhatsApp or SMS, never
pretends a message reached someone without a wallet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from sika import phones
from sika.chat.sms.africastalking import AfricasTalkingSms
from sika.chat.sms.channel import SmsChannel
from sika.chat.whatsapp import WhatsApp
from sika.chat.whatsapp.windows import last_inbound_ns, last_inbounds_ns
from sika.config import Settings
from sika.errors import SikaError
from sika.payments import Outbox, Payments
from sika.payments.channels import InboxChannel, Route, Router
from sika.wallet import Customers

__all__ = ["outbox_router", "sms_channel"]


def sms_channel(settings: Settings, engine: Engine, text: Callable[[str, dict[str, Any], str], str], *,
                outbox: Outbox, payments: Payments) -> SmsChannel | None:
    """The SMS channel when Africa's Talking is configured, else None (no SMS at all).

    A voucher's code whose SMS the network reports undelivered is replaced by a new code, which goes
    to the sender to pass on (the old one reached nobody).
    """
    if not (settings.africastalking_username and settings.africastalking_api_key):
        return None
    gateway = AfricasTalkingSms(settings.africastalking_url, settings.africastalking_username,
                                settings.africastalking_api_key, sender_id=settings.sms_sender_id)

    def undelivered(outbox_id: int) -> None:
        message = outbox.get(outbox_id)
        if message is not None and message.kind == "voucher_received" and message.params.get("id"):
            payments.reissue_voucher_code(str(message.params["id"]))

    return SmsChannel(engine, gateway, text, undelivered=undelivered)


def outbox_router(engine: Engine, customers: Customers, *, whatsapp: WhatsApp | None,
                  sms: SmsChannel | None) -> Router:
    routes = []
    if whatsapp is not None and whatsapp.graph is not None:
        routes.append(Route("whatsapp", whatsapp,
                            reaches=lambda msisdn: last_inbound_ns(engine, msisdn) is not None,
                            reaches_many=lambda numbers: last_inbounds_ns(engine, numbers).keys()))
    if sms is not None:
        routes.append(Route("sms", sms, reaches=_mobile))
    routes.append(Route("inbox", InboxChannel(), reaches=lambda msisdn: customers.find(msisdn) is not None,
                        reaches_many=lambda numbers: customers.find_written(numbers).keys(),
                        carries_secrets=False, for_owner=True))
    return Router(routes)


def _mobile(msisdn: str) -> bool:
    try:
        return phones.normalize(msisdn) == msisdn
    except SikaError:
        return False
