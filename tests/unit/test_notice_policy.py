"""The notification policy, decided for Lomé on 1 March 2026 (the 12th day of Ramadan 1447: Fajr 04:58,
Dhuhr 12:08, Maghrib 18:07, Isha 19:13, UTC+0): marketing waits for the customer's window, receipts
and codes never wait, and every answer says why in words a person reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sika.calendar import Calendar
from sika.chat.i18n import translator
from sika.chat.texts.notices import reason_text
from sika.notices import NoticeRules, Preferences, category_of, decide
from sika.notices.policy import Decision
from sika.notices.preferences import Quiet
from sika.notices.rules import quiet_windows
from sika.rides.cities import DEFAULT_CITIES

LOME = ZoneInfo("Africa/Lome")
CALENDAR = Calendar(DEFAULT_CITIES)
RULES = NoticeRules()
AMA = "+22890112233"


def _at(hhmm: str, day: str = "2026-03-01") -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}+00:00")


def _decide(quiet: Quiet, category: str, at: datetime, *, marketing: bool = True,
            sent: tuple[datetime, ...] = (), written: datetime | None = None) -> Decision:
    windows = quiet_windows(quiet, RULES)
    schedule = CALENDAR.schedule(windows, "lome") if windows else None
    return decide(Preferences(AMA, quiet=quiet, marketing=marketing), category_of(category), at, rules=RULES,
                  quiet=schedule, zone=LOME, sent=sent, written=written)


def _sentence(decision: Decision, language: str = "en") -> str | None:
    return reason_text(translator(language), {"reason": decision.reason, **decision.values})


def test_kinds_fall_in_the_four_categories() -> None:
    assert category_of("pin_reset_code") == "security"
    assert category_of("receipt_transfer_received") == "transaction"
    assert category_of("voucher_received") == "transaction"
    assert category_of("ride_assigned") == "service"
    assert category_of("marketing_campaign") == "marketing"


@pytest.mark.parametrize("quiet", ["prayer", "ramadan"])
def test_marketing_waits_past_maghrib_in_lome_on_a_ramadan_day_while_a_receipt_goes_at_once(
        quiet: Quiet) -> None:
    at = _at("18:00")
    receipt = _decide(quiet, "receipt_transfer_received", at)
    assert (receipt.action, receipt.send_at) == ("send", at)
    assert _sentence(receipt) == "sent at once: transaction messages always go at once"
    promo = _decide(quiet, "marketing_campaign", at)
    assert promo.action == "hold"
    assert promo.send_at is not None and promo.send_at > _at("18:07")  # after Maghrib
    expected = {"prayer": _at("18:27"), "ramadan": _at("18:37")}[quiet]  # +20 min, or the iftar hour's end
    assert promo.send_at == expected
    assert _sentence(promo) == f"held until {expected:%H:%M}, after Maghrib"
    assert _sentence(promo, "fr") == f"retenu jusqu'à {expected:%H:%M}, après Maghrib"


def test_released_after_the_window_it_goes_at_once() -> None:
    assert _decide("prayer", "marketing_campaign", _at("18:27")).action == "send"
    after_isha = _decide("prayer", "marketing_campaign", _at("19:10"))
    assert (after_isha.action, after_isha.send_at) == ("hold", _at("19:33"))
    assert _sentence(after_isha) == "held until 19:33, after Isha"


def test_security_and_service_go_at_once_even_to_the_opted_out_in_quiet_hours() -> None:
    for kind in ("pin_reset_code", "ride_assigned"):
        decision = _decide("ramadan", kind, _at("18:00"), marketing=False)
        assert decision.action == "send"


def test_the_opted_out_get_no_marketing_at_any_hour() -> None:
    for hhmm in ("10:00", "18:00", "22:30"):
        decision = _decide("off", "marketing_campaign", _at(hhmm), marketing=False)
        assert (decision.action, decision.send_at) == ("drop", None)
    assert _sentence(decision) == "dropped: the customer has not agreed to receive marketing"


def test_night_quiet_hours_hold_until_seven_the_next_morning() -> None:
    decision = _decide("night", "marketing_campaign", _at("22:30"))
    assert (decision.action, decision.send_at) == ("hold", _at("07:00", "2026-03-02"))
    assert _sentence(decision) == "held until 2026-03-02 07:00, the end of the customer's quiet hours"


def test_one_marketing_message_a_day_the_second_waits_for_tomorrow() -> None:
    decision = _decide("off", "marketing_campaign", _at("10:00"), sent=(_at("09:00"),))
    assert (decision.action, decision.send_at) == ("hold", _at("00:00", "2026-03-02"))
    assert _sentence(decision) == "held until 2026-03-02 00:00: at most 1 marketing messages a day"


def test_three_a_week_the_fourth_waits_for_monday() -> None:
    # 1 March 2026 is a Sunday; three sent Thursday to Saturday.
    sent = (_at("10:00", "2026-02-26"), _at("10:00", "2026-02-27"), _at("10:00", "2026-02-28"))
    decision = _decide("off", "marketing_campaign", _at("10:00"), sent=sent)
    assert (decision.action, decision.reason) == ("hold", "cap_week")
    assert decision.send_at == _at("00:00", "2026-03-02")


def test_marketing_that_cannot_go_within_a_day_of_being_written_is_dropped() -> None:
    written = _at("10:00") - timedelta(hours=23, minutes=50)
    decision = _decide("prayer", "marketing_campaign", _at("18:00"), written=written)
    assert (decision.action, decision.send_at, decision.reason) == ("drop", None, "stale")
    assert _sentence(decision) == "dropped: it could not go within 24 h of being written"
