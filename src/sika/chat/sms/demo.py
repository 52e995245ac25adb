"""``sika serve --demo``'s SMS gateway: the fake Africa's Talking (``sika_fakes.sms``) on 127.0.0.1.

The demo sends real HTTP to it, and its delivery reports come back to the server's callback: what a
voucher's recipient would read is listed at ``GET {fake}/messages``.
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol

from sika.errors import SikaError

__all__ = ["DemoSms", "start_demo_sms"]


class DemoSms(Protocol):
    @property
    def url(self) -> str: ...

    def close(self) -> None: ...


def start_demo_sms(server_url: str, sender_id: str | None = None) -> tuple[DemoSms, dict[str, Any]]:
    """Start the fake gateway; returns it and the settings that point Sika's SMS adapter at it
    (its delivery reports go to ``server_url``'s callback, with a fresh token)."""
    try:
        from sika_fakes.sms import FakeSms  # noqa: PLC0415 (only the demo needs the fakes)
    except ImportError as exc:  # a production install carries no fakes
        raise SikaError("the demo's SMS gateway is in the sika-fakes distribution: install it (make does)",
                        code="fakes_missing") from exc
    token = secrets.token_urlsafe(24)
    fake = FakeSms(callback_url=f"{server_url.rstrip('/')}/webhooks/africastalking/sms?token={token}")
    fake.start()
    overrides = {**fake.settings, "africastalking_callback_token": token,
                 "sms_sender_id": sender_id or "Sika"}
    return fake, overrides
