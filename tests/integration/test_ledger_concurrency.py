"""Many processes moving money between a few hot accounts at once.

Each worker is a separate process (spawned, so nothing is inherited but the plan) with its own engine
and ledger. Workers in a pair submit some transfer ids together, with the same fields or not, to race
on idempotency. A deadlock or a hang fails the test at ``DEADLINE_S`` instead of hanging the run.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from ledger_support import DMNEC
from sqlalchemy import Engine, text

from sika.db import create_db_engine
from sika.ledger import AccountKind, Ledger, Transfer, TransferFlags, audit
from sika.ledger import TransferResult as R
from sika.migration import upgrade

DEADLINE_S = 150
FUNDING_PER_ACCOUNT = 5_000
WAIT_S_MAX = 10

LINKED = TransferFlags.LINKED
PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING
VOID = TransferFlags.VOID_PENDING


@dataclass(frozen=True, slots=True)
class Plan:
    url: str
    worker: int
    hot: tuple[int, ...]
    steps: int


@dataclass(slots=True)
class Report:
    worker: int
    # Every id this worker stored (result ``ok``); shared ids' results, whatever they were.
    stored: list[str] = field(default_factory=list)
    shared: dict[str, R] = field(default_factory=dict)
    results: Counter[R] = field(default_factory=Counter)
    error: str | None = None


def work(plan: Plan) -> Report:
    """One worker's run: random transfers among the hot accounts; it resolves what it reserved."""
    engine = create_db_engine(plan.url, pool_size=2)
    ledger = Ledger(engine)
    report = Report(plan.worker)
    try:
        _Worker(plan, ledger, report).run()
    except Exception:
        report.error = traceback.format_exc()
    finally:
        ledger.close()
        engine.dispose()
    return report


class _Worker:
    def __init__(self, plan: Plan, ledger: Ledger, report: Report) -> None:
        self.plan = plan
        self.ledger = ledger
        self.report = report
        self.rng = random.Random(plan.worker)
        self.open: list[str] = []
        self.serial = 0

    def run(self) -> None:
        pair = self.plan.worker // 2
        for step in range(self.plan.steps):
            if step % 10 == 0:
                self.shared_transfer(f"same-{pair}-{step}", same_fields=True)
            elif step % 10 == 5:
                self.shared_transfer(f"diff-{pair}-{step}", same_fields=False)
            elif step % 20 == 7:
                self.shared_reservation(f"hold-{pair}-{step}")
            else:
                self.random_operation()
        while self.open:
            self.resolve()

    def send(self, transfers: list[Transfer]) -> list[R]:
        send = self.ledger.submit if self.rng.random() < 0.5 else self.ledger.create_transfers
        results = send(transfers)
        for transfer, result in zip(transfers, results, strict=True):
            self.report.results[result] += 1
            if result is R.OK:
                self.report.stored.append(transfer.id)
        return results

    def next_id(self) -> str:
        self.serial += 1
        return f"w{self.plan.worker}-{self.serial}"

    def two_accounts(self, rng: random.Random) -> tuple[int, int]:
        debit, credit = rng.sample(self.plan.hot, 2)
        return debit, credit

    def amount(self, rng: random.Random) -> int:
        # Mostly affordable; one in ten larger than any single account can hold.
        if rng.random() < 0.1:
            return FUNDING_PER_ACCOUNT * len(self.plan.hot) + 1
        return rng.randint(1, 2_000)

    def random_operation(self) -> None:
        roll = self.rng.random()
        if roll < 0.4:
            debit, credit = self.two_accounts(self.rng)
            self.send([Transfer(id=self.next_id(), debit_account_id=debit,
                                credit_account_id=credit, amount=self.amount(self.rng))])
        elif roll < 0.55:
            first, second = self.two_accounts(self.rng)
            third = self.rng.choice([a for a in self.plan.hot if a != second])
            self.send([
                Transfer(id=self.next_id(), debit_account_id=first, credit_account_id=second,
                         amount=self.amount(self.rng), flags=LINKED),
                Transfer(id=self.next_id(), debit_account_id=second, credit_account_id=third,
                         amount=self.amount(self.rng)),
            ])
        elif roll < 0.8 or not self.open:
            debit, credit = self.two_accounts(self.rng)
            pending_id = self.next_id()
            [result] = self.send([Transfer(id=pending_id, debit_account_id=debit,
                                           credit_account_id=credit,
                                           amount=self.amount(self.rng), flags=PENDING,
                                           timeout_s=3_600)])
            if result is R.OK:
                self.open.append(pending_id)
        else:
            self.resolve()

    def resolve(self) -> None:
        pending_id = self.open.pop(self.rng.randrange(len(self.open)))
        roll = self.rng.random()
        if roll < 0.4:
            transfer = Transfer(id=self.next_id(), pending_id=pending_id, flags=POST)
        elif roll < 0.7:
            transfer = Transfer(id=self.next_id(), pending_id=pending_id, flags=POST, amount=1)
        else:
            transfer = Transfer(id=self.next_id(), pending_id=pending_id, flags=VOID)
        assert self.send([transfer]) == [R.OK], pending_id

    def shared_transfer(self, transfer_id: str, *, same_fields: bool) -> None:
        # Both workers of the pair draw the same fields from the id; with other fields, one more.
        rng = random.Random(transfer_id)
        debit, credit = self.two_accounts(rng)
        amount = rng.randint(1, 1_500) + (0 if same_fields else self.plan.worker % 2)
        [result] = self.send([Transfer(id=transfer_id, debit_account_id=debit,
                                       credit_account_id=credit, amount=amount)])
        self.report.shared[transfer_id] = result

    def shared_reservation(self, pending_id: str) -> None:
        # Both workers reserve under one id, then both post it, under one id and under their own.
        rng = random.Random(pending_id)
        debit, credit = self.two_accounts(rng)
        [held] = self.send([Transfer(id=pending_id, debit_account_id=debit,
                                     credit_account_id=credit, amount=rng.randint(1, 500),
                                     flags=PENDING)])
        self.report.shared[pending_id] = held
        if held not in (R.OK, R.EXISTS):
            return
        posts = [f"{pending_id}-post", f"{pending_id}-post-w{self.plan.worker}"]
        for post_id in posts:
            [result] = self.send([Transfer(id=post_id, pending_id=pending_id, flags=POST)])
            self.report.shared[post_id] = result


def run_workers(url: str, hot: tuple[int, ...], workers: int, steps: int) -> list[Report]:
    plans = [Plan(url, worker, hot, steps) for worker in range(workers)]
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(processes=workers)
    try:
        reports = pool.map_async(work, plans).get(timeout=DEADLINE_S)
    except multiprocessing.TimeoutError:
        pytest.fail(f"workers still running after {DEADLINE_S} s: a deadlock or a hang")
    finally:
        pool.terminate()
        pool.join()
    return reports


@pytest.fixture
def hot_ledger(request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine, tuple[int, ...]]]:
    """A migrated database with four funded hot wallets; yields its URL, an engine and their ids."""
    url: str = request.getfixturevalue(request.param)
    engine = create_db_engine(url)
    upgrade(engine)
    ledger = Ledger(engine)
    bank = ledger.create_account(currency="XOF", kind=AccountKind.EQUITY)
    hot = tuple(
        ledger.create_account(currency="XOF", kind=AccountKind.CUSTOMER_WALLET, flags=DMNEC).id
        for _ in range(4)
    )
    funding = [Transfer(id=f"fund-{i}", debit_account_id=bank.id, credit_account_id=i,
                        amount=FUNDING_PER_ACCOUNT) for i in hot]
    assert ledger.create_transfers(funding) == [R.OK] * len(hot)
    try:
        yield url, engine, hot
    finally:
        engine.dispose()


def assert_ledger_consistent(engine: Engine, hot: tuple[int, ...], reports: list[Report]) -> None:
    assert [r.error for r in reports] == [None] * len(reports)
    accounts = Ledger(engine).get_accounts(hot)
    assert sum(a.balance for a in accounts.values()) == FUNDING_PER_ACCOUNT * len(hot)
    assert [a.debits_pending + a.credits_pending for a in accounts.values()] == [0] * len(hot)
    assert min(a.balance for a in accounts.values()) >= 0

    with engine.connect() as connection:
        stored = list(connection.execute(
            text("SELECT id FROM ledger_transfers WHERE id NOT LIKE 'fund-%'")
        ).scalars())
    claimed = [transfer_id for r in reports for transfer_id in r.stored]
    # Every transfer a worker was told it stored is stored, once, and nothing else is.
    assert Counter(claimed) == Counter(stored)

    shared_ids = {i for r in reports for i in r.shared}
    stored_set = set(stored)
    for transfer_id in sorted(shared_ids):
        results = [r.shared[transfer_id] for r in reports if transfer_id in r.shared]
        assert results.count(R.OK) == (1 if transfer_id in stored_set else 0), (transfer_id, results)
    assert audit.check(engine) == []


@pytest.mark.postgres
@pytest.mark.parametrize("hot_ledger", ["postgres_url"], indirect=True)
def test_eight_processes_on_four_hot_accounts_conserve_money_without_deadlock(
    hot_ledger: tuple[str, Engine, tuple[int, ...]],
) -> None:
    url, engine, hot = hot_ledger

    reports = run_workers(url, hot, workers=8, steps=300)

    assert_ledger_consistent(engine, hot, reports)
    totals = sum((r.results for r in reports), Counter())
    # The schedule reaches the races it is meant to reach.
    assert {R.OK, R.EXISTS, R.EXISTS_WITH_DIFFERENT_FIELDS, R.EXCEEDS_CREDITS,
            R.LINKED_EVENT_FAILED} <= set(totals)
    assert R.PENDING_TRANSFER_ALREADY_POSTED in totals


@pytest.mark.parametrize("hot_ledger", ["sqlite_url"], indirect=True)
def test_four_processes_on_one_sqlite_file_conserve_money(
    hot_ledger: tuple[str, Engine, tuple[int, ...]],
) -> None:
    url, engine, hot = hot_ledger

    reports = run_workers(url, hot, workers=4, steps=150)

    assert_ledger_consistent(engine, hot, reports)


# A race made deterministic ----------------------------------------------------------------------


def wait_for_lock_waiters(engine: Engine, count: int) -> None:
    deadline = time.monotonic() + WAIT_S_MAX
    query = text("SELECT COUNT(*) FROM pg_stat_activity"
                 " WHERE datname = current_database() AND wait_event_type = 'Lock'")
    while True:
        with engine.connect() as connection:
            if connection.execute(query).scalar_one() == count:
                return
        assert time.monotonic() < deadline, "the batch never waited for the lock"
        time.sleep(0.01)


@pytest.mark.postgres
def test_a_reservation_committed_while_a_batch_waits_for_its_locks_can_be_posted_by_it(
    postgres_url: str,
) -> None:
    # The batch reads the reservations it resolves before it locks accounts; one committed in between
    # must still be resolved correctly (or the batch retried), not crash on an unlocked account.
    engine = create_db_engine(postgres_url)
    upgrade(engine)
    ledger = Ledger(engine)
    try:
        bank = ledger.create_account(currency="XOF", kind=AccountKind.EQUITY)
        rider, driver, shop = (
            ledger.create_account(currency="XOF", kind=AccountKind.CUSTOMER_WALLET).id
            for _ in range(3)
        )
        with engine.connect() as blocker, ThreadPoolExecutor(max_workers=1) as pool:
            blocker.execute(text("SELECT id FROM ledger_accounts WHERE id = :id FOR UPDATE"),
                            {"id": bank.id})
            batch = pool.submit(ledger.create_transfers, [
                Transfer(id="sale", debit_account_id=bank.id, credit_account_id=shop, amount=5),
                Transfer(id="fare-final", pending_id="fare", flags=POST),
            ])
            wait_for_lock_waiters(engine, 1)
            assert ledger.create_transfers([
                Transfer(id="fare", debit_account_id=rider, credit_account_id=driver, amount=300,
                         flags=PENDING),
            ]) == [R.OK]
            blocker.rollback()

            assert batch.result(timeout=WAIT_S_MAX) == [R.OK, R.OK]
        accounts = ledger.get_accounts([rider, driver])
        assert (accounts[rider].balance, accounts[driver].balance) == (-300, 300)
        assert audit.check(engine) == []
    finally:
        ledger.close()
        engine.dispose()
