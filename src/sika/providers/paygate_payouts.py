"""PayGate Global payouts: money from our PayGate balance to a Flooz or T-Money wallet (drivers,
merchants).

Wire format, as PayGate's published client libraries send it (filanodev/paygate-js-sdk,
``packages/core/src/client.ts``, ``disburse``): ``POST {url}/api/v1/disburse`` (JSON) with
``auth_token``, ``phone_number`` (the 8 national digits), ``amount`` (XOF), ``reason``,
``reference`` (ours: the payout's id) and ``network`` (``FLOOZ`` or ``TMONEY``). The answer is
``{"tx_reference", "status"}`` where status 200 means the transfer was made; any other status is a
refusal. PayGate's public documentation does not say more: there is no status endpoint for a payout,
no callback, and nothing says whether a second request with the same ``reference`` is refused as a
duplicate. So:

* a payout whose answer is lost (timeout, cut connection, 5xx) is **not** retried, and its outcome is
  unknown (:class:`~sika.providers.base.ProviderUnavailable`): the hold stays, ``sika reconcile``
  lists it, and an operator settles it after looking at PayGate's dashboard (``sika payout
  resolve``);
* ``SIKA_PAYGATE_DISBURSE_REFERENCE_IDEMPOTENT=true`` (once PayGate confirms in writing that a
  repeated ``reference`` is refused) makes such payouts retried with the same ``reference``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sika.providers._checks import require_togo_msisdn
from sika.providers._http import Http
from sika.providers._wire import integer, text
from sika.providers.base import Outcome, ProviderRejected, ProviderStatus, ProviderUnavailable
from sika.providers.paygate import NETWORKS, PayGateConfig

__all__ = ["PayGatePayouts", "Payout", "Payouts"]

_SENT = 200
REASON_CHARS_MAX = 100


@dataclass(frozen=True, slots=True)
class Payout:
    """Money out to a mobile-money wallet. ``id`` is ours and travels as the provider's reference."""

    id: str
    msisdn: str
    network: str
    amount: int
    reason: str

    def __post_init__(self) -> None:
        assert 0 < len(self.id) <= 64 and self.id.isascii() and " " not in self.id, self.id
        assert isinstance(self.amount, int) and not isinstance(self.amount, bool) and self.amount > 0


class Payouts:
    """What the payments code needs from a payout provider (PayGate, or another later)."""

    name: str

    def check(self, payout: Payout) -> None:
        """Refuse, before any money is held, what the provider would refuse (ProviderRejected)."""

    def send(self, payout: Payout) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


class PayGatePayouts(Payouts):
    name = "paygate"

    def __init__(self, config: PayGateConfig, *, reference_idempotent: bool = False) -> None:
        self.config = config
        self.reference_idempotent = reference_idempotent
        self._http = Http(config.url, provider="PayGate", timeout_s=config.timeout_s,
                          retries_max=config.retries_max)

    def close(self) -> None:
        self._http.close()

    def check(self, payout: Payout) -> None:
        """Refuse, before any money is held, what PayGate would refuse."""
        if payout.network not in NETWORKS:
            raise ProviderRejected(f"PayGate pays out to {' and '.join(NETWORKS)} only",
                                   code="unknown_product")
        require_togo_msisdn(payout.msisdn)
        if not payout.reason.strip() or len(payout.reason) > REASON_CHARS_MAX:
            raise ProviderRejected(f"a payout's reason is 1 to {REASON_CHARS_MAX} characters",
                                   code="invalid_reference")

    def send(self, payout: Payout) -> Outcome:
        self.check(payout)
        answer = self._http.post_json("/api/v1/disburse", {
            "auth_token": self.config.auth_token,
            "phone_number": payout.msisdn.removeprefix("+228"),
            "amount": payout.amount,
            "reason": payout.reason,
            "reference": payout.id,
            "network": payout.network,
        }, idempotent=self.reference_idempotent)
        code = integer(answer.field("status"))
        tx_reference = text(answer.field("tx_reference"))
        receipt = {"network": payout.network, "msisdn": payout.msisdn}
        if tx_reference:
            receipt["tx_reference"] = tx_reference
        if code == _SENT:
            return Outcome(ProviderStatus.SUCCEEDED, tx_reference, receipt, amount=payout.amount)
        if code is None:
            raise ProviderUnavailable(f"PayGate's disburse answered HTTP {answer.status} without a status")
        return Outcome(ProviderStatus.FAILED, tx_reference, receipt, error_code="payout_refused",
                       message=f"PayGate refused the payout (status {code})")
