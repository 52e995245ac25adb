"""Runs periodic jobs on threads until told to stop.

Each job is idempotent and safe to run in several processes at once against one database (the ledger's
expiry sweep re-reads each pending transfer under its accounts' locks), so ``sika worker`` can be
started as many times as the load needs. Jobs that take work from a queue (the inbox, the outboxes)
share it between processes by claims; the others, sweeps and the ride dispatcher, run in the one
process that holds their lease (``sika.coordination.leases``: in Redis, else in the database), so that
ten workers do not sweep ten times, and one dispatcher offers each trip.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from sika.auth.idempotency import prune
from sika.bootstrap import Container
from sika.chat.state import Conversations
from sika.config import inbox_threads
from sika.coordination.leases import TTL_S_MAX, Leases
from sika.own_connections import kept_connections

__all__ = ["LEASED", "Job", "WorkerRunner", "default_jobs", "leased"]

log = logging.getLogger(__name__)

# A job that keeps failing backs off up to this long, so a database outage is not hammered.
_BACKOFF_S_MAX = 30.0
# A leased job's lease lasts three of its intervals (at least this long): a holder that stops is
# replaced within that time.
_LEASE_TTL_S_MIN = 5.0
# Jobs that run in one process at a time; the others take their work by claims.
LEASED = frozenset({"ledger-expiry", "voucher-refunds", "approval-expiry", "provider-polling",
                    "idempotency-pruning", "movement-recovery", "ride-dispatch", "conversation-pruning",
                    "whatsapp-pruning", "campaign-closing", "referral-payouts",
                    "prize-payouts"})
THREADS_MAX = 16


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_s: float
    # Returns how many items it handled; a full batch means "run again at once".
    run: Callable[[], int]
    batch_max: int = 1_000
    # Threads running the job side by side: for a job that waits on I/O (the disk, another server)
    # as long as it computes, a second thread computes while the first one waits.
    threads: int = 1
    # Each of its threads reads through a PostgreSQL connection of its own rather than the pool's
    # (sika.own_connections.kept_connections): for the jobs that read all the time.
    keeps_connection: bool = False

    def __post_init__(self) -> None:
        assert 1 <= self.threads <= THREADS_MAX, self.threads


def default_jobs(container: Container) -> list[Job]:
    ledger = container.ledger
    payments = container.payments
    every = container.settings.jobs_interval_s
    jobs = [
        Job(
            name="ledger-expiry",
            interval_s=container.settings.ledger_expiry_interval_s,
            run=ledger.expire_pending,
        ),
        Job(name="outbox", interval_s=min(every, 0.5), run=container.outbox.deliver_due, batch_max=100,
            keeps_connection=True),
        Job(name="voucher-refunds", interval_s=every * 60, run=payments.refund_expired_vouchers,
            batch_max=100),
        Job(name="merchant-callbacks", interval_s=min(every, 1.0), run=container.callbacks.deliver_due,
            batch_max=50),
        Job(name="approval-expiry", interval_s=every * 5, run=container.approvals.expire, batch_max=200),
        Job(name="provider-polling", interval_s=min(every, 1.0), run=container.purchases.poll, batch_max=100),
        Job(name="idempotency-pruning", interval_s=every * 600,
            run=lambda: prune(container.engine, ttl_s=container.settings.idempotency_ttl_s), batch_max=1_000),
        Job(name="movement-recovery", interval_s=every * 30, run=payments.recover, batch_max=100),
        # Ends campaigns whose end has passed and returns their unspent budgets (again for late voids).
        Job(name="campaign-closing", interval_s=every * 60, run=container.promotions.campaigns.close_due,
            batch_max=100),
        Job(name="referral-payouts", interval_s=every * 5, run=container.promotions.referrals.pay_due,
            batch_max=100),
        # Prizes a winner's wallet could not take at the reveal: paid once they fit (each waits 15 min
        # between looks, sika.promotions.prizes), given back after 30 days.
        Job(name="prize-payouts", interval_s=every * 60, run=container.promotions.draws.prizes.retry_due,
            batch_max=100),
    ]
    if container.rides is not None:
        jobs.append(Job(name="ride-dispatch", interval_s=container.settings.dispatch_interval_s,
                        run=container.rides.dispatch_tick, batch_max=200))
    if container.dialog is not None:
        conversations = Conversations(container.engine)  # forgets idle ones of every channel
        jobs.append(Job(name="conversation-pruning", interval_s=every * 600, run=conversations.forget_idle,
                        batch_max=1_000))
    whatsapp = container.whatsapp
    if whatsapp is not None:
        jobs += [
            Job(name="whatsapp-inbox", interval_s=min(every, 0.2), run=whatsapp.process_inbox, batch_max=100,
                threads=inbox_threads(container.settings.database_url,
                                      container.settings.whatsapp_inbox_threads), keeps_connection=True),
            Job(name="whatsapp-send", interval_s=every, run=whatsapp.send_due, batch_max=100,
                keeps_connection=True),
            Job(name="whatsapp-pruning", interval_s=every * 3600, run=whatsapp.prune, batch_max=1_000),
        ]
    return [leased(job, container.leases) if job.name in LEASED else job for job in jobs]


def leased(job: Job, leases: Leases) -> Job:
    """``job``, run only while this process holds its lease (taken or renewed before each run)."""
    ttl_s = min(max(job.interval_s * 3, _LEASE_TTL_S_MIN), TTL_S_MAX)
    run = job.run

    def run_if_held() -> int:
        return run() if leases.hold(f"job:{job.name}", ttl_s) else 0

    return replace(job, run=run_if_held)


class WorkerRunner:
    def __init__(self, jobs: list[Job]) -> None:
        self._jobs = jobs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        assert not self._threads, "already started"
        for job in self._jobs:
            for number in range(job.threads):
                name = f"job-{job.name}" if job.threads == 1 else f"job-{job.name}-{number + 1}"
                thread = threading.Thread(target=self._loop, args=(job,), name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def wait(self) -> None:
        self._stop.wait()

    def _loop(self, job: Job) -> None:
        with kept_connections() if job.keeps_connection else contextlib.nullcontext():
            self._run_until_stopped(job)

    def _run_until_stopped(self, job: Job) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                handled = job.run()
                failures = 0
            except Exception:
                failures += 1
                log.exception("job %s failed (%d in a row)", job.name, failures)
                handled = 0
            if handled >= job.batch_max:
                continue
            pause_s = min(job.interval_s * 2**failures, _BACKOFF_S_MAX) if failures else job.interval_s
            self._stop.wait(pause_s)
