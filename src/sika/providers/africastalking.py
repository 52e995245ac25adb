"""Africa's Talking Airtime: airtime to any mobile number of the XOF zone, whatever its operator.

Wire format, from Africa's Talking's documentation (https://developers.africastalking.com/docs/airtime/sending,
…/airtime/notifications; help.africastalking.com "What is the flow for an airtime request?") and its
official Python SDK (AfricasTalkingLtd/africastalking-python, ``africastalking/Airtime.py``,
``Application.py``):

* ``POST {url}/version1/airtime/send``, form-encoded: ``username`` and ``recipients``, a JSON list
  of ``{"phoneNumber": "+228…", "amount": "XOF 1000"}``; headers ``apiKey``, ``Accept:
  application/json`` and ``Idempotency-Key`` (ours: the order id; Africa's Talking ignores a repeated
  key, so a retry never sends airtime twice). Answer ``{"errorMessage", "numSent", "totalAmount",
  "totalDiscount", "responses": [{"phoneNumber", "amount", "status", "requestId", "discount",
  "errorMessage"}]}``: ``Sent`` means handed to the operator (the final word comes later), ``Failed``
  refused. Sika holds the customer's money until the final word; ``Success`` in the answer, should
  it come, is taken as final.
* Status notification: Africa's Talking POSTs ``requestId``, ``status`` (``Success`` or ``Failed``),
  ``phoneNumber``, ``description``, ``discount``, ``value`` to the status callback URL registered on
  its dashboard. It signs nothing: Sika accepts it from ``SIKA_AFRICASTALKING_ALLOWED_IPS`` (when
  set) with ``?token=SIKA_AFRICASTALKING_CALLBACK_TOKEN`` (when set), the rules of
  :mod:`sika.api.gateway_auth`, and applies it only if its value matches the order's amount.
* ``GET {url}/version1/user?username=`` answers ``{"UserData": {"balance": "XOF 1234.00"}}``.
* Status lookup: Africa's Talking documents ``GET /query/transaction/find?username=&transactionId=``
  for its payment products; whether it answers for airtime request ids is not public. Sika asks it
  (``SIKA_AFRICASTALKING_AIRTIME_STATUS_PATH``, empty to turn it off) and takes anything but a clear
  ``Success`` or ``Failed`` as "still pending".

Africa's Talking names the order by its own ``requestId``: a callback is matched to the order whose
answer carried that id. The currency code is configurable (``SIKA_AFRICASTALKING_CURRENCY``):
Africa's Talking's coverage of each XOF country must be checked with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sika.providers._checks import check_amount, check_origin, require_msisdn
from sika.providers._http import Http
from sika.providers._wire import amount_of, form, json_object, text
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
from sika.providers.brands import BRANDS

__all__ = ["AfricasTalkingAirtime", "AirtimeConfig"]

_FINAL = {"success": ProviderStatus.SUCCEEDED, "failed": ProviderStatus.FAILED}
_PENDING = frozenset({"sent", "queued", "submitted", "pending"})


@dataclass(frozen=True, slots=True)
class AirtimeConfig:
    url: str
    username: str
    api_key: str
    callback_token: str | None = None
    allowed_ips: str = ""
    currency: str = "XOF"
    amount_min: int = 100
    amount_max: int = 100_000
    status_path: str = "/query/transaction/find"
    timeout_s: float = 15.0
    retries_max: int = 2


class AfricasTalkingAirtime:
    name = "africastalking"

    def __init__(self, config: AirtimeConfig) -> None:
        assert 0 < config.amount_min <= config.amount_max and len(config.currency) == 3
        self.config = config
        self._http = Http(config.url, provider="Africa's Talking", timeout_s=config.timeout_s,
                          retries_max=config.retries_max, headers={"apiKey": config.api_key})

    def close(self) -> None:
        self._http.close()

    def catalogue(self, brand: str) -> list[CatalogueEntry]:
        airtime = Product("airtime", "Airtime", None, self.config.amount_min, self.config.amount_max)
        shown = BRANDS[brand].display_name if brand in BRANDS else brand
        return [CatalogueEntry(brand, ProductKind.AIRTIME, shown, "msisdn", (airtime,))]

    def quote(self, product: str, reference: str, amount: int | None) -> Quote:
        if product != "airtime":
            raise ProviderRejected("Africa's Talking sells airtime only here", code="unknown_product")
        msisdn = require_msisdn(reference)
        paid = check_amount(amount, self.config.amount_min, self.config.amount_max)
        return Quote(paid, f"Airtime for {msisdn}", {"msisdn": msisdn})

    def submit(self, order: Order) -> Outcome:
        self.quote(order.product, order.reference, order.amount)
        recipients = [{"phoneNumber": order.reference, "amount": f"{self.config.currency} {order.amount}"}]
        answer = self._http.post_form(
            "/version1/airtime/send",
            {"username": self.config.username, "recipients": json.dumps(recipients)},
            headers={"Idempotency-Key": order.id}, idempotent=True)
        responses = answer.field("responses")
        listed = responses if isinstance(responses, list) else []
        first = listed[0] if listed and isinstance(listed[0], dict) else {}
        status = (text(first.get("status")) or "").lower()
        request_id = text(first.get("requestId"), 100)
        error = text(first.get("errorMessage")) or text(answer.field("errorMessage"))
        receipt = {"msisdn": order.reference, "amount": str(order.amount)}
        if status in _FINAL:
            if _FINAL[status] is ProviderStatus.SUCCEEDED:
                return Outcome(ProviderStatus.SUCCEEDED, request_id, receipt, amount=order.amount)
            return Outcome(ProviderStatus.FAILED, request_id, receipt, error_code="declined",
                           message=f"Africa's Talking: {error or 'failed'}")
        if status in _PENDING and request_id:
            return Outcome(ProviderStatus.PENDING, request_id, receipt, amount=order.amount)
        if answer.status in (401, 403):
            return Outcome(ProviderStatus.FAILED, error_code="provider_auth_failed",
                           message="Africa's Talking refused our credentials: check SIKA_AFRICASTALKING_*")
        if answer.status < 500 and error and error != "None":
            # Refused as asked (no credit, unsupported number, a duplicate of a key it already has):
            # a duplicate's first answer was lost, so the order stays pending until its deadline.
            if "uplicate" in error:
                return Outcome(ProviderStatus.PENDING, message=f"Africa's Talking: {error}")
            return Outcome(ProviderStatus.FAILED, error_code="declined", message=f"Africa's Talking: {error}")
        raise ProviderUnavailable(f"Africa's Talking answered HTTP {answer.status} without a status")

    def status(self, order_id: str, *, product: str, provider_reference: str | None = None) -> Outcome:
        if not provider_reference or not self.config.status_path:
            return Outcome(ProviderStatus.PENDING, provider_reference)
        answer = self._http.get(self.config.status_path, {"username": self.config.username,
                                                           "transactionId": provider_reference})
        data = answer.field("data")
        found = (text(data.get("status")) or "").lower() if isinstance(data, dict) else ""
        if found in _FINAL:
            value = amount_of(data.get("value"), self.config.currency) if isinstance(data, dict) else None
            return Outcome(_FINAL[found], provider_reference, amount=value,
                           error_code=None if found == "success" else "declined")
        return Outcome(ProviderStatus.PENDING, provider_reference)

    def read_callback(self, request: CallbackRequest) -> list[Notice]:
        check_origin(request, provider="Africa's Talking", allowed_ips=self.config.allowed_ips,
                     token=self.config.callback_token)
        is_json = request.headers.get("content-type", "").startswith("application/json")
        fields = json_object(request.body, "Africa's Talking") if is_json else form(request.body,
                                                                                     "Africa's Talking")
        request_id = text(fields.get("requestId"), 100)
        status = (text(fields.get("status")) or "").lower()
        if request_id is None or status not in _FINAL:
            raise ForgedCallback("an Africa's Talking callback without a request id and a final status")
        value = amount_of(fields.get("value"), self.config.currency)
        outcome = Outcome(_FINAL[status], request_id, {"description": text(fields.get("description")) or ""},
                          error_code=None if status == "success" else "declined",
                          message=text(fields.get("description")), amount=value)
        return [Notice(order_id=None, provider_reference=request_id, outcome=outcome)]

    def balances(self) -> list[Balance]:
        answer = self._http.get("/version1/user", {"username": self.config.username})
        data = answer.field("UserData")
        amount = amount_of(data.get("balance"), self.config.currency) if isinstance(data, dict) else None
        if amount is None:
            # AT keeps decimals ("XOF 1234.50"): count the whole francs, the part Sika can spend.
            raw = text(data.get("balance")) if isinstance(data, dict) else None
            code, _, number = (raw or "").partition(" ")
            whole = number.split(".", 1)[0]
            if code != self.config.currency or not whole.lstrip("-").isdigit():
                return []
            amount = int(whole)
        return [Balance("Africa's Talking", amount, self.config.currency)]
