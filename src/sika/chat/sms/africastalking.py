"""Africa's Talking's SMS API, as published (docs.africastalking.com/sms/sending and
docs.africastalking.com/sms/deliveryreports):

- sending: ``POST {SIKA_AFRICASTALKING_URL}/version1/messaging`` with the ``apiKey`` header,
  ``Accept: application/json`` and a form body ``username``, ``to`` (comma-separated E.164 numbers),
  ``message`` and optionally ``from`` (a registered sender id or short code). The answer (201) is
  ``{"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: …", "Recipients": [{"statusCode": 101,
  "number": "+228…", "status": "Success", "cost": "XOF 20.0000", "messageId": "ATXid_…"}]}}``.
  Recipient status codes: 100 Processed, 101 Sent, 102 Queued (accepted); 401 RiskHold,
  402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType, 405 InsufficientBalance,
  406 UserInBlacklist, 407 CouldNotRoute, 409 DoNotDisturbRejection, 500 InternalServerError,
  501 GatewayError, 502 RejectedByGateway.
- delivery reports: Africa's Talking POSTs a form to the callback URL set in its dashboard, with
  ``id`` (the messageId), ``status`` (Sent, Submitted, Buffered, Rejected, Success, Failed),
  ``phoneNumber``, ``networkCode``, ``failureReason`` (for Rejected and Failed) and ``retryCount``.
  Those callbacks are not signed: :mod:`sika.api.gateway_auth` decides who may post them.

Sika sends one message per request (one recipient), so a refusal names one person.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sika.chat.whatsapp.graph import KeepAliveTransport, Transport
from sika.errors import SikaError

__all__ = ["ACCEPTED", "PERMANENT", "AfricasTalkingSms", "SentSms", "SmsRejected", "SmsUnavailable"]

log = logging.getLogger(__name__)

ACCEPTED = frozenset({100, 101, 102})
# The number itself cannot be reached by SMS: retrying changes nothing.
PERMANENT = frozenset({403, 404, 406, 407, 409})
MESSAGE_CHARS_MAX = 1_600
ID_CHARS_MAX = 100


class SmsUnavailable(SikaError):
    """The gateway did not take the message (down, out of credit, refused our credentials): retry."""

    code = "sms_unavailable"


class SmsRejected(SikaError):
    """The gateway will never deliver to this number (invalid, blacklisted, do-not-disturb, …)."""

    code = "sms_rejected"


@dataclass(frozen=True, slots=True)
class SentSms:
    message_id: str
    status_code: int
    status: str
    cost: str


class AfricasTalkingSms:
    def __init__(self, api_url: str, username: str, api_key: str, *, sender_id: str | None = None,
                 timeout_s: float = 10.0, transport: Transport | None = None) -> None:
        assert username and api_key and 0 < timeout_s <= 120
        self.url = f"{api_url.rstrip('/')}/version1/messaging"
        self._username = username
        self._sender_id = sender_id
        self._headers = {"apiKey": api_key, "Accept": "application/json",
                         "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "sika-sms"}
        self._timeout_s = timeout_s
        self._transport = transport or KeepAliveTransport()

    def send(self, to: str, message: str) -> SentSms:
        """Hand one message to the gateway; raises :class:`SmsRejected` or :class:`SmsUnavailable`."""
        assert to.startswith("+") and 0 < len(message) <= MESSAGE_CHARS_MAX, (to, len(message))
        form = {"username": self._username, "to": to, "message": message}
        if self._sender_id:
            form["from"] = self._sender_id
        try:
            status, body = self._transport.post(self.url, urlencode(form).encode(), self._headers,
                                                self._timeout_s)
        except OSError as exc:
            raise SmsUnavailable(f"the SMS gateway cannot be reached: {exc}") from exc
        if status not in (200, 201):
            raise SmsUnavailable(f"the SMS gateway answered {status}: {body[:200]!r}")
        recipient = _recipient(body)
        code = int(recipient.get("statusCode", 0))
        text = str(recipient.get("status", ""))[:40]
        if code in ACCEPTED:
            message_id = str(recipient.get("messageId", ""))[:ID_CHARS_MAX]
            if not message_id or message_id == "None":
                raise SmsUnavailable("the SMS gateway accepted the message without an id")
            return SentSms(message_id, code, text, str(recipient.get("cost", ""))[:40])
        if code in PERMANENT:
            raise SmsRejected(f"the SMS gateway refused {to}: {code} {text}")
        raise SmsUnavailable(f"the SMS gateway did not send: {code} {text}")

    def close(self) -> None:
        self._transport.close()


def _recipient(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
        recipients = data["SMSMessageData"]["Recipients"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SmsUnavailable(f"the SMS gateway's answer is not understood: {body[:200]!r}") from exc
    if not isinstance(recipients, list) or len(recipients) != 1 or not isinstance(recipients[0], dict):
        # Nobody: the gateway names why in "Message" (a number it refuses, or our sender id).
        message = str(data["SMSMessageData"].get("Message", ""))[:200]
        if "InvalidPhoneNumber" in message:
            raise SmsRejected(f"the SMS gateway refused the number: {message}")
        raise SmsUnavailable(f"the SMS gateway sent to nobody: {message}")
    return recipients[0]
