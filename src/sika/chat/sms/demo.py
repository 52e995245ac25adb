"""``sika serve --demo``'s SMS gateway: the fake Africa's Talking (``sika_fakes.sms``) on 127.0.0.1.

The demo sends real HTTP to it, and its delivery reports come back to the server's callback: what a
voucher's recipient would read is listed at ``GET {fake}/messages``.
"""

from __future__ import annotations

from typing import Any, Protocol

from sika.errors import SikaError

__all__ = ["DemoSms", "start_demo_sms"]


class DemoSms(Protocol):
    @property
    def url(self) -> str: ...

    def close(self) -> None: ...


def start_demo_sms(server_url: str, sender_id: str | None = None, *,
                   token: str | None = None) -> tuple[DemoSms, dict[str, Any]]:
    """Start the fake gateway; returns it and the settings that point Sika's SMS adapter at it
    (its delivery reports go to ``server_url``'s callback, with ``token`` when one is configured)."""
    try:
        from sika_fakes.sms import FakeSms  # noqa: PLC0415 (only the demo needs the fakes)
    except ImportError as exc:  # a production install carries no fakes
        raise SikaError("the demo's SMS gateway is in the sika-fakes distribution: install it (make does)",
                        code="fakes_missing") from exc
    # The callback token is the one every Africa's Talking callback (USSD included) must carry: a demo
    # keeps the configured one, or none, so that a person can still try USSD with a plain curl.
    callback = f"{server_url.rstrip('/')}/webhooks/africastalking/sms"
    fake = FakeSms(callback_url=f"{callback}?token={token}" if token else callback)
    fake.start()
    overrides = {**fake.settings, "sms_sender_id": sender_id or "Sika"}
    return fake, overrides
