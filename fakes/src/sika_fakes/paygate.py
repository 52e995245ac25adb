"""A fake PayGate Global speaking its wire format: ``/api/v1/pay``, ``/api/v1/status``,
``/api/v2/status``, ``/api/v1/check-balance``, ``/api/v1/disburse`` and unsigned JSON callbacks to the
URL "registered in the merchant account" (``callback_url``).

A payment is registered at once (status 0 in the answer, 2 "in progress" in its status) and settles
after the behaviour's callback delay, as a customer confirming on the phone would: status 0 and a
callback, or 6 (cancelled) or 4 (expired) without one. Magic numbers: ``+2289000000N`` (see
:mod:`sika_fakes.behaviour`). Payouts leave the fake's balance at once (status 200); ``+2289000000 1``
is refused (status 4), ``…4`` pays but answers after ``slow_answer_s``, ``…6`` is answered 503 once. A
repeated payout ``reference`` pays again unless ``reference_idempotent`` (PayGate does not say).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sika_fakes._fate import Fate, fate_for
from sika_fakes._server import Deliver, FakeServer, Handler, Request, Response
from sika_fakes.behaviour import Behaviour, Magic, magic_of, significant_digits

__all__ = ["FakePayGate"]

_NETWORKS = ("FLOOZ", "TMONEY")
_REGISTERED, _BAD_TOKEN, _BAD_PARAMETERS, _DUPLICATE = 0, 2, 4, 6
_SUCCEEDED, _IN_PROGRESS, _EXPIRED, _CANCELLED = 0, 2, 4, 6
_PAYOUT_SENT, _PAYOUT_INSUFFICIENT = 200, 9


@dataclass
class _Payment:
    identifier: str
    tx_reference: str
    amount: int
    network: str
    phone: str
    status: int = _IN_PROGRESS
    payment_reference: str | None = None
    datetime: str | None = None

    def public(self) -> dict[str, Any]:
        return {"tx_reference": self.tx_reference, "identifier": self.identifier,
                "payment_reference": self.payment_reference or "", "status": self.status,
                "amount": self.amount, "datetime": self.datetime or "", "phone_number": self.phone,
                "payment_method": "FLOOZ" if self.network == "FLOOZ" else "T-Money"}


class FakePayGate(FakeServer):
    name = "paygate"

    def __init__(self, behaviour: Behaviour | None = None, *, auth_token: str = "fake-paygate-token",  # noqa: S107
                 callback_url: str | None = None, deliver: Deliver | None = None, port: int = 0,
                 balance: int = 10_000_000, reference_idempotent: bool = False) -> None:
        super().__init__(behaviour, port=port)
        self.auth_token = auth_token
        self.callback_url = callback_url
        self.deliver = deliver
        self.reference_idempotent = reference_idempotent
        self.payments: dict[str, _Payment] = {}
        self.payouts: list[dict[str, Any]] = []
        self.balance = {"flooz": balance, "tmoney": balance}
        self._lost: set[str] = set()
        self._serial = itertools.count(4_000_000_001)

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("POST", "/api/v1/pay"): self._pay, ("POST", "/api/v1/status"): self._status_v1,
                ("POST", "/api/v2/status"): self._status_v2, ("POST", "/api/v1/check-balance"): self._balance,
                ("POST", "/api/v1/disburse"): self._disburse}

    # Collections ---------------------------------------------------------------------------------

    def _pay(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("auth_token") != self.auth_token:
            return 200, {"tx_reference": None, "status": _BAD_TOKEN}
        phone, amount = str(body.get("phone_number", "")), body.get("amount")
        identifier, network = body.get("identifier"), body.get("network")
        if not (len(phone) == 8 and phone.isdigit() and isinstance(amount, int) and amount > 0
                and isinstance(identifier, str) and 0 < len(identifier) <= 100 and network in _NETWORKS):
            return 200, {"tx_reference": None, "status": _BAD_PARAMETERS}
        fate = fate_for(self, "228" + phone)
        with self.lock:
            existing = self.payments.get(identifier)
            if existing is not None:
                return 200, {"tx_reference": existing.tx_reference, "status": _DUPLICATE}
            if fate.lost_once and identifier not in self._lost:
                self._lost.add(identifier)
                return 503, {"error": "Service Unavailable"}
            payment = _Payment(identifier, str(next(self._serial)), amount, str(network), phone)
            self.payments[identifier] = payment
        if fate.settles:
            delay_s = 0.0 if self.behaviour.instant else self.callback_delay_s()
            self.deliveries.schedule(delay_s, lambda: self._settle(identifier, fate))
        if fate.slow:
            self.pause(self.behaviour.slow_answer_s)
        return 200, {"tx_reference": payment.tx_reference, "status": _REGISTERED}

    def _settle(self, identifier: str, fate: Fate) -> None:
        with self.lock:
            payment = self.payments[identifier]
            if payment.status != _IN_PROGRESS:
                return
            if fate.succeeds:
                payment.status = _SUCCEEDED
                payment.payment_reference = f"{payment.network}.{payment.tx_reference[-6:]}"
                payment.datetime = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
                key = "flooz" if payment.network == "FLOOZ" else "tmoney"
                self.balance[key] += payment.amount
            else:
                payment.status = _CANCELLED if self.random.random() < 0.5 or magic_of(
                    significant_digits(payment.phone)) is Magic.DECLINED else _EXPIRED
            public = payment.public()
        # PayGate calls back for payments made, not for those that were not.
        if fate.succeeds and self.callback_url is not None:
            delay_s = self.behaviour.late_callback_s if fate.late else 0.0
            for _ in range(fate.callbacks):
                self.deliveries.schedule(delay_s, self._sender(public))

    def _sender(self, public: dict[str, Any]) -> Callable[[], None]:
        fields = {key: public[key] for key in ("tx_reference", "identifier", "payment_reference", "amount",
                                               "datetime", "payment_method", "phone_number")}
        body = json.dumps(fields).encode()
        assert self.callback_url is not None
        url = self.callback_url
        return lambda: self._post(url, body)

    def _post(self, url: str, body: bytes) -> None:
        self.deliveries.post(url, body, {"Content-Type": "application/json"}, self.deliver)

    def _status_v1(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("auth_token") != self.auth_token:
            return 401, {"error_code": 401, "error_message": "Invalid auth token"}
        with self.lock:
            wanted = body.get("tx_reference")
            return _found(next((p for p in self.payments.values() if p.tx_reference == wanted), None))

    def _status_v2(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("auth_token") != self.auth_token:
            return 401, {"error_code": 401, "error_message": "Invalid auth token"}
        with self.lock:
            return _found(self.payments.get(str(body.get("identifier"))))

    def _balance(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("auth_token") != self.auth_token:
            return 401, {"error_code": 401, "error_message": "Invalid auth token"}
        with self.lock:
            return 200, dict(self.balance)

    # Payouts -------------------------------------------------------------------------------------

    def _disburse(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("auth_token") != self.auth_token:
            return 200, {"tx_reference": None, "status": _BAD_TOKEN}
        phone, amount, network = str(body.get("phone_number", "")), body.get("amount"), body.get("network")
        reference = str(body.get("reference", ""))
        if not (len(phone) == 8 and phone.isdigit() and isinstance(amount, int) and amount > 0
                and network in _NETWORKS and str(body.get("reason", "")).strip()):
            return 200, {"tx_reference": None, "status": _BAD_PARAMETERS}
        fate = fate_for(self, "228" + phone)
        if not fate.succeeds:
            return 200, {"tx_reference": None, "status": _BAD_PARAMETERS}
        return self._pay_out(phone, amount, str(network), reference, fate)

    def _pay_out(self, phone: str, amount: int, network: str, reference: str, fate: Fate) -> Response:
        key = "flooz" if network == "FLOOZ" else "tmoney"
        with self.lock:
            if fate.lost_once and reference not in self._lost:
                self._lost.add(reference)
                return 503, {"error": "Service Unavailable"}
            done = next((p for p in self.payouts if p["reference"] == reference), None)
            if done is not None and self.reference_idempotent:
                return 200, {"tx_reference": done["tx_reference"], "status": _PAYOUT_SENT}
            if self.balance[key] < amount:
                return 200, {"tx_reference": None, "status": _PAYOUT_INSUFFICIENT}
            self.balance[key] -= amount
            tx_reference = str(next(self._serial))
            self.payouts.append({"reference": reference, "tx_reference": tx_reference, "amount": amount,
                                 "phone_number": phone, "network": network, "at": time.time()})
        if fate.slow:
            self.pause(self.behaviour.slow_answer_s)
        return 200, {"tx_reference": tx_reference, "status": _PAYOUT_SENT}


def _found(payment: _Payment | None) -> Response:
    if payment is None:
        return 200, {"error_code": 403, "error_message": "Transaction not found"}
    return 200, payment.public()
