"""PayGate Global (Togo): wallet top-ups from Flooz (Moov Money) and T-Money (Mixx by Yas).

Wire format, from PayGate Global's documentation (https://paygateglobal.com, "Documentation" in the
merchant space) as the published client libraries implement it (filanodev/paygate-js-sdk,
``packages/core/src/client.ts``; pub.dev ``flutter_paygateglobal``):

* ``POST {url}/api/v1/pay`` (JSON): ``auth_token``, ``phone_number`` (the 8 national digits),
  ``amount`` (XOF, integer), ``description``, ``identifier`` (ours: the order id, unique per
  transaction), ``network`` (``FLOOZ`` or ``TMONEY``). Answer ``{"tx_reference", "status"}``:
  0 registered (the customer confirms with the PIN on the phone), 2 invalid ``auth_token``,
  4 invalid parameters, 6 duplicate (this ``identifier`` was registered before).
* ``POST {url}/api/v2/status`` (JSON): ``auth_token``, ``identifier``. Answer ``tx_reference``,
  ``identifier``, ``payment_reference`` (Flooz/T-Money's own), ``status``, ``datetime``,
  ``payment_method``, ``amount``; status 0 success, 2 in progress, 4 expired, 6 cancelled. An
  unknown identifier is answered ``{"error_code": 403, "error_message": ...}``.
* Callback: PayGate POSTs JSON (``tx_reference``, ``identifier``, ``payment_reference``, ``amount``,
  ``datetime``, ``payment_method``, ``phone_number``) to the URL set in the merchant account. It is
  **not signed**: Sika accepts it only from ``SIKA_PAYGATE_ALLOWED_IPS`` (when set) with
  ``?token=SIKA_PAYGATE_CALLBACK_TOKEN`` (when set) in the registered URL, and never believes it: a
  callback only makes Sika ask ``/api/v2/status`` at once.
* ``POST {url}/api/v1/check-balance`` (JSON): ``auth_token``. Answer ``{"flooz", "tmoney"}``.

Retries reuse the ``identifier``: PayGate answers 6 to a second registration of it, and Sika then
reads the order's status instead. Payouts (``/api/v1/disburse``) are in
:mod:`sika.providers.paygate_payouts`.

====  ===========  ===========================================================
code  PayGate      Sika outcome
====  ===========  ===========================================================
0     success      SUCCEEDED
2     in progress  PENDING
4     expired      FAILED ``expired`` (the customer did not confirm in time)
6     cancelled    FAILED ``declined`` (the customer refused or cancelled)
other              PENDING: we cannot tell whether money moved, so keep polling
====  ===========  ===========================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sika.providers._checks import check_amount, check_origin, product_code, require_togo_msisdn
from sika.providers._http import Answer, Http
from sika.providers._wire import integer as _integer
from sika.providers._wire import json_object
from sika.providers._wire import text as _text
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

__all__ = ["NETWORKS", "PayGate", "PayGateConfig", "PayGateStatus", "outcome_from_paygate"]

# PayGate's network codes, and the names customers know them by.
NETWORKS = {"FLOOZ": "Flooz (Moov Money)", "TMONEY": "Mixx by Yas (T-Money)"}
_REGISTERED, _INVALID_TOKEN, _INVALID_PARAMETERS, _DUPLICATE = 0, 2, 4, 6


class PayGateStatus(enum.IntEnum):
    SUCCEEDED = 0
    IN_PROGRESS = 2
    EXPIRED = 4
    CANCELLED = 6


@dataclass(frozen=True, slots=True)
class PayGateConfig:
    url: str
    auth_token: str
    callback_token: str | None = None
    allowed_ips: str = ""
    amount_min: int = 100
    amount_max: int = 1_000_000
    timeout_s: float = 15.0
    retries_max: int = 2


def outcome_from_paygate(code: int, *, tx_reference: str | None, network: str | None = None,
                         payment_reference: str | None = None, amount: int | None = None) -> Outcome:
    """Our outcome for a PayGate status code, as its status API reports it."""
    receipt = {"paygate_status": str(code)}
    if tx_reference:
        receipt["tx_reference"] = tx_reference
    if network:
        receipt["network"] = network
    match code:
        case PayGateStatus.SUCCEEDED:
            if payment_reference:
                receipt["payment_reference"] = payment_reference
            return Outcome(ProviderStatus.SUCCEEDED, tx_reference, receipt, amount=amount)
        case PayGateStatus.IN_PROGRESS:
            return Outcome(ProviderStatus.PENDING, tx_reference, receipt, amount=amount)
        case PayGateStatus.EXPIRED:
            return Outcome(ProviderStatus.FAILED, tx_reference, receipt, error_code="expired",
                           message="the customer did not confirm the payment in time", amount=amount)
        case PayGateStatus.CANCELLED:
            return Outcome(ProviderStatus.FAILED, tx_reference, receipt, error_code="declined",
                           message="the customer cancelled the payment", amount=amount)
        case _:
            # An undocumented code says nothing about whether money moved: failing the order here
            # could lose a customer's payment, so it stays pending until someone looks.
            return Outcome(ProviderStatus.PENDING, tx_reference, receipt, amount=amount,
                           message=f"PayGate answered an unknown status {code}")


class PayGate:
    name = "paygate"

    def __init__(self, config: PayGateConfig) -> None:
        assert 0 < config.amount_min <= config.amount_max
        self.config = config
        self._http = Http(config.url, provider="PayGate", timeout_s=config.timeout_s,
                          retries_max=config.retries_max)

    def close(self) -> None:
        self._http.close()

    def catalogue(self, brand: str) -> list[CatalogueEntry]:
        products = tuple(Product(f"wallet_topup:{code}", name, None, self.config.amount_min,
                                 self.config.amount_max) for code, name in NETWORKS.items())
        return [CatalogueEntry(brand, ProductKind.MOBILE_MONEY, "PayGate", "msisdn", products)]

    def quote(self, product: str, reference: str, amount: int | None) -> Quote:
        network = _network(product)
        msisdn = require_togo_msisdn(reference)
        paid = check_amount(amount, self.config.amount_min, self.config.amount_max)
        return Quote(paid, f"{NETWORKS[network]} payment from {msisdn}",
                     {"network": network, "msisdn": msisdn})

    def submit(self, order: Order) -> Outcome:
        network = _network(order.product)
        self.quote(order.product, order.reference, order.amount)
        answer = self._http.post_json("/api/v1/pay", {
            "auth_token": self.config.auth_token,
            "phone_number": order.reference.removeprefix("+228"),
            "amount": order.amount,
            "description": f"Sika {order.id}",
            "identifier": order.id,
            "network": network,
        }, idempotent=True)  # the identifier makes a second registration a "duplicate", not a charge
        code = _integer(answer.field("status"))
        tx_reference = _text(answer.field("tx_reference"))
        if code == _REGISTERED and answer.status < 400:
            return outcome_from_paygate(PayGateStatus.IN_PROGRESS, tx_reference=tx_reference, network=network)
        if code == _DUPLICATE:
            return self.status(order.id, product=order.product)
        if code == _INVALID_TOKEN:
            return Outcome(ProviderStatus.FAILED, error_code="provider_auth_failed",
                           message="PayGate refused our auth_token: check SIKA_PAYGATE_AUTH_TOKEN")
        if code == _INVALID_PARAMETERS:
            return Outcome(ProviderStatus.FAILED, error_code="invalid_request",
                           message="PayGate refused the payment's parameters")
        raise ProviderUnavailable(f"PayGate answered HTTP {answer.status} with status {code!r}")

    def status(self, order_id: str, *, product: str, provider_reference: str | None = None) -> Outcome:
        answer = self._http.post_json("/api/v2/status", {"auth_token": self.config.auth_token,
                                                          "identifier": order_id}, idempotent=True)
        if answer.field("error_code") is not None:
            if _integer(answer.field("error_code")) in (403, 404):
                return Outcome(ProviderStatus.FAILED, error_code="unknown_order",
                               message=f"PayGate has no payment {order_id!r}")
            raise ProviderUnavailable(f"PayGate's status answered {answer.field('error_message')!r}")
        code = _integer(answer.field("status"))
        if code is None or answer.status >= 400:
            raise ProviderUnavailable(f"PayGate's status answered HTTP {answer.status} without a status")
        return outcome_from_paygate(
            code, tx_reference=_text(answer.field("tx_reference")) or provider_reference,
            network=_payment_method(answer), payment_reference=_text(answer.field("payment_reference")),
            amount=_integer(answer.field("amount")))

    def read_callback(self, request: CallbackRequest) -> list[Notice]:
        check_origin(request, provider="PayGate", allowed_ips=self.config.allowed_ips,
                     token=self.config.callback_token)
        body = json_object(request.body, "PayGate")
        identifier = _text(body.get("identifier"))
        if not identifier:
            raise ForgedCallback("a PayGate callback without an identifier")
        # Unsigned: only a reason to ask PayGate itself (outcome None).
        return [Notice(order_id=identifier, provider_reference=_text(body.get("tx_reference")))]

    def balances(self) -> list[Balance]:
        answer = self._http.post_json("/api/v1/check-balance", {"auth_token": self.config.auth_token},
                                      idempotent=True)
        found = []
        for key, label in (("flooz", "PayGate Flooz"), ("tmoney", "PayGate T-Money")):
            amount = _integer(answer.field(key))
            if amount is not None:
                found.append(Balance(label, amount))
        return found


def _network(product: str) -> str:
    network = product_code(product, "wallet_topup")
    if network not in NETWORKS:
        raise ProviderRejected(f"PayGate takes {' and '.join(NETWORKS)} only", code="unknown_product")
    return network


def _payment_method(answer: Answer) -> str | None:
    method = _text(answer.field("payment_method"))
    if method is None:
        return None
    return "TMONEY" if method.replace("-", "").upper() == "TMONEY" else method.upper()
