"""Which providers are live, from the settings: each adapter is built only when its settings are
complete; the rest are listed with what they lack (``sika serve`` prints both).

With ``SIKA_PROVIDERS=sandbox`` or ``instant`` the adapters are the same, pointed at local fakes of
the providers that the separate ``sika-fakes`` distribution serves over HTTP on 127.0.0.1: the demo
exercises the production code path. Providers call back on ``<public URL>/v1/providers/<name>/callback``;
without a public URL (tests, ``sika chat``) the local fakes hand their callbacks to
:class:`CallbackRelay`, which runs them through the same adapter code in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sika.config import Settings
from sika.errors import ConfigurationError
from sika.providers.africastalking import AfricasTalkingAirtime, AirtimeConfig
from sika.providers.base import CallbackRequest, Gateway
from sika.providers.biller import BillerAggregator, BillerConfig
from sika.providers.cinetpay import CinetPay, CinetPayConfig
from sika.providers.paygate import PayGate, PayGateConfig
from sika.providers.paygate_payouts import PayGatePayouts
from sika.providers.registry import Providers, Route

__all__ = ["ADAPTERS", "CallbackRelay", "build_providers", "callback_url", "live_providers", "payouts"]

log = logging.getLogger(__name__)

# Adapter families, as ``sika serve`` names them.
ADAPTERS = ("africastalking", "biller", "cinetpay", "paygate")
CALLBACK_PATH = "/v1/providers/{name}/callback"
_BILLER_ROUTES = (("ceet", "electricity"), ("tde", "water"), ("canal", "tv:"), ("togocom", "data:"),
                  ("moov", "data:"))
# Stands for this process when there is no public URL: the local fakes never dial it.
IN_PROCESS_URL = "http://sika.in-process.invalid"
_REFUSED_KEPT = 100


@dataclass
class CallbackRelay:
    """Callbacks of local fakes delivered in this process, through the adapters' own checks.

    ``target`` is set once the purchases service exists: ``(gateway name, request) -> None``.
    """

    target: Callable[[str, CallbackRequest], object] | None = None
    refused: list[str] = field(default_factory=list)

    def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if self.target is None or len(segments) != 4 or segments[:2] != ["v1", "providers"]:
            return 404
        request = CallbackRequest(headers={k.lower(): v for k, v in headers.items()},
                                  query=dict(parse_qsl(parts.query)), body=body, client_host="127.0.0.1")
        try:
            self.target(segments[2], request)
        except Exception as exc:  # a refused callback is the provider's problem, as over HTTP
            self.refused.append(f"{segments[2]}: {exc}")
            del self.refused[:-_REFUSED_KEPT]
            log.info("in-process callback to %s refused: %s", segments[2], exc)
            return 401
        return 200


def callback_url(settings: Settings, name: str, token: str | None = None) -> str | None:
    """Where provider ``name`` calls back, with its token; None without a public URL."""
    if not settings.public_url:
        return None
    url = settings.public_url.rstrip("/") + CALLBACK_PATH.format(name=name)
    return f"{url}?token={token}" if token else url


def build_providers(settings: Settings, relay: CallbackRelay | None = None) -> Providers:
    if settings.providers == "off":
        return Providers(missing=dict.fromkeys(ADAPTERS, "SIKA_PROVIDERS=off"))
    if settings.providers in ("sandbox", "instant"):
        return _local_fakes(settings, relay)
    return live_providers(settings)


def live_providers(settings: Settings, *, owned: tuple[object, ...] = ()) -> Providers:
    routes: list[Route] = []
    gateways: list[Gateway] = []
    missing: dict[str, str] = {}
    kept: list[object] = list(owned)
    for name, build in (("paygate", _paygate), ("cinetpay", _cinetpay), ("africastalking", _airtime),
                        ("biller", _biller)):
        lacking = _lacking(settings, name)
        if lacking:
            missing[name] = "set " + ", ".join(lacking)
            continue
        gateway, built = build(settings)
        routes += built
        gateways.append(gateway)
        kept.append(gateway)
    return Providers(routes, gateways=gateways, missing=missing, owned=kept)


def payouts(settings: Settings) -> PayGatePayouts | None:
    """PayGate's payouts when PayGate is configured (never through the local fakes' collections)."""
    if _lacking(settings, "paygate") or settings.providers == "off":
        return None
    return PayGatePayouts(_paygate_config(settings),
                          reference_idempotent=settings.paygate_disburse_reference_idempotent)


def _lacking(settings: Settings, name: str) -> list[str]:
    needs: dict[str, tuple[tuple[str, object], ...]] = {
        "paygate": (("SIKA_PAYGATE_AUTH_TOKEN", settings.paygate_auth_token),),
        "cinetpay": (("SIKA_CINETPAY_APIKEY", settings.cinetpay_apikey),
                     ("SIKA_CINETPAY_SITE_ID", settings.cinetpay_site_id),
                     ("SIKA_CINETPAY_SECRET_KEY", settings.cinetpay_secret_key),
                     ("SIKA_PUBLIC_URL", settings.public_url)),
        "africastalking": (("SIKA_AFRICASTALKING_USERNAME", settings.africastalking_username),
                           ("SIKA_AFRICASTALKING_API_KEY", settings.africastalking_api_key)),
        "biller": (("SIKA_BILLER_URL", settings.biller_url), ("SIKA_BILLER_API_KEY", settings.biller_api_key),
                   ("SIKA_BILLER_SECRET", settings.biller_secret)),
    }
    return [variable for variable, value in needs[name] if not value]


def _timeouts(settings: Settings) -> dict[str, Any]:
    return {"timeout_s": settings.provider_timeout_s, "retries_max": settings.provider_retries_max}


def _paygate_config(settings: Settings) -> PayGateConfig:
    assert settings.paygate_auth_token
    return PayGateConfig(settings.paygate_url, settings.paygate_auth_token,
                         callback_token=settings.paygate_callback_token,
                         allowed_ips=settings.paygate_allowed_ips, **_timeouts(settings))


def _paygate(settings: Settings) -> tuple[Gateway, list[Route]]:
    adapter = PayGate(_paygate_config(settings))
    return adapter, [Route("paygate", "wallet_topup:", adapter)]


def _cinetpay(settings: Settings) -> tuple[Gateway, list[Route]]:
    assert settings.cinetpay_apikey and settings.cinetpay_site_id and settings.cinetpay_secret_key
    notify_url = callback_url(settings, "cinetpay")
    assert notify_url is not None and settings.public_url
    adapter = CinetPay(CinetPayConfig(
        settings.cinetpay_url, settings.cinetpay_apikey, settings.cinetpay_site_id,
        settings.cinetpay_secret_key, notify_url=notify_url,
        return_url=settings.cinetpay_return_url or settings.public_url.rstrip("/") + "/",
        **_timeouts(settings)))
    return adapter, [Route("card", "card_topup", adapter), Route("card", "card_payment", adapter)]


def _airtime(settings: Settings) -> tuple[Gateway, list[Route]]:
    assert settings.africastalking_username and settings.africastalking_api_key
    adapter = AfricasTalkingAirtime(AirtimeConfig(
        settings.africastalking_airtime_url or settings.africastalking_url, settings.africastalking_username,
        settings.africastalking_api_key, callback_token=settings.africastalking_callback_token,
        allowed_ips=settings.africastalking_allowed_ips, currency=settings.africastalking_currency,
        status_path=settings.africastalking_airtime_status_path, **_timeouts(settings)))
    return adapter, [Route("togocom", "airtime", adapter), Route("moov", "airtime", adapter)]


def _biller(settings: Settings) -> tuple[Gateway, list[Route]]:
    assert settings.biller_url and settings.biller_api_key and settings.biller_secret
    aggregator = BillerAggregator(BillerConfig(settings.biller_url, settings.biller_api_key,
                                               settings.biller_secret, callback_url(settings, "biller"),
                                               **_timeouts(settings)))
    return aggregator, [Route(brand, prefix, aggregator.view(brand)) for brand, prefix in _BILLER_ROUTES]


def _local_fakes(settings: Settings, relay: CallbackRelay | None) -> Providers:
    try:
        from sika_fakes.local import start  # noqa: PLC0415 (only demos and tests have it)
    except ImportError as exc:
        raise ConfigurationError(
            f"SIKA_PROVIDERS={settings.providers} needs the local fakes of the sika-fakes distribution "
            "(`pip install -e fakes`; make installs it); a production install has none",
            code="fakes_not_installed") from exc
    public = settings.public_url
    local = start(instant=settings.providers == "instant", callback_base_url=public or IN_PROCESS_URL,
                  deliver=None if public else relay)
    configured = settings.model_copy(update={**local.settings, "public_url": public or IN_PROCESS_URL})
    return live_providers(configured, owned=(local,))
