"""A fake CinetPay speaking its checkout wire format: ``POST /v2/payment`` (initialisation),
``POST /v2/payment/check`` (verification), the hosted payment page, and form notifications signed
with the ``x-token`` HMAC (HMAC-SHA256 of the notification's fields concatenated in CinetPay's
documented order, keyed with the secret key).

The payment page (``GET /pay/<token>``) lets a person trying the demo pay or refuse; otherwise the
fake's customer pays by themself after the behaviour's callback delay. Magic card labels:
``tok_test_00000N`` (see :mod:`sika_fakes.behaviour`). Not documented by CinetPay, so chosen here: a
second initialisation of a known ``transaction_id`` is answered ``{"code": "624", "message":
"TRANSACTION_EXIST"}``; a check for an unknown one, HTTP 404 and ``TRANSACTION_NOT_FOUND``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sika_fakes._fate import Fate, fate_for
from sika_fakes._server import Deliver, FakeServer, Handler, Request, Response
from sika_fakes.behaviour import Behaviour, significant_digits

__all__ = ["NOTIFICATION_FIELDS", "FakeCinetPay", "x_token"]

NOTIFICATION_FIELDS = (
    "cpm_site_id", "cpm_trans_id", "cpm_trans_date", "cpm_amount", "cpm_currency", "signature",
    "payment_method", "cel_phone_num", "cpm_phone_prefixe", "cpm_language", "cpm_version",
    "cpm_payment_config", "cpm_page_action", "cpm_custom", "cpm_designation", "cpm_error_message",
)
_CARD_REQUIRED = ("customer_name", "customer_surname", "customer_email", "customer_phone_number",
                  "customer_address", "customer_city", "customer_country", "customer_state",
                  "customer_zip_code")


def x_token(fields: dict[str, str], secret_key: str) -> str:
    data = "".join(fields.get(name, "") for name in NOTIFICATION_FIELDS)
    return hmac.new(secret_key.encode(), data.encode(), hashlib.sha256).hexdigest()


@dataclass
class _Payment:
    transaction_id: str
    token: str
    amount: int
    currency: str
    channels: str
    notify_url: str
    metadata: str
    label: str
    status: str = "WAITING_CUSTOMER_PAYMENT"
    payment_date: str = ""
    operator_id: str = ""


class FakeCinetPay(FakeServer):
    name = "cinetpay"

    def __init__(self, behaviour: Behaviour | None = None, *, apikey: str = "fake-cinetpay-apikey",
                 site_id: str = "445160", secret_key: str = "fake-cinetpay-secret-key",  # noqa: S107
                 deliver: Deliver | None = None, port: int = 0) -> None:
        super().__init__(behaviour, port=port)
        self.apikey = apikey
        self.site_id = site_id
        self.secret_key = secret_key
        self.deliver = deliver
        self.payments: dict[str, _Payment] = {}
        self._fates: dict[str, Fate] = {}
        self._lost: set[str] = set()
        self._serial = itertools.count(1)

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("POST", "/v2/payment"): self._initialise, ("POST", "/v2/payment/check"): self._check,
                ("GET", "/pay/"): self._page, ("POST", "/pay/"): self._decide}

    def _initialise(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("apikey") != self.apikey:
            return 200, {"code": "609", "message": "AUTH_NOT_FOUND", "description": "apikey unknown"}
        if str(body.get("site_id")) != self.site_id:
            return 200, {"code": "613", "message": "SITE_ID_NOTVALID"}
        problem = _missing(body)
        if problem:
            return 200, {"code": "608", "message": "MINIMUM_REQUIRED_FIELDS", "description": problem}
        transaction_id, label = str(body["transaction_id"]), str(body.get("metadata") or "")
        fate = fate_for(self, _label_digits(label))
        with self.lock:
            if transaction_id in self.payments:
                return 200, {"code": "624", "message": "TRANSACTION_EXIST"}
            if fate.lost_once and transaction_id not in self._lost:
                self._lost.add(transaction_id)
                return 503, {"code": "503", "message": "SERVICE_UNAVAILABLE"}
            token = f"{next(self._serial):04d}{transaction_id[-12:]}"
            payment = _Payment(transaction_id, token, int(body["amount"]), str(body["currency"]),
                               str(body["channels"]), str(body["notify_url"]), label, _label_of(label))
            self.payments[transaction_id] = payment
            self._fates[transaction_id] = fate
        if fate.settles:
            delay_s = 0.0 if self.behaviour.instant else self.callback_delay_s()
            self.deliveries.schedule(delay_s, lambda: self._decide_by_itself(transaction_id, fate.succeeds))
        if fate.slow:
            self.pause(self.behaviour.slow_answer_s)
        return 200, {"code": "201", "message": "CREATED", "description": "Transaction created with success",
                     "api_response_id": token, "data": {"payment_token": token,
                                                        "payment_url": f"{self.url}/pay/{token}"}}

    def settle(self, transaction_id: str, succeeds: bool) -> bool:
        """The customer pays (or refuses) on the page; False when it was settled already."""
        with self.lock:
            payment = self.payments.get(transaction_id)
            if payment is None or payment.status != "WAITING_CUSTOMER_PAYMENT":
                return False
            payment.status = "ACCEPTED" if succeeds else "REFUSED"
            payment.payment_date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            payment.operator_id = f"CP{payment.token}"
            fate = self._fates.get(transaction_id, Fate())
            fields = self._notification(payment)
        delay_s = self.behaviour.late_callback_s if fate.late else 0.0
        for _ in range(fate.callbacks):
            self.deliveries.schedule(delay_s, self._sender(payment.notify_url, fields))
        return True

    def _decide_by_itself(self, transaction_id: str, succeeds: bool) -> None:
        self.settle(transaction_id, succeeds)

    def notification(self, transaction_id: str) -> tuple[dict[str, str], dict[str, str]]:
        """The (headers, fields) the fake would send now for ``transaction_id`` (for tests)."""
        with self.lock:
            fields = self._notification(self.payments[transaction_id])
        return {"x-token": x_token(fields, self.secret_key)}, fields

    def _notification(self, payment: _Payment) -> dict[str, str]:
        return {"cpm_site_id": self.site_id, "cpm_trans_id": payment.transaction_id,
                "cpm_trans_date": payment.payment_date, "cpm_amount": str(payment.amount),
                "cpm_currency": payment.currency, "signature": payment.token,
                "payment_method": "VISAM" if "CARD" in payment.channels else "FLOOZ",
                "cel_phone_num": "", "cpm_phone_prefixe": "228", "cpm_language": "fr", "cpm_version": "V4",
                "cpm_payment_config": "Single", "cpm_page_action": "Payment", "cpm_custom": payment.metadata,
                "cpm_designation": payment.transaction_id,
                "cpm_error_message": "SUCCES" if payment.status == "ACCEPTED" else "PAYMENT_FAILED"}

    def _sender(self, url: str, fields: dict[str, str]) -> Callable[[], None]:
        body = urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "x-token": x_token(fields, self.secret_key)}
        return lambda: self._post(url, body, headers)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        self.deliveries.post(url, body, headers, self.deliver)

    def _check(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("apikey") != self.apikey \
                or str(body.get("site_id")) != self.site_id:
            return 200, {"code": "609", "message": "AUTH_NOT_FOUND"}
        with self.lock:
            payment = self.payments.get(str(body.get("transaction_id")))
            if payment is None:
                return 404, {"code": "404", "message": "TRANSACTION_NOT_FOUND"}
            code, message = {"ACCEPTED": ("00", "SUCCES"), "REFUSED": ("600", "PAYMENT_FAILED")}.get(
                payment.status, ("662", "WAITING_CUSTOMER_PAYMENT"))
            data = {"amount": str(payment.amount), "currency": payment.currency, "status": payment.status,
                    "payment_method": "VISAM" if "CARD" in payment.channels else "FLOOZ",
                    "description": payment.transaction_id, "metadata": payment.metadata,
                    "operator_id": payment.operator_id, "payment_date": payment.payment_date}
        return 200, {"code": code, "message": message, "data": data, "api_response_id": payment.token}

    def _page(self, request: Request) -> Response:
        payment = self._by_token(request.path.removeprefix("/pay/"))
        if payment is None:
            return 404, "<p>Unknown payment.</p>"
        token = html.escape(payment.token)
        return 200, (f"<!doctype html><title>CinetPay (fake)</title><h1>{payment.amount} "
                     f"{html.escape(payment.currency)}</h1><p>Status: {html.escape(payment.status)}</p>"
                     f"<form method=post action='/pay/{token}/accept'><button>Pay</button></form>"
                     f"<form method=post action='/pay/{token}/refuse'><button>Refuse</button></form>")

    def _decide(self, request: Request) -> Response:
        token, _, verdict = request.path.removeprefix("/pay/").partition("/")
        payment = self._by_token(token)
        if payment is None or verdict not in ("accept", "refuse"):
            return 404, "<p>Unknown payment.</p>"
        self.settle(payment.transaction_id, verdict == "accept")
        return 200, f"<p>{html.escape(payment.status)}</p>"

    def _by_token(self, token: str) -> _Payment | None:
        with self.lock:
            return next((p for p in self.payments.values() if p.token == token), None)


def _label_of(metadata: str) -> str:
    """The card label Sika puts in ``metadata`` after the order id (``mv_… tok_test_00000N``)."""
    labels = [word for word in metadata.split() if word.startswith("tok_")]
    return labels[-1] if labels else ""


def _label_digits(metadata: str) -> str:
    return significant_digits(_label_of(metadata))


def _missing(body: dict[str, Any]) -> str:
    required = ["transaction_id", "amount", "currency", "description", "notify_url", "return_url", "channels"]
    absent = [name for name in required if not body.get(name)]
    amount = body.get("amount")
    if not isinstance(amount, int) or amount <= 0 or amount % 5:
        absent.append("amount (a positive multiple of 5)")
    if str(body.get("channels")) in ("CREDIT_CARD", "ALL"):
        absent += [name for name in _CARD_REQUIRED if not body.get(name)]
    return ", ".join(absent)
