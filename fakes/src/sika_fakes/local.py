"""Every provider fake at once, on free ports of 127.0.0.1, with the settings that point Sika's real
adapters at them: what ``SIKA_PROVIDERS=sandbox`` (``sika serve --demo``) and ``instant`` (tests)
start in Sika's process.

Sika calls back on ``<public URL>/v1/providers/<name>/callback``: the fakes send their callbacks
there, over HTTP, or to ``deliver`` when Sika has no public URL (it relays them in its process).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sika_fakes._server import Deliver, FakeServer
from sika_fakes.africastalking import FakeAfricasTalking
from sika_fakes.behaviour import Behaviour
from sika_fakes.biller import FakeBiller
from sika_fakes.cinetpay import FakeCinetPay
from sika_fakes.paygate import FakePayGate

__all__ = ["LocalFakes", "start"]


@dataclass
class LocalFakes:
    paygate: FakePayGate
    cinetpay: FakeCinetPay
    africastalking: FakeAfricasTalking
    biller: FakeBiller
    # Sika's settings (field names) that point its adapters at these fakes.
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def servers(self) -> list[FakeServer]:
        return [self.paygate, self.cinetpay, self.africastalking, self.biller]

    def environment(self) -> dict[str, str]:
        """The same settings as ``SIKA_*`` environment variables, for a person to copy."""
        return {f"SIKA_{name.upper()}": str(value) for name, value in self.settings.items()}

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        return all(server.wait_idle(timeout_s) for server in self.servers)

    def close(self) -> None:
        for server in self.servers:
            server.close()


def start(*, instant: bool = False, callback_base_url: str | None = None, deliver: Deliver | None = None,
          behaviour: Behaviour | None = None) -> LocalFakes:
    """Start the four provider fakes. ``instant``: no latency and no random misbehaviour (magic
    references still misbehave); otherwise a provider's usual latency, failures and late callbacks."""
    chosen = behaviour if behaviour is not None else (Behaviour.at_once() if instant else Behaviour())
    base = (callback_base_url or "").rstrip("/")
    paygate_token, at_token = secrets.token_urlsafe(18), secrets.token_urlsafe(18)

    def callback(name: str, token: str | None = None) -> str | None:
        if not base:
            return None
        url = f"{base}/v1/providers/{name}/callback"
        return f"{url}?token={token}" if token else url

    fakes = LocalFakes(
        paygate=FakePayGate(chosen, auth_token=secrets.token_hex(12),
                            callback_url=callback("paygate", paygate_token), deliver=deliver).start(),
        cinetpay=FakeCinetPay(chosen, apikey=secrets.token_hex(12), secret_key=secrets.token_hex(16),
                              deliver=deliver).start(),
        africastalking=FakeAfricasTalking(chosen, api_key=secrets.token_hex(12),
                                          callback_url=callback("africastalking", at_token),
                                          deliver=deliver).start(),
        biller=FakeBiller(chosen, api_key=secrets.token_hex(12), secret=secrets.token_hex(16),
                          deliver=deliver).start(),
    )
    fakes.settings = {
        "paygate_url": fakes.paygate.url, "paygate_auth_token": fakes.paygate.auth_token,
        "paygate_callback_token": paygate_token, "paygate_allowed_ips": "",
        "cinetpay_url": fakes.cinetpay.url, "cinetpay_apikey": fakes.cinetpay.apikey,
        "cinetpay_site_id": fakes.cinetpay.site_id, "cinetpay_secret_key": fakes.cinetpay.secret_key,
        "africastalking_airtime_url": fakes.africastalking.url,
        "africastalking_username": fakes.africastalking.username,
        "africastalking_api_key": fakes.africastalking.api_key, "africastalking_callback_token": at_token,
        "africastalking_allowed_ips": "",
        "biller_url": fakes.biller.url, "biller_api_key": fakes.biller.api_key,
        "biller_secret": fakes.biller.secret,
    }
    if instant:
        # Tests: a short timeout, so that a slow answer (magic 4) times out at once.
        fakes.settings |= {"provider_timeout_s": 0.5, "provider_retries_max": 2}
    return fakes
