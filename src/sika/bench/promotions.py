"""``sika bench promotions``: wallet transfers a second with three active campaigns against none, in
the same run, on the same database.

Three campaigns cover every transfer, as a busy Ramadan would: a cashback, a second one with a cap
per customer and a window (its window asks the calendar), and a prize draw (an entry per payment).
With the default mix the two cashbacks stack as campaigns do by default (exclusive: the better one
pays), so a transfer carries one reward and an entry; with ``--mix heavy`` the second one adds up,
so a transfer carries two rewards, a cap's meter leg and an entry (the worst case).

Rounds alternate the two arms (campaigns paused, then live, then the other way round), so both see
the same database size and the same neighbours on a shared machine; each arm's figure is its median
round, and the slowdown is the median of each round's own (its two arms ran back to back). A
transfer goes through the whole service path (``Payments.transfer``: the quote, the limits, the
chain with its rewards, the outcome and receipts).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sika.bench.common import SILENT, BenchError, Progress, check_choice, check_ranges
from sika.bench.databases import bench_server, fresh_database
from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.ledger import audit
from sika.payments import new_movement_id
from sika.wallet import Customer, Pin

__all__ = ["PromotionsBenchConfig", "PromotionsBenchResult", "run_promotions_bench"]

BACKENDS = ("sqlite", "postgres")
MIXES = ("default", "heavy")
WALLETS = 200
FUNDED = 5_000_000


class PromotionsBenchError(BenchError):
    code = "bench_invalid_argument"


@dataclass(frozen=True, slots=True)
class PromotionsBenchConfig:
    backend: str = "sqlite"
    transfers: int = 500  # per arm and round
    clients: int = 8
    rounds: int = 6
    seed: int = 1
    # default: the campaigns' default stacking (the best cashback pays, the draw adds an entry);
    # heavy: the second cashback adds up, so every transfer carries two rewards, a cap and an entry.
    mix: str = "default"

    def validate(self) -> None:
        check_choice("--backend", self.backend, BACKENDS, PromotionsBenchError)
        check_choice("--mix", self.mix, MIXES, PromotionsBenchError)
        check_ranges(
            [
                ("--transfers", self.transfers, 100, 200_000),
                ("--clients", self.clients, 1, 64),
                ("--rounds", self.rounds, 1, 20),
            ],
            PromotionsBenchError,
        )


@dataclass(frozen=True, slots=True)
class PromotionsBenchResult:
    backend: str
    mix: str
    clients: int
    transfers: int  # per arm, all rounds
    rounds: int
    transfers_per_s_without: float
    transfers_per_s_with: float
    rounds_without: list[float]
    rounds_with: list[float]
    # This process's CPU time per transfer (every thread: clients, the ledger's writer): what a campaign
    # costs in Python and in SQLite's library, less sensitive than a rate to what else runs on the box.
    cpu_ms_without: list[float]
    cpu_ms_with: list[float]
    rewards: int
    entries: int

    @property
    def slowdown_pct(self) -> float:
        """The median of each round's own slowdown: a round runs its two arms back to back, so a load
        that drifts over the run (other work on the machine, a growing database) cancels out."""
        return statistics.median(
            100 * (1 - live / idle) for idle, live in zip(self.rounds_without, self.rounds_with, strict=True)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "mix": self.mix,
            "clients": self.clients,
            "transfers": self.transfers,
            "rounds": self.rounds,
            "transfers_per_s_without": round(self.transfers_per_s_without, 1),
            "transfers_per_s_with": round(self.transfers_per_s_with, 1),
            "slowdown_pct": round(self.slowdown_pct, 1),
            "goal_pct_max": 15,
            "rounds_without": [round(r, 1) for r in self.rounds_without],
            "rounds_with": [round(r, 1) for r in self.rounds_with],
            "cpu_ms_per_transfer_without": round(statistics.median(self.cpu_ms_without), 2),
            "cpu_ms_per_transfer_with": round(statistics.median(self.cpu_ms_with), 2),
            "rewards": self.rewards,
            "entries": self.entries,
        }


def run_promotions_bench(
    config: PromotionsBenchConfig, *, progress: Progress = SILENT
) -> PromotionsBenchResult:
    config.validate()
    with bench_server(config.backend) as server, fresh_database(config.backend, server) as url:
        container = bootstrap(Settings(database_url=url, providers="off", db_pool_size=config.clients + 4))
        try:
            return _run(container, config, progress)
        finally:
            container.close()


def _run(container: Container, config: PromotionsBenchConfig, progress: Progress) -> PromotionsBenchResult:
    wallets = _wallets(container, progress)
    ids = _campaigns(container, config.mix)
    campaigns = container.promotions.campaigns
    arms: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    rng = random.Random(config.seed)  # noqa: S311 (a reproducible workload, no secret)
    for number in range(config.rounds):
        for live in (False, True) if number % 2 == 0 else (True, False):
            for campaign_id in ids:
                (campaigns.start if live else campaigns.pause)(campaign_id)
            started_cpu = time.process_time()
            arms[live].append(
                _drive(
                    container,
                    wallets,
                    config,
                    rng,
                    progress.phase(
                        f"round {number + 1}, {'three' if live else 'no'} campaigns", config.transfers
                    ),
                )
            )
            cpu[live].append(1_000 * (time.process_time() - started_cpu) / config.transfers)
    violations = audit.check(container.engine)
    if violations:
        raise BenchError(
            f"the ledger audit failed after the benchmark: {violations[0]}", code="bench_audit_failed"
        )
    views = [campaigns.view(campaign_id) for campaign_id in ids]
    for view in views:
        money = view.money
        assert money.spent + money.reserved + money.remaining == money.budget, money
    return PromotionsBenchResult(
        backend=config.backend,
        mix=config.mix,
        clients=config.clients,
        transfers=config.transfers * config.rounds,
        rounds=config.rounds,
        transfers_per_s_without=statistics.median(arms[False]),
        transfers_per_s_with=statistics.median(arms[True]),
        rounds_without=arms[False],
        rounds_with=arms[True],
        cpu_ms_without=cpu[False],
        cpu_ms_with=cpu[True],
        rewards=sum(v.rewards for v in views),
        entries=sum(v.entries for v in views),
    )


def _wallets(container: Container, progress: Progress) -> list[Customer]:
    agent, _ = container.agents.create("Bench agent")
    container.payments.credit_float(new_movement_id(), agent, WALLETS * FUNDED)
    advance = progress.phase("opening wallets", WALLETS)
    wallets = []
    for i in range(WALLETS):
        msisdn = f"+2289{i:07d}"
        container.customers.open(msisdn, f"Bench {i}", pin=Pin("4827"), tier=2)
        container.payments.cash_in(new_movement_id(), agent, msisdn, FUNDED)
        wallets.append(container.customers.get(msisdn))
        advance(1)
    return wallets


def _campaigns(container: Container, mix: str = "default") -> list[str]:
    campaigns = container.promotions.campaigns
    made = [
        campaigns.create(
            name="Ramadan cashback",
            kind="cashback",
            budget=10**9,
            rules={"percent": 2, "reward_max": 200, "operations": ["transfer", "merchant"]},
        ),
        campaigns.create(
            name="All-day offer",
            kind="cashback",
            budget=10**9,
            rules={
                "percent": 1,
                "reward_max": 100,
                "operations": ["transfer"],
                "stacking": "additive" if mix == "heavy" else "exclusive",
                "per_customer_count_max": 1_000_000,
                "windows": [{"start": "00:00", "end": "24:00"}],
            },
        ),
        campaigns.create(
            name="Iftar draw",
            kind="prize_draw",
            budget=100_000,
            rules={"prizes": [50_000, 30_000, 20_000], "operations": ["transfer"]},
        ),
    ]
    for campaign in made:
        campaigns.start(campaign.id)  # funded now; the arms pause and resume them
    return [c.id for c in made]


def _drive(
    container: Container,
    wallets: list[Customer],
    config: PromotionsBenchConfig,
    rng: random.Random,
    advance: Callable[[int], None],
) -> float:
    pairs = [rng.sample(wallets, 2) for _ in range(config.transfers)]
    amounts = [rng.choice((1_000, 2_500, 5_000)) for _ in range(config.transfers)]
    lock, next_index = threading.Lock(), iter(range(config.transfers))
    failures: list[BaseException] = []

    def client() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            payer, payee = pairs[index]
            try:
                done = container.payments.transfer(new_movement_id(), payer, payee.msisdn, amounts[index])
                assert done.status.value == "completed", done
            except BaseException as exc:  # reported after the run: a benchmark never hides a failure
                failures.append(exc)
            advance(1)

    threads = [threading.Thread(target=client, name=f"bench-client-{i}") for i in range(config.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise BenchError(f"{len(failures)} transfers failed; the first: {failures[0]!r}", code="bench_failed")
    return config.transfers / elapsed
