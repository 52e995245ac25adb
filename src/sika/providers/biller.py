"""A biller aggregator: CEET electricity tokens, TdE water bills, Canal+ renewals and data bundles.

**This is not a published provider API.** CEET, TdE, Canal+ and Togo's operators publish no API for
these payments that we could find; in practice they are sold through aggregators under contract,
each with its own private protocol. This adapter speaks one small JSON protocol, Sika's own, written
down in docs/wallet.md ("The biller aggregator protocol"), that such an aggregator (or a thin bridge
in front of one) implements. Its endpoints hang off ``SIKA_BILLER_URL``:

* ``GET /v1/catalogue`` lists each biller's products (bundles, packages, amount ranges);
* ``POST /v1/quotes`` looks a reference up (the meter, the subscriber and the amount due) and prices;
* ``POST /v1/payments`` pays, idempotent on ``order_id`` (the same order again gets the same answer;
  other details under the same id get HTTP 409);
* ``GET /v1/payments/{order_id}`` tells a payment's status (HTTP 404: never received);
* ``GET /v1/balance`` tells the prepaid float left.

Requests carry ``Authorization: Bearer SIKA_BILLER_API_KEY``. Callbacks carry
``X-Biller-Timestamp`` (Unix seconds) and ``X-Biller-Signature: sha256=<hex>``, the HMAC-SHA256
keyed with ``SIKA_BILLER_SECRET`` of ``"<timestamp>.<raw body>"``; Sika refuses a callback whose
signature does not match or whose timestamp is more than five minutes away.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as url_quote

from sika.providers._checks import REFERENCE_CHARS_MAX, luhn_valid
from sika.providers._http import Answer, Http
from sika.providers._wire import integer, json_object, text
from sika.providers.base import (
    Balance,
    CallbackRequest,
    CatalogueEntry,
    ForgedCallback,
    Notice,
    Order,
    Outcome,
    Product,
    ProductKind,
    ProviderRejected,
    ProviderStatus,
    ProviderUnavailable,
    Quote,
)

__all__ = ["BillerAggregator", "BillerConfig", "BillerView", "signature"]

SIGNATURE_SKEW_S = 300
_CATALOGUE_TTL_S = 300.0
_PRODUCTS_MAX = 200
# A quote's details kept (a chat keeps the quote between confirmation and PIN, in a bounded state):
# first those Sika reads (the bill's period claims it once; the others are shown), then the rest.
_DETAILS_MAX = 16
_DETAIL_KEY_CHARS_MAX = 40
_DETAIL_CHARS_MAX = 200
_DETAILS_READ = ("period", "customer_name", "units_kwh", "months")
_STATUSES = {"succeeded": ProviderStatus.SUCCEEDED, "failed": ProviderStatus.FAILED,
             "pending": ProviderStatus.PENDING}
_METER_DIGITS = 11


@dataclass(frozen=True, slots=True)
class BillerConfig:
    url: str
    api_key: str
    secret: str
    callback_url: str | None = None
    timeout_s: float = 15.0
    retries_max: int = 2


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Biller-Signature`` of a callback: ``sha256=`` and the hex HMAC."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class BillerAggregator:
    """The shared client; :meth:`view` gives the adapter for one biller (a brand)."""

    name = "biller"

    def __init__(self, config: BillerConfig, *, clock_s: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock_s = clock_s
        self._http = Http(config.url, provider="the biller aggregator", timeout_s=config.timeout_s,
                          retries_max=config.retries_max,
                          headers={"Authorization": f"Bearer {config.api_key}"})
        self._lock = threading.Lock()
        self._catalogue: list[dict[str, Any]] = []
        self._fetched_at_s = -_CATALOGUE_TTL_S

    def close(self) -> None:
        self._http.close()

    def view(self, biller: str) -> BillerView:
        return BillerView(self, biller)

    def billers(self) -> list[dict[str, Any]]:
        """The aggregator's catalogue, cached a few minutes; the last one known if it cannot answer."""
        with self._lock:
            if time.monotonic() - self._fetched_at_s < _CATALOGUE_TTL_S:
                return self._catalogue
        try:
            found = self._http.get("/v1/catalogue").field("billers")
        except ProviderUnavailable:
            found = None
        with self._lock:
            if isinstance(found, list):
                self._catalogue = [entry for entry in found[:_PRODUCTS_MAX] if isinstance(entry, dict)]
                self._fetched_at_s = time.monotonic()
            return self._catalogue

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        if method == "GET":
            return self._http.get(path)
        assert body is not None
        return self._http.post_json(path, body, idempotent=True)

    def read_callback(self, request: CallbackRequest) -> list[Notice]:
        timestamp = request.headers.get("x-biller-timestamp", "")
        given = request.headers.get("x-biller-signature", "")
        expected = signature(self.config.secret, timestamp, request.body)
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ForgedCallback("a biller callback whose signature does not match")
        sent_s = integer(timestamp)
        if sent_s is None or abs(self._clock_s() - sent_s) > SIGNATURE_SKEW_S:
            raise ForgedCallback("a biller callback signed too long ago (or in the future)")
        body = json_object(request.body, "biller")
        order_id = text(body.get("order_id"), 64)
        if order_id is None:
            raise ForgedCallback("a biller callback without an order id")
        return [Notice(order_id=order_id, provider_reference=text(body.get("provider_reference")),
                       outcome=payment_outcome(body, order_id))]

    def balances(self) -> list[Balance]:
        answer = self._http.get("/v1/balance")
        amount = integer(answer.field("balance"))
        currency = text(answer.field("currency")) or "XOF"
        return [] if amount is None else [Balance("biller aggregator", amount, currency)]


class BillerView:
    """The aggregator as one biller's adapter (``ceet``, ``tde``, ``canal``, ``togocom``, ``moov``)."""

    def __init__(self, aggregator: BillerAggregator, biller: str) -> None:
        self._aggregator = aggregator
        self.biller = biller
        self.name = aggregator.name

    def catalogue(self, brand: str) -> list[CatalogueEntry]:
        entries = []
        for entry in self._aggregator.billers():
            if entry.get("biller") != self.biller:
                continue
            try:
                kind = ProductKind(str(entry.get("kind")))
            except ValueError:
                continue
            products = tuple(p for p in (_product(item) for item in entry.get("products") or [])
                             if p is not None)
            entries.append(CatalogueEntry(brand, kind, text(entry.get("name")) or brand,
                                          text(entry.get("reference")) or "reference", products))
        return entries

    def quote(self, product: str, reference: str, amount: int | None) -> Quote:
        self._precheck(reference)
        body: dict[str, Any] = {"biller": self.biller, "product": product, "reference": reference}
        if amount is not None:
            body["amount"] = amount
        answer = self._aggregator.request("POST", "/v1/quotes", body)
        _raise_refusal(answer)
        paid = integer(answer.field("amount"))
        if paid is None or paid <= 0 or answer.status >= 300:
            raise ProviderUnavailable(f"the biller aggregator's quote answered HTTP {answer.status}")
        details = answer.field("details")
        shown = _bounded(details) if isinstance(details, dict) else {}
        return Quote(paid, text(answer.field("description"), 200) or product, shown)

    def submit(self, order: Order) -> Outcome:
        self._precheck(order.reference)
        body: dict[str, Any] = {"order_id": order.id, "biller": self.biller, "product": order.product,
                                "reference": order.reference, "amount": order.amount,
                                "currency": order.currency}
        if self._aggregator.config.callback_url:
            body["callback_url"] = self._aggregator.config.callback_url
        answer = self._aggregator.request("POST", "/v1/payments", body)
        if answer.status == 409:
            raise ProviderRejected(f"order {order.id!r} was submitted before with other details",
                                   code="order_conflict")
        if answer.status == 422:
            error = _error(answer)
            return Outcome(ProviderStatus.FAILED, error_code=error[0], message=error[1])
        if answer.status >= 300:
            raise ProviderUnavailable(f"the biller aggregator answered HTTP {answer.status}")
        return payment_outcome(answer.body if isinstance(answer.body, dict) else {}, order.id)

    def status(self, order_id: str, *, product: str, provider_reference: str | None = None) -> Outcome:
        answer = self._aggregator.request("GET", f"/v1/payments/{url_quote(order_id, safe='')}")
        if answer.status == 404:
            return Outcome(ProviderStatus.FAILED, error_code="unknown_order",
                           message=f"the biller aggregator has no order {order_id!r}")
        if answer.status >= 300:
            raise ProviderUnavailable(f"the biller aggregator's status answered HTTP {answer.status}")
        return payment_outcome(answer.body if isinstance(answer.body, dict) else {}, order_id)

    def _precheck(self, reference: str) -> None:
        """Mistakes worth catching before a round trip: a CEET meter number (IEC 62055-41 STS meters)
        has 11 digits, the last a Luhn check digit, so a mistyped one never buys a neighbour's power."""
        if len(reference) > REFERENCE_CHARS_MAX:
            raise ProviderRejected("this reference is too long", code="invalid_reference")
        if self.biller == "ceet" and (len(reference) != _METER_DIGITS or not luhn_valid(reference)):
            raise ProviderRejected(f"a Cash Power meter number is {_METER_DIGITS} digits; check it",
                                   code="invalid_reference")


def payment_outcome(body: dict[str, Any], order_id: str) -> Outcome:
    """A payment object of the protocol (answer or callback) as an outcome."""
    status = _STATUSES.get(str(body.get("status")))
    if status is None:
        raise ProviderUnavailable(f"the biller aggregator gave order {order_id!r} no known status")
    receipt_raw = body.get("receipt")
    pairs = receipt_raw.items() if isinstance(receipt_raw, dict) else ()
    receipt = {str(k): str(v)[:200] for k, v in pairs}
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    return Outcome(status, text(body.get("provider_reference")), receipt,
                   error_code=text(error.get("code"), 40) if status is ProviderStatus.FAILED else None,
                   message=text(error.get("message"), 200), amount=integer(body.get("amount")))


def _product(item: Any) -> Product | None:
    if not isinstance(item, dict) or text(item.get("product"), 40) is None:
        return None
    low, high = integer(item.get("amount_min")), integer(item.get("amount_max"))
    if low is None or high is None or not 0 < low <= high:
        return None
    return Product(str(text(item.get("product"), 40)), text(item.get("name")) or "",
                   integer(item.get("price")), low, high, integer(item.get("volume_mb")),
                   integer(item.get("validity_days")))


def _error(answer: Answer) -> tuple[str, str]:
    error = answer.field("error")
    error = error if isinstance(error, dict) else {}
    return (text(error.get("code"), 40) or "provider_rejected",
            text(error.get("message"), 200) or "the biller refused the request")


def _raise_refusal(answer: Answer) -> None:
    if answer.status in (404, 422):
        code, message = _error(answer)
        raise ProviderRejected(message, code=code)


def _bounded(details: dict[Any, Any]) -> dict[str, str]:
    """A quote's details within ``_DETAILS_MAX`` keys, those Sika reads first, all cut short."""
    keys = [k for k in _DETAILS_READ if k in details] + [k for k in details if k not in _DETAILS_READ]
    return {str(k)[:_DETAIL_KEY_CHARS_MAX]: str(details[k])[:_DETAIL_CHARS_MAX] for k in keys[:_DETAILS_MAX]}
