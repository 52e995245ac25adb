"""The operators' rules for quiet hours and marketing (``SIKA_NOTICES``, JSON; every field optional).

```json
{"night": {"start": "21:00", "end": "07:00"}, "prayer_before_min": 10, "prayer_after_min": 20,
 "suhoor": {"start": "fajr-60min", "end": "fajr", "days": "ramadan"},
 "iftar": {"start": "maghrib-30min", "end": "maghrib+30min", "days": "ramadan"},
 "marketing_per_day": 1, "marketing_per_week": 3, "marketing_stale_h": 24}
```
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from sika.calendar import Window, around_prayers, parse_window
from sika.notices.preferences import Quiet

__all__ = ["NoticeRules", "quiet_windows"]


class NoticeRules(BaseModel, frozen=True, extra="forbid"):
    night: Window = Field(default_factory=lambda: parse_window({"start": "21:00", "end": "07:00"}))
    prayer_before_min: int = Field(default=10, ge=0, le=120)
    prayer_after_min: int = Field(default=20, ge=0, le=120)
    suhoor: Window = Field(default_factory=lambda: parse_window(
        {"start": "fajr-60min", "end": "fajr", "days": "ramadan"}))
    iftar: Window = Field(default_factory=lambda: parse_window(
        {"start": "maghrib-30min", "end": "maghrib+30min", "days": "ramadan"}))
    marketing_per_day: int = Field(default=1, ge=0, le=50)
    marketing_per_week: int = Field(default=3, ge=0, le=200)
    # A marketing message that cannot go within this many hours of being written is dropped.
    marketing_stale_h: int = Field(default=24, ge=1, le=24 * 14)

    @model_validator(mode="after")
    def _some_minutes(self) -> NoticeRules:
        if self.prayer_before_min + self.prayer_after_min == 0:
            raise ValueError("prayer quiet hours need minutes before or after the prayer")
        return self


def quiet_windows(quiet: Quiet, rules: NoticeRules) -> tuple[Window, ...]:
    """The windows in which a customer with this profile gets no marketing (their union)."""
    if quiet == "off":
        return ()
    if quiet == "night":
        return (rules.night,)
    prayers = around_prayers(rules.prayer_before_min, rules.prayer_after_min)
    if quiet == "prayer":
        return prayers
    return (*prayers, rules.suhoor, rules.iftar)
