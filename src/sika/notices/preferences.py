"""What a customer chose: a quiet profile and marketing consent (opt-in: off until they say yes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["CONSENT_VIA", "QUIET_PROFILES", "ConsentVia", "Preferences", "Quiet"]

Quiet = Literal["off", "night", "prayer", "ramadan"]
QUIET_PROFILES: tuple[Quiet, ...] = get_args(Quiet)
# How consent was given or withdrawn, kept with it (a regulator asks "when and how").
ConsentVia = Literal["api", "admin", "chat", "whatsapp", "sms", "ussd", "stop"]
CONSENT_VIA: tuple[ConsentVia, ...] = get_args(ConsentVia)


@dataclass(frozen=True, slots=True)
class Preferences:
    msisdn: str
    quiet: Quiet = "off"
    marketing: bool = False
    consent_at_ns: int | None = None  # when marketing consent was last given or withdrawn
    consent_via: str | None = None
    consent_asked_at_ns: int | None = None  # asked once: never again after this
    city: str | None = None  # the city whose prayer times apply; None: the number's country's first city
    updated_at_ns: int | None = None
    marketing_paused_until_ns: int | None = None  # Meta's 131049: no marketing before then
