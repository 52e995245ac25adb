"""The notification policy's reasons as sentences ("held until 19:20, after Isha"), in a language.

:mod:`sika.notices.policy` decides and gives a reason code with its values; the outbox keeps them as
JSON; this makes the sentence an operator reads in the console or ``sika notifications explain``,
and a customer in their notifications feed.
"""

from __future__ import annotations

import json
from typing import Any

from sika.chat.i18n import N_, Translator

__all__ = ["reason_text"]

_PRAYERS = {"fajr": N_("Fajr"), "sunrise": N_("sunrise"), "dhuhr": N_("Dhuhr"), "asr": N_("Asr"),
            "maghrib": N_("Maghrib"), "isha": N_("Isha")}
_CATEGORIES = {"security": N_("security"), "transaction": N_("transaction"), "service": N_("service"),
               "marketing": N_("marketing")}


def reason_text(t: Translator, reason: str | dict[str, Any] | None) -> str | None:
    """The sentence for a stored reason (JSON text or its object); None when there is none."""
    if reason is None:
        return None
    values: dict[str, Any] = json.loads(reason) if isinstance(reason, str) else dict(reason)
    code = values.get("reason")
    when = _when(values)
    if code == "immediate":
        category = t(_CATEGORIES.get(str(values.get("category")), N_("service")))
        return t("sent at once: {category} messages always go at once", category=category)
    if code == "open":
        return t("sent at once: outside the customer's quiet hours, and within the marketing cap")
    if code == "no_consent":
        return t("dropped: the customer has not agreed to receive marketing")
    if code == "stale":
        return t("dropped: it could not go within {hours} h of being written",
                 hours=values.get("stale_h", ""))
    prayer = _PRAYERS.get(str(values.get("prayer")))
    if code == "quiet" and prayer is not None:
        return t("held until {time}, after {prayer}", time=when, prayer=t(prayer))
    if code == "quiet":
        return t("held until {time}, the end of the customer's quiet hours", time=when)
    if code == "paused":
        return t("held until {time}: WhatsApp asked for a pause in offers to this customer", time=when)
    if code == "cap_day":
        return t("held until {time}: at most {count} marketing messages a day", time=when,
                 count=values.get("per_day", ""))
    if code == "cap_week":
        return t("held until {time}: at most {count} marketing messages a week", time=when,
                 count=values.get("per_week", ""))
    return None


def _when(values: dict[str, Any]) -> str:
    """``19:20``, with the date when the reason has one (a hold to another day is clearer so)."""
    time = str(values.get("time", ""))
    date = values.get("date")
    return f"{date} {time}" if date else time
