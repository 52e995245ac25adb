"""A fake Africa's Talking Airtime: ``POST /version1/airtime/send`` (form: ``username``,
``recipients``; headers ``apiKey``, ``Idempotency-Key``), ``GET /query/transaction/find``,
``GET /version1/user``, and status notifications (form: ``requestId``, ``status``, ``phoneNumber``,
``description``, ``discount``, ``value``) POSTed to the status callback URL registered on the
dashboard (``callback_url``, with its ``?token=``).

An accepted send is answered ``Sent``; the operator's word comes later by notification. With
:meth:`Behaviour.at_once` the fake answers ``Success`` in the reply itself (a fast operator) so that
tests need no notification. A repeated ``Idempotency-Key`` gets the first answer again (Africa's
Talking documents that it ignores the duplicate; what it answers is not public). Magic numbers:
``+2289000000N`` (see :mod:`sika_fakes.behaviour`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sika_fakes._fate import Fate, fate_for
from sika_fakes._server import Deliver, FakeServer, Handler, Request, Response
from sika_fakes.behaviour import Behaviour, significant_digits

__all__ = ["FakeAfricasTalking"]

_DISCOUNT_BP = 300  # what Africa's Talking keeps, in basis points of the value


@dataclass
class _Airtime:
    request_id: str
    phone: str
    amount: int
    currency: str
    status: str = "Sent"
    answer: dict[str, Any] = field(default_factory=dict)


class FakeAfricasTalking(FakeServer):
    name = "africastalking"

    def __init__(self, behaviour: Behaviour | None = None, *, username: str = "sandbox",
                 api_key: str = "fake-africastalking-key", callback_url: str | None = None,
                 deliver: Deliver | None = None, port: int = 0, balance: int = 5_000_000,
                 currency: str = "XOF") -> None:
        super().__init__(behaviour, port=port)
        self.username = username
        self.api_key = api_key
        self.callback_url = callback_url
        self.deliver = deliver
        self.currency = currency
        self.balance = balance
        self.sent: dict[str, _Airtime] = {}
        self._by_key: dict[str, dict[str, Any]] = {}
        self._lost: set[str] = set()
        self._serial = itertools.count(1)

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("POST", "/version1/airtime/send"): self._send,
                ("GET", "/query/transaction/find"): self._find, ("GET", "/version1/user"): self._user}

    def _send(self, request: Request) -> Response:
        if request.headers.get("apikey") != self.api_key:
            return 401, {"errorMessage": "The supplied authentication is invalid"}
        fields = request.form()
        if fields.get("username") != self.username:
            return 401, {"errorMessage": "The supplied authentication is invalid"}
        try:
            recipients = json.loads(fields.get("recipients", ""))
        except ValueError:
            recipients = None
        if not isinstance(recipients, list) or len(recipients) != 1 or not isinstance(recipients[0], dict):
            return 400, {"errorMessage": "Invalid recipients", "numSent": 0, "responses": []}
        key = request.headers.get("idempotency-key", "")
        with self.lock:
            if key and key in self._by_key:
                return 201, self._by_key[key]
        return self._send_one(recipients[0], key)

    def _send_one(self, recipient: dict[str, Any], key: str) -> Response:
        phone = str(recipient.get("phoneNumber", ""))
        currency, _, number = str(recipient.get("amount", "")).partition(" ")
        if currency != self.currency or not number.isdigit() or not phone.startswith("+"):
            refused = {"phoneNumber": phone, "errorMessage": "Invalid amount or phone number",
                       "status": "Failed", "requestId": "None", "amount": "0", "discount": "0"}
            return 201, {"errorMessage": "None", "numSent": 0, "totalAmount": "0", "totalDiscount": "0",
                         "responses": [refused]}
        fate = fate_for(self, significant_digits(phone))
        with self.lock:
            if fate.lost_once and key not in self._lost:
                self._lost.add(key)
                return 503, {"errorMessage": "Service Unavailable"}
            airtime = _Airtime(f"ATQid_{next(self._serial):08d}{abs(hash(key)) % 10**6:06d}", phone,
                               int(number), currency)
            self.sent[airtime.request_id] = airtime
            final_now = self.behaviour.instant and not fate.answers_pending
            if final_now or not fate.succeeds:
                airtime.status = "Success" if fate.succeeds else "Failed"
            if fate.succeeds:
                self.balance -= airtime.amount
            answer = self._answer(airtime, fate)
            if key:
                self._by_key[key] = answer
        if airtime.status == "Sent" and fate.settles:
            delay_s = 0.0 if self.behaviour.instant else self.callback_delay_s()
            self.deliveries.schedule(delay_s, lambda: self._settle(airtime.request_id, fate))
        if fate.slow:
            self.pause(self.behaviour.slow_answer_s)
        return 201, answer

    def _answer(self, airtime: _Airtime, fate: Fate) -> dict[str, Any]:
        value = f"{airtime.currency} {airtime.amount}.0000"
        discount = f"{airtime.currency} {airtime.amount * _DISCOUNT_BP // 10_000}.0000"
        error = "None" if fate.succeeds else "Insufficient credit on the operator's side"
        return {"errorMessage": "None", "numSent": 1 if fate.succeeds else 0, "totalAmount": value,
                "totalDiscount": discount,
                "responses": [{"phoneNumber": airtime.phone, "errorMessage": error, "amount": value,
                               "status": airtime.status, "requestId": airtime.request_id,
                               "discount": discount}]}

    def _settle(self, request_id: str, fate: Fate) -> None:
        with self.lock:
            airtime = self.sent[request_id]
            if airtime.status != "Sent":
                return
            airtime.status = "Success" if fate.succeeds else "Failed"
            fields = {"requestId": request_id, "status": airtime.status, "phoneNumber": airtime.phone,
                      "description": "Airtime Delivered Successfully" if fate.succeeds else "Failed",
                      "discount": f"{airtime.currency} {airtime.amount * _DISCOUNT_BP // 10_000}.0000",
                      "value": f"{airtime.currency} {airtime.amount}.0000"}
        if self.callback_url is None:
            return
        delay_s = self.behaviour.late_callback_s if fate.late else 0.0
        for _ in range(fate.callbacks):
            self.deliveries.schedule(delay_s, self._sender(fields))

    def notification(self, request_id: str) -> dict[str, str]:
        """The form fields the fake sends (or would) about ``request_id`` (for tests)."""
        with self.lock:
            airtime = self.sent[request_id]
            return {"requestId": request_id, "status": airtime.status, "phoneNumber": airtime.phone,
                    "description": "", "discount": "", "value": f"{airtime.currency} {airtime.amount}.0000"}

    def _sender(self, fields: dict[str, str]) -> Callable[[], None]:
        body = urlencode(fields).encode()
        assert self.callback_url is not None
        url = self.callback_url
        return lambda: self._post(url, body)

    def _post(self, url: str, body: bytes) -> None:
        self.deliveries.post(url, body, {"Content-Type": "application/x-www-form-urlencoded"}, self.deliver)

    def _find(self, request: Request) -> Response:
        if request.headers.get("apikey") != self.api_key or request.query.get("username") != self.username:
            return 401, {"status": "Failed", "errorMessage": "The supplied authentication is invalid"}
        with self.lock:
            airtime = self.sent.get(request.query.get("transactionId", ""))
            if airtime is None:
                return 200, {"status": "Failed", "errorMessage": "Transaction not found"}
            return 200, {"status": "Success", "data": {
                "requestId": airtime.request_id, "status": airtime.status, "destination": airtime.phone,
                "value": f"{airtime.currency} {airtime.amount}.0000", "productName": "Airtime"}}

    def _user(self, request: Request) -> Response:
        if request.headers.get("apikey") != self.api_key or request.query.get("username") != self.username:
            return 401, {"errorMessage": "The supplied authentication is invalid"}
        with self.lock:
            return 200, {"UserData": {"balance": f"{self.currency} {self.balance}.00"}}
