"""A fake biller aggregator speaking Sika's biller protocol (docs/wallet.md, "The biller aggregator
protocol"): ``GET /v1/catalogue``, ``POST /v1/quotes``, ``POST /v1/payments`` (idempotent on
``order_id``), ``GET /v1/payments/<order_id>``, ``GET /v1/balance``, and callbacks signed with
``X-Biller-Timestamp`` and ``X-Biller-Signature: sha256=<HMAC of "timestamp.body">``.

Most payments succeed at once, as billers that issue a token or credit an account do; magic
references (see :mod:`sika_fakes.behaviour`) answer pending, call back twice or late, never answer,
answer slowly or are lost once. What each biller sells is in :mod:`sika_fakes._billers`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sika_fakes._billers import BILLERS, Refusal, catalogue, fulfil, quote
from sika_fakes._fate import Fate, fate_for
from sika_fakes._server import Deliver, FakeServer, Handler, Request, Response
from sika_fakes.behaviour import Behaviour, significant_digits

__all__ = ["FakeBiller", "sign"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass
class _Payment:
    order_id: str
    biller: str
    product: str
    reference: str
    amount: int
    callback_url: str | None
    details: dict[str, str]
    status: str = "pending"
    provider_reference: str = ""
    receipt: dict[str, str] = field(default_factory=dict)
    error: dict[str, str] | None = None

    def public(self) -> dict[str, Any]:
        body: dict[str, Any] = {"order_id": self.order_id, "status": self.status, "amount": self.amount,
                                "currency": "XOF", "provider_reference": self.provider_reference,
                                "receipt": self.receipt}
        if self.error is not None:
            body["error"] = self.error
        return body


class FakeBiller(FakeServer):
    name = "biller"

    def __init__(self, behaviour: Behaviour | None = None, *, api_key: str = "fake-biller-key",
                 secret: str = "fake-biller-secret-0123456789", deliver: Deliver | None = None,  # noqa: S107
                 port: int = 0, balance: int = 50_000_000) -> None:
        super().__init__(behaviour, port=port)
        self.api_key = api_key
        self.secret = secret
        self.deliver = deliver
        self.balance = balance
        self.payments: dict[str, _Payment] = {}
        self.paid_bills: set[tuple[str, str]] = set()
        self._lost: set[str] = set()

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("GET", "/v1/catalogue"): self._guard(lambda _: (200, {"billers": catalogue()})),
                ("POST", "/v1/quotes"): self._guard(self._quote),
                ("POST", "/v1/payments"): self._guard(self._pay),
                ("GET", "/v1/payments/"): self._guard(self._status),
                ("GET", "/v1/balance"): self._guard(self._balance)}

    def _balance(self, _request: Request) -> Response:
        with self.lock:
            return 200, {"balance": self.balance, "currency": "XOF"}

    def _guard(self, handler: Handler) -> Handler:
        def checked(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return 401, {"error": {"code": "unauthorized", "message": "bad API key"}}
            return handler(request)
        return checked

    def _quote(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return 400, {"error": {"code": "bad_request", "message": "a JSON object"}}
        amount = body.get("amount")
        try:
            with self.lock:
                paid, description, details = quote(
                    str(body.get("biller")), str(body.get("product")), str(body.get("reference")),
                    amount if isinstance(amount, int) else None, self.paid_bills)
        except Refusal as refusal:
            return 422, {"error": {"code": refusal.code, "message": refusal.message}}
        return 200, {"amount": paid, "description": description, "details": details}

    def _pay(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("amount"), int) \
                or str(body.get("biller")) not in BILLERS or not str(body.get("order_id", "")):
            return 400, {"error": {"code": "bad_request",
                                   "message": "order_id, biller, product, reference, amount"}}
        order_id, biller = str(body["order_id"]), str(body["biller"])
        reference, product, amount = str(body.get("reference")), str(body.get("product")), int(body["amount"])
        with self.lock:
            existing = self.payments.get(order_id)
            if existing is not None:
                same = (existing.biller, existing.product, existing.reference, existing.amount) == (
                    biller, product, reference, amount)
                return (200, existing.public()) if same else (409, {"error": {"code": "order_conflict",
                                                                              "message": "other details"}})
        fate = fate_for(self, significant_digits(reference, check_digit=biller == "ceet"))
        return self._register(order_id, biller, product, reference, amount=amount,
                              callback_url=body.get("callback_url"), fate=fate)

    def _register(self, order_id: str, biller: str, product: str, reference: str, *, amount: int,
                  callback_url: object, fate: Fate) -> Response:
        with self.lock:
            if fate.lost_once and order_id not in self._lost:
                self._lost.add(order_id)
                return 503, {"error": {"code": "unavailable", "message": "try again"}}
            try:
                _, _, details = quote(biller, product, reference, amount, self.paid_bills)
            except Refusal as refusal:
                return 422, {"error": {"code": refusal.code, "message": refusal.message}}
            payment = _Payment(order_id, biller, product, reference, amount,
                               str(callback_url) if isinstance(callback_url, str) else None, details,
                               provider_reference=f"BA-{abs(hash(order_id)) % 10**10:010d}")
            self.payments[order_id] = payment
            if not fate.answers_pending:
                self._finish(payment, fate)
            answer = payment.public()
        if fate.answers_pending and fate.settles:
            delay_s = 0.0 if self.behaviour.instant else self.callback_delay_s()
            self.deliveries.schedule(delay_s, lambda: self._settle(order_id, fate))
        if fate.slow:
            self.pause(self.behaviour.slow_answer_s)
        return 201, answer

    def _finish(self, payment: _Payment, fate: Fate) -> None:
        if fate.succeeds:
            payment.status = "succeeded"
            payment.receipt = fulfil(payment.biller, payment.order_id, payment.product, payment.reference,
                                     amount=payment.amount, details=payment.details)
            self.balance -= payment.amount
            if payment.biller == "tde":
                self.paid_bills.add((payment.reference, payment.details["period"]))
        else:
            payment.status = "failed"
            payment.error = {"code": "declined", "message": f"{payment.biller} declined the payment"}

    def _settle(self, order_id: str, fate: Fate) -> None:
        with self.lock:
            payment = self.payments[order_id]
            if payment.status != "pending":
                return
            self._finish(payment, fate)
            public, url = payment.public(), payment.callback_url
        if url is None:
            return
        delay_s = self.behaviour.late_callback_s if fate.late else 0.0
        for _ in range(fate.callbacks):
            self.deliveries.schedule(delay_s, self._sender(url, public))

    def signed(self, body: dict[str, Any], *, timestamp: str | None = None) -> tuple[dict[str, str], bytes]:
        """The headers and bytes of a callback carrying ``body`` (for tests, too)."""
        raw = json.dumps(body).encode()
        stamp = timestamp if timestamp is not None else str(int(time.time()))
        return {"Content-Type": "application/json", "X-Biller-Timestamp": stamp,
                "X-Biller-Signature": sign(self.secret, stamp, raw)}, raw

    def _sender(self, url: str, public: dict[str, Any]) -> Callable[[], None]:
        def send() -> None:
            headers, raw = self.signed(public)  # signed when sent: a late callback is still fresh
            self.deliveries.post(url, raw, headers, self.deliver)
        return send

    def _status(self, request: Request) -> Response:
        with self.lock:
            payment = self.payments.get(unquote(request.path.removeprefix("/v1/payments/")))
            if payment is None:
                return 404, {"error": {"code": "unknown_order", "message": "no such order"}}
            return 200, payment.public()
