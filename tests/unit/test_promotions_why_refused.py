"""Which meter refused a reward names the reason "why no reward?" gives: the campaign's cap, the
phone's own cap, or owed francs another payment kept back a moment before."""

from __future__ import annotations

from sika.ledger import TransferResult
from sika.payments.movements import Code
from sika.promotions.eligibility import Reason
from sika.promotions.explain import _refused


def test_a_refused_meter_leg_says_which_cap_it_was() -> None:
    full = str(TransferResult.EXCEEDS_BALANCE_MAX)
    assert _refused(Code.REWARD_METER, full, "m0") is Reason.CAP_REACHED
    assert _refused(Code.REWARD_METER, full, "v2") is Reason.DEVICE_CAP_REACHED
    assert _refused(Code.REWARD_METER, full, "o0") is Reason.OWED_TAKEN
    assert _refused(Code.REWARD_METER, full, "") is Reason.CAP_REACHED  # recorded before legs were named
    assert _refused(Code.REWARD, full, "r") is Reason.WALLET_FULL
    assert _refused(Code.REWARD, str(TransferResult.EXISTS_WITH_DIFFERENT_FIELDS), "r") is \
        Reason.ALREADY_REWARDED
