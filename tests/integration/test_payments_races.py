"""Payments under contention: threads (and whole processes) racing on one wallet, one movement id, one
voucher and one outbox. Several containers on one database stand for several ``sika`` processes: each
has its own engine, ledger writer and caches, as a separate process would.

Whatever the interleaving: no wallet goes negative, money moves once per movement id, a voucher is
paid out once, a queued message goes to one worker, and the ledger audit stays clean.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select, update

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.db import create_db_engine
from sika.errors import SikaError
from sika.ledger import audit
from sika.payments import Agent, Message, Movement, Outbox, Payments, Status, new_movement_id
from sika.payments.callbacks import TIMEOUT_S, Callbacks
from sika.payments.outbox import enqueue
from sika.payments.schema import callbacks, movements, outbox, vouchers
from sika.payments.wiring import payments_over
from sika.wallet import Customer, Pin

AMA, KOFI = "+22890112233", "+22897112233"
RECIPIENTS = ("+22897112233", "+22891445566", "+22899887766", "+22870123456")
DEADLINE_S = 120
_NS = 1_000_000_000


@pytest.fixture
def containers(database_url: str) -> Iterator[list[Container]]:
    """Four containers on one fresh database, as four processes would have; audited at the end."""
    built = [bootstrap(Settings(database_url=database_url))]
    built += [bootstrap(Settings(database_url=database_url), migrate=False) for _ in range(3)]
    yield built
    assert audit.check(built[0].engine) == []
    for container in built:
        container.close()


@dataclass
class Town:
    container: Container
    agent: Agent

    @classmethod
    def open(cls, container: Container) -> Town:
        agent, _ = container.agents.create("Boutique Bè", msisdn="+22892001122")
        container.payments.credit_float(new_movement_id(), agent, 10_000_000)
        return cls(container, agent)

    def wallet(self, msisdn: str, name: str, cash: int = 0) -> Customer:
        customer = self.container.customers.open(msisdn, name, pin=Pin("4827"), tier=1)
        if cash:
            done = self.container.payments.cash_in(new_movement_id(), self.agent, msisdn, cash)
            assert done.status is Status.COMPLETED, done
        return self.container.customers.get(customer.msisdn)

    def balance(self, msisdn: str) -> int:
        customer = self.container.customers.get(msisdn)
        assert customer.account_id is not None
        return self.container.ledger.get_account(customer.account_id).balance

    def float_balance(self) -> int:
        return self.container.ledger.get_account(self.agent.float_account_id).balance

    def system_balance(self, name: str) -> int:
        return self.container.ledger.get_account(self.container.payments.accounts.id(name)).balance


def _race(workers: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` on ``workers`` threads released at once; an exception is returned, not raised."""
    start = threading.Barrier(workers)

    def run(i: int) -> Any:
        start.wait(timeout=DEADLINE_S)
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(workers), timeout=DEADLINE_S))


# (a) One wallet, many senders ---------------------------------------------------------------------

def test_concurrent_transfers_from_one_wallet_never_overdraw_it(containers: list[Container]) -> None:
    town = Town.open(containers[0])
    funded = 100_000
    town.wallet(AMA, "Ama Mensah", cash=funded)
    for i, msisdn in enumerate(RECIPIENTS):
        town.wallet(msisdn, f"Recipient {i}")
    # 3,000 is free, 7,000 and 15,000 cost 50, 30,000 costs 100: asked for far more than there is.
    amounts = (3_000, 7_000, 15_000, 30_000)
    fees = {3_000: 0, 7_000: 50, 15_000: 50, 30_000: 100}
    per_thread = 6

    def send(i: int) -> list[tuple[str, int, Movement | Exception]]:
        payments = containers[i % len(containers)].payments
        payer = containers[i % len(containers)].customers.get(AMA)
        sent = []
        for n in range(per_thread):
            to, amount = RECIPIENTS[(i + n) % len(RECIPIENTS)], amounts[(i * 3 + n) % len(amounts)]
            try:
                outcome: Movement | Exception = payments.transfer(new_movement_id(), payer, to, amount)
            except SikaError as exc:
                outcome = exc
            sent.append((to, amount, outcome))
        return sent

    results = _race(8, send)
    assert not [r for r in results if isinstance(r, Exception)], results
    tried = [attempt for thread in results for attempt in thread]
    unexpected = [(to, amount, o) for to, amount, o in tried if not isinstance(o, Movement)]
    assert unexpected == []
    done = [(to, amount) for to, amount, o in tried
            if isinstance(o, Movement) and o.status is Status.COMPLETED]
    failed = [o for _, _, o in tried if isinstance(o, Movement) and o.status is Status.FAILED]
    assert len(done) + len(failed) == 8 * per_thread
    assert done and failed
    assert {o.error_code for o in failed} == {"insufficient_funds"}

    spent = sum(amount + fees[amount] for _, amount in done)
    left = town.balance(AMA)
    assert left == funded - spent >= 0
    # The balance only went down: each refused transfer asked for more than what is left now.
    assert all(left < o.amount + o.fee for o in failed)
    for msisdn in RECIPIENTS:
        assert town.balance(msisdn) == sum(amount for to, amount in done if to == msisdn)
    assert town.system_balance("fee_revenue") == sum(fees[amount] for _, amount in done)
    with town.container.engine.connect() as connection:
        stored: dict[str, int] = dict(connection.execute(
            select(movements.c.status, func.count()).where(movements.c.kind == "transfer")
            .group_by(movements.c.status)).all())
    assert stored == {"completed": len(done), "failed": len(failed)}


# (b) One movement id, many tries at once ----------------------------------------------------------

def test_one_movement_id_sent_from_eight_threads_moves_the_money_once(containers: list[Container]) -> None:
    town = Town.open(containers[0])
    town.wallet(AMA, "Ama Mensah", cash=50_000)
    town.wallet(KOFI, "Kofi Agbeko")
    same = new_movement_id()

    def send(i: int) -> Movement:
        container = containers[i % len(containers)]
        return container.payments.transfer(same, container.customers.get(AMA), KOFI, 7_000)

    results = _race(8, send)
    assert [type(r) for r in results] == [Movement] * 8, results
    assert {(r.id, r.status) for r in results} == {(same, Status.COMPLETED)}
    assert (town.balance(AMA), town.balance(KOFI)) == (50_000 - 7_050, 7_000)
    assert _receipts(town, same) == ["receipt_transfer_received", "receipt_transfer_sent"]


def test_one_cash_in_and_one_voucher_retried_at_once_happen_once(containers: list[Container]) -> None:
    town = Town.open(containers[0])
    town.wallet(AMA, "Ama Mensah")
    cash_in, voucher = new_movement_id(), new_movement_id()
    float_before = town.float_balance()

    def retry(i: int) -> Movement:
        container = containers[i % len(containers)]
        agent = container.agents.get(town.agent.id)
        if i % 2 == 0:
            return container.payments.cash_in(cash_in, agent, AMA, 20_000)
        # Each voucher try waits for the cash-in: until then the wallet is empty.
        deadline = time.monotonic() + DEADLINE_S
        while container.payments.find(cash_in) is None or not container.payments.get(cash_in).settled:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        return container.payments.transfer(voucher, container.customers.get(AMA), "+22893556677", 4_000)

    results = _race(8, retry)
    assert [type(r) for r in results] == [Movement] * 8, results
    assert {(r.id, r.status) for r in results} == {(cash_in, Status.COMPLETED), (voucher, Status.COMPLETED)}
    assert town.balance(AMA) == 20_000 - 4_050
    assert town.float_balance() == float_before - 20_000 + 60
    assert town.system_balance("voucher_holding") == 4_000
    with town.container.engine.connect() as connection:
        held = connection.execute(select(vouchers.c.movement_id, vouchers.c.amount)).all()
        sent = connection.execute(select(func.count()).select_from(outbox)
                                  .where(outbox.c.kind == "voucher_received")).scalar_one()
    assert [tuple(row) for row in held] == [(voucher, 4_000)]
    assert sent == 1
    # The code sent is the one whose digest was stored: it pays the voucher out.
    paid = town.container.payments.claim_voucher(new_movement_id(), "+22893556677",
                                                 _voucher_code(town, "+22893556677"), agent=town.agent)
    assert paid.status is Status.COMPLETED, paid
    assert town.system_balance("voucher_holding") == 0


# (c) A voucher claimed and refunded at once -------------------------------------------------------

def _expired_voucher_sweeper(container: Container) -> Payments:
    """The refund job as it will run a week later: its clock is past every voucher's expiry."""
    later_ns = 8 * 24 * 3600 * _NS
    return payments_over(container.engine, container.ledger, container.customers,
                         tiers=container.settings.tiers, fees=container.settings.fees,
                         clock_ns=lambda: time.time_ns() + later_ns,
                         voucher_key=container.settings.voucher_key.encode()).payments


def test_a_voucher_claimed_and_refunded_at_once_is_paid_out_exactly_once(
        containers: list[Container]) -> None:
    town = Town.open(containers[0])
    count, amount = 12, 4_000
    town.wallet(AMA, "Ama Mensah", cash=count * (amount + 50))
    numbers = [f"+2289355{i:04d}" for i in range(count)]
    sent = [town.container.payments.transfer(new_movement_id(), town.container.customers.get(AMA), n, amount)
            for n in numbers]
    assert {m.status for m in sent} == {Status.COMPLETED}
    codes = {n: _voucher_code(town, n) for n in numbers}
    float_before = town.float_balance()
    sweepers = [_expired_voucher_sweeper(c) for c in containers[2:]]

    def work(i: int) -> Any:
        if i < len(sweepers):
            return sweepers[i].refund_expired_vouchers()
        # Claimers interleave with the sweepers: each number is claimed by two agents' devices.
        container = containers[i % 2]
        number = numbers[(i - len(sweepers)) % count]
        try:
            return container.payments.claim_voucher(new_movement_id(), number, codes[number],
                                                    agent=container.agents.get(town.agent.id))
        except SikaError as exc:
            return exc.code

    results = _race(len(sweepers) + 2 * count, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    claims = [r for r in results[len(sweepers):] if isinstance(r, Movement)]
    refused = [r for r in results[len(sweepers):] if isinstance(r, str)]
    assert set(refused) <= {"invalid_voucher", "voucher_settled"}, refused
    assert {m.error_code for m in claims if m.status is Status.FAILED} <= {"voucher_settled"}

    with town.container.engine.connect() as connection:
        rows = connection.execute(select(vouchers)).mappings().all()
        paid_out = connection.execute(
            select(movements.c.kind, movements.c.details)
            .where(movements.c.kind.in_(["voucher_claim", "voucher_refund"]),
                   movements.c.status == "completed")).all()
    by_voucher = Counter(json.loads(details)["voucher"] for _, details in paid_out)
    assert by_voucher == Counter({m.id: 1 for m in sent}), by_voucher
    assert {row["status"] for row in rows} <= {"claimed", "refunded"}
    claimed = sum(1 for row in rows if row["status"] == "claimed")
    refunded = count - claimed
    assert claimed == sum(1 for kind, _ in paid_out if kind == "voucher_claim")
    assert town.system_balance("voucher_holding") == 0
    assert town.balance(AMA) == refunded * amount
    assert town.float_balance() == float_before + claimed * (amount + 12)


def _voucher_code(town: Town, msisdn: str) -> str:
    codes = [m.params["secret"] for m in town.container.outbox.feed(msisdn)
             if m.kind == "voucher_received" and "secret" in m.params]
    assert len(codes) == 1, codes
    return str(codes[0])


def _receipts(town: Town, movement: str) -> list[str]:
    with town.container.engine.connect() as connection:
        return sorted(connection.execute(
            select(outbox.c.kind).where(outbox.c.dedupe_key.like(f"{movement}:%"))).scalars())


# (d) The outbox and the callbacks, claimed by many workers ---------------------------------------

MESSAGES = 200


@dataclass
class RecordingChannel:
    delivered: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, message: Message) -> None:
        time.sleep(0.001)  # a channel takes a moment: let the other workers claim meanwhile
        with self.lock:
            self.delivered.append(message.id)


def _queue_messages(container: Container, count: int = MESSAGES) -> list[int]:
    now = time.time_ns()
    with container.engine.begin() as connection:
        for i in range(count):
            enqueue(connection, dedupe_key=f"race-{i}", msisdn=AMA, kind="receipt_transfer_sent",
                    params={"i": i}, now_ns=now)
        return list(connection.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars())


def test_outbox_workers_on_many_threads_deliver_each_message_once(containers: list[Container]) -> None:
    ids = _queue_messages(containers[0])
    channel = RecordingChannel()
    workers = [Outbox(containers[i % len(containers)].engine, channel) for i in range(8)]

    def drain(i: int) -> int:
        handled = 0
        while claimed := workers[i].deliver_due(limit=7):
            handled += claimed
        return handled

    handled = _race(8, drain)
    assert sum(handled) == MESSAGES, handled
    assert Counter(channel.delivered) == Counter(ids)
    assert containers[0].outbox.pending_count() == 0


def test_outbox_claims_from_many_threads_are_disjoint(containers: list[Container]) -> None:
    ids = _queue_messages(containers[0])
    workers = [Outbox(containers[i % len(containers)].engine) for i in range(8)]

    def claim(i: int) -> list[int]:
        taken: list[int] = []
        while batch := workers[i].claim(limit=5):
            taken.extend(m.id for m in batch)
        return taken

    taken = _race(8, claim)
    assert Counter(i for batch in taken for i in batch) == Counter(ids)
    # Leased: nobody gets them again before the lease runs out.
    assert containers[0].outbox.claim() == []


def _deliver_in_a_process(url: str, start_at_s: float) -> tuple[list[int], str | None]:
    """A ``sika worker`` of its own: a fresh engine, draining the outbox into a recording channel."""
    engine = create_db_engine(url, pool_size=2)
    channel = RecordingChannel()
    try:
        time.sleep(max(0.0, start_at_s - time.time()))
        worker = Outbox(engine, channel)
        while worker.deliver_due(limit=7):
            pass
    except Exception:
        return channel.delivered, traceback.format_exc()
    finally:
        engine.dispose()
    return channel.delivered, None


@pytest.mark.postgres
def test_outbox_workers_in_separate_processes_deliver_each_message_once(postgres_url: str) -> None:
    container = bootstrap(Settings(database_url=postgres_url))
    try:
        ids = _queue_messages(container)
        context = multiprocessing.get_context("spawn")
        pool = context.Pool(processes=4)
        try:
            start_at_s = time.time() + 4  # once every process has imported sika
            outcomes = pool.starmap_async(_deliver_in_a_process, [(postgres_url, start_at_s)] * 4).get(
                timeout=DEADLINE_S)
        finally:
            pool.terminate()
            pool.join()
        assert [error for _, error in outcomes] == [None] * 4
        assert Counter(i for delivered, _ in outcomes for i in delivered) == Counter(ids)
        assert sum(1 for delivered, _ in outcomes if delivered) >= 2, "the processes did not overlap"
        assert container.outbox.pending_count() == 0
    finally:
        container.close()


def test_callback_workers_on_many_threads_post_each_event_once(containers: list[Container]) -> None:
    merchant, _ = containers[0].merchants.create("Assigame Online", callback_url="https://shop.example/cb")
    now = time.time_ns()
    with containers[0].engine.begin() as connection:
        for i in range(MESSAGES):
            connection.execute(callbacks.insert().values(
                dedupe_key=f"evt-{i}", merchant_id=merchant.id, url=merchant.callback_url,
                payload=json.dumps({"id": f"evt-{i}"}), status="queued", next_attempt_ns=now,
                created_at_ns=now))
    posted: list[str] = []
    lock = threading.Lock()

    def poster(_url: str, _body: bytes, headers: dict[str, str]) -> int:
        time.sleep(0.001)
        with lock:
            posted.append(headers["Sika-Event-Id"])
        return 200

    workers = [Callbacks(containers[i % len(containers)].engine, poster=poster) for i in range(8)]

    def drain(i: int) -> int:
        handled = 0
        while claimed := workers[i].deliver_due(limit=7):
            handled += claimed
        return handled

    assert sum(_race(8, drain)) == MESSAGES
    assert Counter(posted) == Counter(f"evt-{i}" for i in range(MESSAGES))
    with containers[0].engine.connect() as connection:
        statuses = connection.execute(select(callbacks.c.status, func.count())
                                      .group_by(callbacks.c.status)).all()
    assert [tuple(s) for s in statuses] == [("delivered", MESSAGES)]


def test_a_claim_whose_lease_ran_out_goes_to_another_worker(sqlite_url: str) -> None:
    container = bootstrap(Settings(database_url=sqlite_url))
    try:
        ids = _queue_messages(container, count=3)
        first = container.outbox.claim()
        assert [m.id for m in first] == ids
        assert container.outbox.claim() == []
        with container.engine.begin() as connection:  # the first worker died; its lease ran out
            connection.execute(update(outbox).values(lease_until_ns=1))
        channel = RecordingChannel()
        assert Outbox(container.engine, channel).deliver_due() == 3
        assert channel.delivered == ids
    finally:
        container.close()


# Approvals raced by the customer's own devices ----------------------------------------------------

def test_a_request_approved_and_declined_at_once_is_either_paid_or_declined(
        containers: list[Container]) -> None:
    town = Town.open(containers[0])
    town.wallet(AMA, "Ama Mensah", cash=100_000)
    merchant, _ = town.container.merchants.create("Assigame Market")
    rounds, price = 6, 5_000
    paid = 0
    for _ in range(rounds):
        request = town.container.approvals.request_payment(new_movement_id(), merchant, AMA, price)

        def answer(i: int, request_id: str = request.id) -> Any:
            container = containers[i % len(containers)]
            customer = container.customers.get(AMA)
            if i % 2:
                return container.approvals.decline(request_id, customer)
            return container.approvals.approve(request_id, customer, Pin("4827"))

        results = _race(4, answer)
        final = town.container.approvals.get(request.id)
        codes = {r.code for r in results if isinstance(r, SikaError)}
        assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, SikaError)], results
        if final.status == "approved":
            assert {r.status for r in results if isinstance(r, Movement)} == {Status.COMPLETED}
            assert codes <= {"approval_closed"}
            paid += 1
        else:
            assert final.status == "declined"
            assert not [r for r in results if isinstance(r, Movement)]
            assert town.container.payments.find(request.id) is None
    assert town.balance(AMA) == 100_000 - paid * price
    assert town.container.ledger.get_account(merchant.account_id).balance == paid * (price - 50)


# Interleavings forced step by step ----------------------------------------------------------------

class _HookedLedger:
    """The container's ledger, with a hook run after each ``submit`` (to force an interleaving)."""

    def __init__(self, ledger: Any, after_submit: Callable[[list[Any]], None]) -> None:
        self._ledger = ledger
        self._after_submit = after_submit

    def submit(self, transfers: Any) -> Any:
        results = self._ledger.submit(transfers)
        self._after_submit(results)
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


def _payments_on(container: Container, ledger: Any) -> Payments:
    return payments_over(container.engine, ledger, container.customers, tiers=container.settings.tiers,
                         fees=container.settings.fees,
                         voucher_key=container.settings.voucher_key.encode()).payments


def test_a_movement_refused_by_one_try_and_done_by_another_is_not_reported_failed(
        containers: list[Container]) -> None:
    """Two tries of one movement id (a double-tapped approval, a retry after a lost answer): the first
    is refused for lack of money, the wallet is topped up, the second goes through. Whatever the
    movement's status says must be what the ledger did."""
    if containers[0].engine.dialect.name == "sqlite":
        pytest.skip("on SQLite a movement's steps are one transaction (sika.db.together): a try holds the "
                    "write lock from its record to its outcome, so no other try can come in between")
    town = Town.open(containers[0])
    town.wallet(AMA, "Ama Mensah", cash=1_000)
    town.wallet(KOFI, "Kofi Agbeko")
    same = new_movement_id()
    first_refused, second_moved = threading.Event(), threading.Event()

    def first_waits(_results: list[Any]) -> None:
        first_refused.set()
        assert second_moved.wait(DEADLINE_S)

    def second_lets_first_write(_results: list[Any]) -> None:
        second_moved.set()
        deadline = time.monotonic() + 5
        while town.container.payments.get(same).status is Status.PROCESSING and time.monotonic() < deadline:
            time.sleep(0.01)

    first = _payments_on(containers[1], _HookedLedger(containers[1].ledger, first_waits))
    second = _payments_on(containers[2], _HookedLedger(containers[2].ledger, second_lets_first_write))
    with ThreadPoolExecutor(max_workers=1) as pool:
        first_try = pool.submit(first.transfer, same, town.container.customers.get(AMA), KOFI, 5_000)
        assert first_refused.wait(DEADLINE_S)
        town.container.payments.cash_in(new_movement_id(), town.agent, AMA, 10_000)
        second_try = second.transfer(same, town.container.customers.get(AMA), KOFI, 5_000)
        first_outcome = first_try.result(timeout=DEADLINE_S)

    moved = town.container.ledger.get_transfer(f"{same}.0") is not None
    final = town.container.payments.get(same)
    assert (final.status is Status.COMPLETED) == moved, (final.status, final.error_code, moved)
    assert first_outcome.status == second_try.status == final.status
    assert town.balance(KOFI) == (5_000 if moved else 0)


def test_a_voucher_whose_claim_died_half_way_is_paid_out_once_by_recovery(
        containers: list[Container], monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim is recorded (and marks the voucher as its own in the same transaction), then its process
    dies before the ledger moves anything: the refund sweep leaves the voucher alone, and the recovery
    job finishes the claim, paying the voucher out once."""
    town = Town.open(containers[0])
    town.wallet(AMA, "Ama Mensah", cash=4_050)
    stranger = "+22893556677"
    payments = town.container.payments
    sent = payments.transfer(new_movement_id(), town.container.customers.get(AMA), stranger, 4_000)
    code = _voucher_code(town, stranger)
    agent, _ = town.container.agents.create("Boutique Kodjoviakopé")

    def dies(*_args: object, **_kwargs: object) -> list[object]:
        raise KeyboardInterrupt  # the process is killed between recording and submitting

    claim_id = new_movement_id()
    monkeypatch.setattr(town.container.ledger, "submit", dies)
    with pytest.raises(KeyboardInterrupt):
        payments.claim_voucher(claim_id, stranger, code, agent=agent)
    monkeypatch.undo()
    sweeper = _expired_voucher_sweeper(town.container)
    if town.container.engine.dialect.name == "sqlite":
        # One transaction from record to outcome (sika.db.together): the killed claim left nothing, and
        # the voucher is still there to be claimed, once.
        assert payments.find(claim_id) is None
        assert payments.claim_voucher(claim_id, stranger, code, agent=agent).status is Status.COMPLETED
        assert payments.claim_voucher(claim_id, stranger, code, agent=agent).status is Status.COMPLETED
        assert sweeper.refund_expired_vouchers() == 0
        assert town.balance(AMA) == 0
        assert town.system_balance("voucher_holding") == 0
        return
    assert payments.get(claim_id).status is Status.PROCESSING
    assert sweeper.refund_expired_vouchers() == 0  # the claim owns the voucher
    recovery = payments_over(town.container.engine, town.container.ledger, town.container.customers,
                             tiers=town.container.settings.tiers, recovery_grace_s=1,
                             clock_ns=lambda: time.time_ns() + 10 * _NS,
                             voucher_key=town.container.settings.voucher_key.encode()).payments
    assert recovery.recover() == 1
    assert payments.get(claim_id).status is Status.COMPLETED
    assert sweeper.refund_expired_vouchers() == 0
    assert town.balance(AMA) == 0
    assert town.system_balance("voucher_holding") == 0
    assert payments.get(sent.id).status is Status.COMPLETED


class _Clock:
    def __init__(self) -> None:
        self.now_ns = time.time_ns()

    def __call__(self) -> int:
        return self.now_ns


def test_a_slow_callback_batch_keeps_its_events_from_other_workers(containers: list[Container]) -> None:
    """Merchants' servers hang (each POST times out after TIMEOUT_S): a worker's batch takes a while,
    and the events it has claimed but not tried yet must not be handed to a second worker."""
    merchant, _ = containers[0].merchants.create("Assigame Online", callback_url="https://shop.example/cb")
    clock = _Clock()
    events = 20
    with containers[0].engine.begin() as connection:
        for i in range(events):
            connection.execute(callbacks.insert().values(
                dedupe_key=f"evt-{i}", merchant_id=merchant.id, url=merchant.callback_url,
                payload=json.dumps({"id": f"evt-{i}"}), status="queued", next_attempt_ns=clock.now_ns,
                created_at_ns=clock.now_ns))
    posts: list[tuple[str, str]] = []
    other_worker_ran: list[int] = []

    def hanging(worker: str) -> Callable[[str, bytes, dict[str, str]], int]:
        def post(_url: str, _body: bytes, headers: dict[str, str]) -> int:
            posts.append((worker, headers["Sika-Event-Id"]))
            clock.now_ns += int(TIMEOUT_S * _NS)
            if worker == "a" and len(posts) == 8 and not other_worker_ran:
                other_worker_ran.append(second.deliver_due())  # another process's pass, meanwhile
            raise TimeoutError("timed out")
        return post

    first = Callbacks(containers[0].engine, poster=hanging("a"), clock_ns=clock)
    second = Callbacks(containers[1].engine, poster=hanging("b"), clock_ns=clock)
    assert first.deliver_due() == events
    assert other_worker_ran
    # The second worker may retry what the first already tried (its back-off has passed), but what the
    # first has claimed and not tried yet is still the first's: posted after the second's post, it was
    # handed to both at once.
    taken_by_b = [event for worker, event in posts if worker == "b"]
    stolen = [event for event in taken_by_b
              if ("a", event) in posts and posts.index(("a", event)) > posts.index(("b", event))]
    assert stolen == [], f"{len(stolen)} events claimed by two workers at once: {stolen}"
