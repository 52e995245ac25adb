"""CinetPay: card payments (and mobile money) through its hosted payment page, for the XOF zone.

Why CinetPay for cards: of the aggregators serving Togo and the rest of the XOF zone, it is the one
whose card acceptance is documented in public, end to end (initialisation, notification with an HMAC
header, verification), in French and English, with official SDKs; card numbers are typed on its page,
never sent to Sika, which keeps Sika out of PCI DSS card-data scope.

Wire format, from CinetPay's documentation:
https://docs.cinetpay.com/api/1.0-en/checkout/initialisation, …/checkout/notification,
…/checkout/verification and …/checkout/hmac.

* ``POST {url}/v2/payment`` (JSON): ``apikey``, ``site_id``, ``transaction_id`` (ours: the order
  id), ``amount`` (a multiple of 5), ``currency`` (XOF), ``description``, ``notify_url``,
  ``return_url``, ``channels`` (``CREDIT_CARD`` for cards, ``MOBILE_MONEY``, ``ALL``), ``lang``,
  ``metadata``, and for cards the ``customer_*`` fields the card page needs. Answer ``{"code":
  "201", "message": "CREATED", "data": {"payment_token", "payment_url"}}``: the customer pays on
  ``payment_url`` (3-D Secure included).
* Notification: CinetPay POSTs a form (``cpm_site_id``, ``cpm_trans_id``, ``cpm_trans_date``,
  ``cpm_amount``, ``cpm_currency``, ``signature``, ``payment_method``, ``cel_phone_num``,
  ``cpm_phone_prefixe``, ``cpm_language``, ``cpm_version``, ``cpm_payment_config``,
  ``cpm_page_action``, ``cpm_custom``, ``cpm_designation``, ``cpm_error_message``) to
  ``notify_url`` with an ``x-token`` header: HMAC-SHA256, keyed with the account's secret key, of
  those fields' values concatenated in that order. Sika refuses a notification whose token does not
  match (:class:`~sika.providers.base.ForgedCallback`) and, as CinetPay asks, checks the payment
  before believing it.
* ``POST {url}/v2/payment/check`` (JSON): ``apikey``, ``site_id``, ``transaction_id``. Answer
  ``{"code", "message", "data": {"amount", "currency", "status", "payment_method", "operator_id",
  "payment_date", ...}}``: ``status`` ``ACCEPTED`` (code ``00``) succeeded, ``REFUSED`` (code
  ``600``) or code ``627`` (cancelled) failed; ``WAITING_CUSTOMER_PAYMENT`` (``662``) and other
  waiting codes are pending.

Not public: what CinetPay answers to a second initialisation with a known ``transaction_id``, and
for a ``transaction_id`` it never received. Sika reuses the ``transaction_id`` on retries (CinetPay
keeps them unique, so nothing is charged twice), reads the check after any refused retry, and keeps
an answer it cannot classify pending (the deadline ends it); HTTP 404 or the message
``TRANSACTION_NOT_FOUND`` on a check is taken for "never received" (the fake answers so).
CinetPay's public API keeps no card for later: ``tok_…`` references are Sika's own labels for the
customer's card, and each payment is made on the hosted page.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from sika.providers._checks import check_amount
from sika.providers._http import Answer, Http
from sika.providers._wire import form, integer, text
from sika.providers.base import (
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

__all__ = ["NOTIFICATION_FIELDS", "CinetPay", "CinetPayConfig", "notification_token"]

# The order of the fields in the x-token HMAC, as CinetPay documents it.
NOTIFICATION_FIELDS = (
    "cpm_site_id", "cpm_trans_id", "cpm_trans_date", "cpm_amount", "cpm_currency", "signature",
    "payment_method", "cel_phone_num", "cpm_phone_prefixe", "cpm_language", "cpm_version",
    "cpm_payment_config", "cpm_page_action", "cpm_custom", "cpm_designation", "cpm_error_message",
)
_LABEL = re.compile(r"tok_[A-Za-z0-9_]{4,60}")
_DESCRIPTIONS = {"card_topup": "Sika wallet top-up", "card_payment": "Sika card payment"}
_AMOUNT_STEP = 5
_CREATED = "201"
_FAILED_CODES = frozenset({"600", "627"})
# Initialisation refused for good: missing fields, unknown apikey, unknown site (nothing was created).
_REFUSED_CODES = frozenset({"608", "609", "613"})


@dataclass(frozen=True, slots=True)
class CinetPayConfig:
    url: str
    apikey: str
    site_id: str
    secret_key: str
    notify_url: str
    return_url: str
    channels: str = "CREDIT_CARD"
    lang: str = "fr"
    top_up_min: int = 500
    payment_min: int = 100
    amount_max: int = 500_000
    # The card page asks for an address; CinetPay requires these for cards. Sika knows the number.
    customer_country: str = "TG"
    customer_city: str = "Lome"
    customer_email_domain: str = "customers.invalid"
    timeout_s: float = 15.0
    retries_max: int = 2


def notification_token(fields: dict[str, str], secret_key: str) -> str:
    """CinetPay's ``x-token`` for a notification's form fields."""
    data = "".join(fields.get(name, "") for name in NOTIFICATION_FIELDS)
    return hmac.new(secret_key.encode(), data.encode(), hashlib.sha256).hexdigest()


class CinetPay:
    name = "cinetpay"

    def __init__(self, config: CinetPayConfig) -> None:
        assert 0 < config.payment_min <= config.top_up_min <= config.amount_max
        assert config.channels in ("CREDIT_CARD", "MOBILE_MONEY", "ALL", "WALLET"), config.channels
        self.config = config
        self._http = Http(config.url, provider="CinetPay", timeout_s=config.timeout_s,
                          retries_max=config.retries_max)

    def close(self) -> None:
        self._http.close()

    def catalogue(self, brand: str) -> list[CatalogueEntry]:
        c = self.config
        products = (Product("card_topup", "Card top-up", None, c.top_up_min, c.amount_max),
                    Product("card_payment", "Card payment", None, c.payment_min, c.amount_max))
        return [CatalogueEntry(brand, ProductKind.CARD, "Card", "card_label", products)]

    def quote(self, product: str, reference: str, amount: int | None) -> Quote:
        if product not in ("card_topup", "card_payment"):
            raise ProviderRejected("the card processor takes top-ups and payments only",
                                   code="unknown_product")
        if not _LABEL.fullmatch(reference):
            raise ProviderRejected("name the card with its label (tok_…): card numbers are typed on the "
                                   "card processor's page, never sent to Sika", code="invalid_reference")
        least = self.config.top_up_min if product == "card_topup" else self.config.payment_min
        paid = check_amount(amount, least, self.config.amount_max)
        if paid % _AMOUNT_STEP:
            raise ProviderRejected(f"card payments are in multiples of {_AMOUNT_STEP} XOF",
                                   code="invalid_amount")
        what = "Card top-up" if product == "card_topup" else "Card payment"
        return Quote(paid, f"{what} on CinetPay's card page", {"card_label": reference})

    def submit(self, order: Order) -> Outcome:
        self.quote(order.product, order.reference, order.amount)
        answer = self._http.post_json("/v2/payment", self._initialisation(order), idempotent=True)
        code = text(answer.field("code"))
        data = answer.field("data")
        if code == _CREATED and isinstance(data, dict) and text(data.get("payment_url"), 500):
            token = text(data.get("payment_token"), 200)
            receipt = {"redirect_url": str(text(data.get("payment_url"), 500))}
            return Outcome(ProviderStatus.PENDING, token, receipt, amount=order.amount)
        if code in _REFUSED_CODES:
            return Outcome(ProviderStatus.FAILED, error_code="invalid_request",
                           message=f"CinetPay refused the payment: {text(answer.field('message'))}")
        # Refused otherwise, for instance because this transaction_id exists (a retry after a lost
        # answer): the check tells; an order CinetPay does not know was refused for good.
        found = self.status(order.id, product=order.product)
        if found.error_code == "unknown_order":
            return Outcome(ProviderStatus.FAILED, error_code="invalid_request",
                           message=f"CinetPay refused the payment: {text(answer.field('message'))}")
        return found

    def status(self, order_id: str, *, product: str, provider_reference: str | None = None) -> Outcome:
        answer = self._http.post_json("/v2/payment/check", {
            "apikey": self.config.apikey, "site_id": self.config.site_id, "transaction_id": order_id,
        }, idempotent=True)
        return _check_outcome(answer, order_id, provider_reference)

    def read_callback(self, request: CallbackRequest) -> list[Notice]:
        fields = form(request.body, "CinetPay")
        given = request.headers.get("x-token", "")
        expected = notification_token(fields, self.config.secret_key)
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ForgedCallback("a CinetPay notification whose x-token does not match")
        if fields.get("cpm_site_id") != self.config.site_id:
            raise ForgedCallback("a CinetPay notification for another site")
        order_id = text(fields.get("cpm_trans_id"), 64)
        if order_id is None:
            raise ForgedCallback("a CinetPay notification without a transaction id")
        # CinetPay asks merchants to check the payment before acting: outcome None.
        return [Notice(order_id=order_id)]

    def _initialisation(self, order: Order) -> dict[str, object]:
        c = self.config
        body: dict[str, object] = {
            "apikey": c.apikey, "site_id": c.site_id, "transaction_id": order.id, "amount": order.amount,
            # No special characters in a description, CinetPay asks (#, /, $, _, &).
            "currency": order.currency, "description": _DESCRIPTIONS.get(order.product, "Sika payment"),
            "notify_url": c.notify_url, "return_url": c.return_url, "channels": c.channels, "lang": c.lang,
            "metadata": f"{order.id} {order.reference}",
        }
        if c.channels in ("CREDIT_CARD", "ALL"):
            digits = (order.customer_msisdn or "").removeprefix("+")
            first, _, last = (order.customer_name or "Sika customer").partition(" ")
            body |= {
                "customer_id": digits or order.id, "customer_name": first, "customer_surname": last or first,
                "customer_email": f"{digits or 'customer'}@{c.customer_email_domain}",
                "customer_phone_number": order.customer_msisdn or "", "customer_address": c.customer_city,
                "customer_city": c.customer_city, "customer_country": c.customer_country,
                "customer_state": c.customer_country, "customer_zip_code": "00000",
            }
        return body


def _check_outcome(answer: Answer, order_id: str, provider_reference: str | None) -> Outcome:
    code = text(answer.field("code"))
    data = answer.field("data")
    data = data if isinstance(data, dict) else {}
    status = text(data.get("status"))
    amount = integer(data.get("amount"))
    receipt = {key: str(value) for key in ("payment_method", "operator_id", "payment_date")
               if (value := text(data.get(key))) is not None}
    if code is None and answer.status >= 500:
        raise ProviderUnavailable(f"CinetPay's check answered HTTP {answer.status}")
    if status == "ACCEPTED" and code in ("00", None):
        return Outcome(ProviderStatus.SUCCEEDED, provider_reference, receipt, amount=amount)
    if status == "REFUSED" or code in _FAILED_CODES:
        return Outcome(ProviderStatus.FAILED, provider_reference, receipt, error_code="declined",
                       message=f"CinetPay: {text(answer.field('message')) or 'refused'}", amount=amount)
    if answer.status == 404 or text(answer.field("message")) == "TRANSACTION_NOT_FOUND":
        return Outcome(ProviderStatus.FAILED, error_code="unknown_order",
                       message=f"CinetPay has no transaction {order_id!r}")
    # Waiting for the customer, or a code CinetPay does not document: keep asking.
    return Outcome(ProviderStatus.PENDING, provider_reference, receipt, amount=amount,
                   message=f"CinetPay: {text(answer.field('message')) or code}")
