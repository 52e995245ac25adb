"""Monthly inflow meters on SQLite and PostgreSQL: one meter a wallet and month, its cap kept at the
tier's limit, found with its cap in one read by a process that has not met it yet."""

from __future__ import annotations

import pytest
from reads_support import selects, statements_run
from sqlalchemy import Engine

from sika.ledger import Ledger
from sika.payments.meters import InflowMeters
from sika.wallet import Customers

MONTH = "2026-12"


@pytest.fixture
def customer_id(engine: Engine, ledger: Ledger) -> int:
    return Customers(engine, ledger).open("90112233", "Ama").id


def test_a_process_that_meets_a_meter_finds_it_and_its_cap_in_one_read(
    engine: Engine, ledger: Ledger, customer_id: int
) -> None:
    opened = InflowMeters(engine, ledger).account(customer_id, MONTH, 500_000)
    assert ledger.get_account(opened).balance_max == 500_000
    other = InflowMeters(engine, ledger)  # another process: nothing of the first one's cache
    with statements_run(engine) as seen:
        assert other.account(customer_id, MONTH, 500_000) == opened
    assert len(selects(seen)) == 1 and len(seen) == 1, seen  # the meter and its cap, no write
    with statements_run(engine) as seen:
        assert other.account(customer_id, MONTH, 500_000) == opened  # then from its cache
    assert seen == []


@pytest.mark.parametrize("fresh", [False, True], ids=["same process", "another process"])
def test_a_tier_changed_within_the_month_sets_the_meter_s_cap_to_the_new_limit(
    engine: Engine, ledger: Ledger, customer_id: int, fresh: bool
) -> None:
    meters = InflowMeters(engine, ledger)
    opened = meters.account(customer_id, MONTH, 500_000)
    if fresh:
        meters = InflowMeters(engine, ledger)
    assert meters.account(customer_id, MONTH, 10_000_000) == opened
    assert ledger.get_account(opened).balance_max == 10_000_000
    assert InflowMeters(engine, ledger).account(customer_id, MONTH, 500_000) == opened  # and back down
    assert ledger.get_account(opened).balance_max == 500_000


def test_each_month_has_its_own_meter(engine: Engine, ledger: Ledger, customer_id: int) -> None:
    meters = InflowMeters(engine, ledger)
    december = meters.account(customer_id, MONTH, 500_000)
    january = InflowMeters(engine, ledger).account(customer_id, "2027-01", 500_000)
    assert january != december
    assert ledger.get_account(january).balance_max == ledger.get_account(december).balance_max == 500_000
    assert meters.used(customer_id, "2027-01") == 0 and meters.used(customer_id, "2027-02") == 0
