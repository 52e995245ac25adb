"""One amount limit: every bound on an amount is sika.payments.limits.AMOUNT_MAX."""

from __future__ import annotations

import pytest

from sika.api import fields
from sika.chat import shortcuts
from sika.errors import SikaError
from sika.payments import fees
from sika.payments.limits import AMOUNT_MAX, check_amount
from sika.promotions import rules
from sika.wallet import tiers


def test_every_amount_bound_is_the_one_limit() -> None:
    assert fields.AMOUNT_MAX is AMOUNT_MAX
    assert shortcuts.AMOUNT_MAX is AMOUNT_MAX
    assert rules.AMOUNT_MAX is AMOUNT_MAX
    assert fees.AMOUNT_MAX is AMOUNT_MAX
    # The wallet sits below payments and restates it for its configured limits: the same number.
    assert tiers._XOF_MAX == AMOUNT_MAX


@pytest.mark.parametrize("amount", [0, -1, AMOUNT_MAX + 1, True, 1.5])
def test_an_amount_outside_the_limit_is_invalid_amount(amount: object) -> None:
    with pytest.raises(SikaError) as refused:
        check_amount(amount)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_amount"


def test_the_largest_amount_is_accepted() -> None:
    check_amount(AMOUNT_MAX)
    check_amount(1)
