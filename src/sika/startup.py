"""What ``sika serve`` and ``sika worker`` check and say before they start.

* **Development defaults.** Settings whose default is only fit for a developer's machine: with
  ``SIKA_ENV=production`` the process refuses to start on any of them (one line on stderr, exit
  code 2); otherwise it starts and warns about each.
* **Which providers are live**, which are not and what they lack, and where each calls back.
"""

from __future__ import annotations

from collections.abc import Callable

from sika.config import Settings
from sika.errors import SikaError
from sika.providers import BRANDS, Providers

__all__ = ["DEVELOPMENT_PROMO_CODE_KEY", "DEVELOPMENT_VOUCHER_KEY", "InsecureDefaults", "check_defaults",
           "development_defaults", "provider_banner"]

# Settings' own default: what a production start must not find.
DEVELOPMENT_VOUCHER_KEY: str = Settings.model_fields["voucher_key"].default
DEVELOPMENT_PROMO_CODE_KEY: str = Settings.model_fields["promo_code_key"].default


class InsecureDefaults(SikaError):
    code = "insecure_defaults"


def development_defaults(settings: Settings) -> list[tuple[str, str]]:
    """(variable, why) for every setting left at a default that production must not run on."""
    found: list[tuple[str, str]] = []
    if settings.voucher_key == DEVELOPMENT_VOUCHER_KEY:
        found.append(("SIKA_VOUCHER_KEY", "is the development key: anyone could forge voucher codes"))
    if settings.promo_code_key == DEVELOPMENT_PROMO_CODE_KEY:
        found.append(("SIKA_PROMO_CODE_KEY", "is the development key: promotion codes' digests are not "
                                             "secret"))
    if settings.pin_pepper is None:
        found.append(("SIKA_PIN_PEPPER", "is unset: a copy of the database alone lets anyone try the "
                                         "10,000 PINs against each hash"))
    if settings.providers in ("sandbox", "instant"):
        found.append(("SIKA_PROVIDERS", f"is {settings.providers}: local fakes stand in for the providers"))
    if settings.paygate_auth_token and not settings.paygate_callback_token:
        found.append(("SIKA_PAYGATE_CALLBACK_TOKEN",
                      "is unset: PayGate's unsigned callbacks carry no secret"))
    if settings.africastalking_api_key and not settings.africastalking_callback_token:
        found.append(("SIKA_AFRICASTALKING_CALLBACK_TOKEN",
                      "is unset: Africa's Talking's unsigned callbacks carry no secret"))
    if settings.public_url and not settings.public_url.startswith("https://") \
            and settings.providers == "live":
        found.append(("SIKA_PUBLIC_URL", "is not https: providers would call back in clear text"))
    return found


def check_defaults(settings: Settings, warn: Callable[[str], None]) -> None:
    """Raise :class:`InsecureDefaults` in production; else ``warn`` about each default."""
    found = development_defaults(settings)
    if not found:
        return
    if settings.env == "production":
        names = ", ".join(name for name, _ in found)
        raise InsecureDefaults(f"refusing to start with SIKA_ENV=production on development defaults: {names} "
                               "(see docs/deploy.md)")
    for name, why in found:
        warn(f"sika: warning: {name} {why}; fine for development, not for production")


def provider_banner(providers: Providers, settings: Settings) -> list[str]:
    """Lines saying which providers are live, and which are not with what they lack."""
    served: dict[str, list[str]] = {}
    for route in providers.live():
        brand = BRANDS[route.brand]
        what = next(s.label for s in brand.services if s.prefix == route.prefix)
        label = f"{brand.display_name} {what}"
        names = served.setdefault(route.adapter.name, [])
        if label not in names:
            names.append(label)
    lines = []
    fakes = " (local fakes on 127.0.0.1: nothing real moves)" if settings.providers in ("sandbox",
                                                                                       "instant") else ""
    if served:
        lines.append("sika: live providers" + fakes + ": " + "; ".join(
            f"{name} ({', '.join(labels)})" for name, labels in sorted(served.items())))
    else:
        lines.append("sika: no provider is live: card top-ups, airtime, bills and data are refused "
                     "(503 provider_not_configured)")
    if providers.missing:
        lines.append("sika: not configured: " + "; ".join(
            f"{name} ({why})" for name, why in sorted(providers.missing.items())))
    return lines
