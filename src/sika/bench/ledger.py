"""``sika bench ledger``: the ledger's throughput, set against the cost of plainly storing its rows.

One run, on a fresh database (a temporary SQLite file, or a new PostgreSQL database):

1. opens ``accounts`` customer accounts flagged ``DEBITS_MUST_NOT_EXCEED_CREDITS`` and funds them from a
   "bank" account without flags, so that every transfer's balance check really runs;
2. the ledger: ``clients`` threads send the same seeded stream of small transfers between random
   accounts, ``batch`` transfers per request; one client calls ``Ledger.create_transfers`` (one
   transaction per request), several call ``Ledger.submit`` (group commit: requests share commits);
3. the floor: the same rows, in the same batch sizes, from the same number of clients, go into
   ``bench_floor``, a copy of ``ledger_transfers`` (columns, indexes, unique and foreign keys), by the
   driver's fastest plain path (sqlite3 ``executemany`` in ``BEGIN IMMEDIATE``…``COMMIT``; psycopg
   ``COPY``, or one ``INSERT`` for a single row), with the same durability and no ledger logic;
   Steps 2 and 3 alternate in ``INTERLEAVED_ROUNDS`` rounds (a slice of every client's requests
   through the ledger, the same slice into the floor, and so on): a machine whose speed drifts
   during a run (other tenants, a checkpoint) then weighs on both rates alike, where one phase after
   the other gave ratios of 0.41 to 0.71 for the same code within minutes (pgledger, step 5, still
   runs after, in one go);
4. audits the ledger (``sika ledger check``'s invariants) and counts both tables' rows;
5. with ``compare_pgledger``, runs the same plan through pgledger on the same server (see ``pgledger``).

The ratio of the two rates says what the ledger's logic costs on top of writing its rows durably.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sika.bench.common import (
    SILENT,
    BenchError,
    Drive,
    Progress,
    check_choice,
    check_ranges,
    combined,
    drive_clients,
    percentile,
    rounded_json,
)
from sika.bench.databases import bench_server, fresh_database, is_durable
from sika.bench.floor import FLOOR_TABLE, create_floor_table, drive_floor
from sika.bench.pgledger import pgledger_files, run_pgledger
from sika.db import create_db_engine
from sika.ledger import BATCH_MAX, AccountFlags, AccountKind, Ledger, Transfer, TransferResult
from sika.ledger.audit import check
from sika.migration import upgrade

__all__ = [
    "ACCOUNTS_DEFAULT",
    "BACKENDS",
    "BATCH_DEFAULT",
    "MATRIX_BATCHES",
    "MATRIX_CLIENTS",
    "TRANSFERS_DEFAULT",
    "BenchConfig",
    "BenchError",
    "BenchResult",
    "bench_server",
    "markdown_table",
    "matrix_configs",
    "run_bench",
    "target_text",
]

BACKENDS = ("sqlite", "postgres")
TRANSFERS_DEFAULT = 20_000
BATCH_DEFAULT = 100
ACCOUNTS_DEFAULT = 50
# The ledger and the floor take turns this many times in a run (see the module's docstring).
INTERLEAVED_ROUNDS = 5
# Limits, so that a typo cannot start an hour-long run or exhaust the server's connections.
TRANSFERS_MAX = 5_000_000
CLIENTS_MAX = 64
# Accounts are opened one by one through the public API (one commit each).
ACCOUNTS_MAX = 10_000
MATRIX_BATCHES = (1, 100, 1_000, 8_000)
MATRIX_CLIENTS = (1, 20)

CURRENCY = "XOF"
TRANSFER_CODE = 1
# Transfers move 1..100 F; each account starts with far more than a run can move out of it.
AMOUNT_MAX_MINOR = 100
FUNDING_MINOR = 1_000_000_000
_OK = TransferResult.OK


@dataclass(frozen=True, slots=True)
class BenchConfig:
    backend: str = "sqlite"
    transfers: int = TRANSFERS_DEFAULT
    batch: int = BATCH_DEFAULT
    clients: int = 1
    accounts: int = ACCOUNTS_DEFAULT
    seed: int = 1
    # A pgledger checkout or SQL file: run the same plan through it on the same server.
    compare_pgledger: Path | None = None

    def validate(self) -> None:
        """Raise :class:`BenchError` naming the first argument out of its range."""
        check_choice("--backend", self.backend, BACKENDS, BenchError)
        if self.compare_pgledger is not None:
            if self.backend != "postgres":
                raise BenchError("--compare-pgledger needs --backend postgres (pgledger is PostgreSQL SQL)")
            pgledger_files(self.compare_pgledger)
        check_ranges((
            ("--transfers", self.transfers, 1, TRANSFERS_MAX),
            ("--batch", self.batch, 1, BATCH_MAX),
            ("--clients", self.clients, 1, CLIENTS_MAX),
            ("--accounts", self.accounts, 2, ACCOUNTS_MAX),
        ), BenchError)


@dataclass(frozen=True, slots=True)
class BenchResult:
    backend: str
    batch: int
    clients: int
    accounts: int
    transfers: int
    seconds: float
    transfers_per_s: float
    # Transfers whose result was not ``ok``, by result code; they are not counted in the rate.
    failed: int
    failures: dict[str, int]
    latency_ms_p50: float
    latency_ms_p99: float
    floor_rows_per_s: float
    floor_seconds: float
    floor_latency_ms_p50: float
    floor_latency_ms_p99: float
    ratio_to_floor: float
    durable: bool
    seed: int
    target: str | None = None
    target_met: bool | None = None
    # With --compare-pgledger: the same plan through pgledger on the same server.
    pgledger_transfers_per_s: float | None = None
    pgledger_latency_ms_p50: float | None = None
    pgledger_latency_ms_p99: float | None = None
    ratio_to_pgledger: float | None = None

    def as_json(self) -> dict[str, Any]:
        return rounded_json(self)


@dataclass(frozen=True, slots=True)
class _Target:
    backend: str
    batch: int
    clients: int | None  # None: whatever the number of clients
    metric: str
    minimum: float
    text: str


# From the issues: SQLite within half of the floor; PostgreSQL against pgledger on the same server
# (3 times its rate when measured side by side; else 7,000/s, 3 times the 2,250-2,334/s it made here).
_TARGETS = (
    _Target("sqlite", 1_000, None, "ratio_to_floor", 0.5, ">= 0.5 x floor"),
    _Target("postgres", 1, 20, "ratio_to_pgledger", 3, ">= 3 x pgledger"),
    _Target("postgres", 1, 20, "transfers_per_s", 7_000, ">= 7,000/s (3 x pgledger)"),
    _Target("postgres", 100, 20, "transfers_per_s", 10_000, ">= 10,000/s"),
)


def matrix_configs(
    backends: Sequence[str] = BACKENDS,
    *,
    transfers: int | None = None,
    accounts: int = ACCOUNTS_DEFAULT,
    seed: int = 1,
) -> list[BenchConfig]:
    """The full table: every backend × batch size × number of clients."""
    return [
        BenchConfig(
            backend=backend,
            transfers=_matrix_transfers(batch, clients) if transfers is None else transfers,
            batch=batch,
            clients=clients,
            accounts=accounts,
            seed=seed,
        )
        for backend in backends
        for batch in MATRIX_BATCHES
        for clients in MATRIX_CLIENTS
    ]


def _matrix_transfers(batch: int, clients: int) -> int:
    # Every client sends a few requests and a cell runs for seconds: the matrix takes minutes.
    least = 5_000 * min(clients, 4) if batch == 1 else 50_000
    return min(200_000, max(least, batch * clients * 4))


def run_bench(
    config: BenchConfig, *, server_url: str | None = None, progress: Progress | None = None
) -> BenchResult:
    """One run on a fresh database; ``server_url`` comes from :func:`bench_server`."""
    config.validate()
    if config.backend == "postgres" and server_url is None:
        raise BenchError("a PostgreSQL run needs a server: open one with bench_server('postgres')")
    reporter = progress or SILENT
    with fresh_database(config.backend, server_url) as url:
        engine = create_db_engine(url, pool_size=config.clients + 2)
        try:
            result = _run_on(engine, config, reporter)
        finally:
            engine.dispose()
    if config.compare_pgledger is not None:
        assert server_url is not None
        result = _compared(result, config, server_url, reporter)
    return _judged(result)


def _run_on(engine: Engine, config: BenchConfig, progress: Progress) -> BenchResult:
    upgrade(engine)
    create_floor_table(engine)
    durable = is_durable(engine)
    ledger = Ledger(engine)
    ledger_drives: list[Drive] = []
    floor_drives: list[Drive] = []
    try:
        account_ids = _open_accounts(ledger, config.accounts, progress)
        plan = _plan(config, account_ids)
        advance = progress.phase("ledger, then the floor (plain inserts), in turn", 2 * config.transfers)
        for part in _rounds(plan, INTERLEAVED_ROUNDS):
            ledger_drives.append(_drive_ledger(ledger, part, advance))
            floor_drives.append(drive_floor(engine, part, CURRENCY, advance))
    finally:
        ledger.close()
    measured, floor = combined(ledger_drives), combined(floor_drives)
    stored = config.transfers - sum(measured.failures.values())
    _verify(engine, accounts=config.accounts, stored=stored, rows=config.transfers)
    return _result(config, measured, floor, durable=durable)


def _compared(result: BenchResult, config: BenchConfig, server_url: str, progress: Progress) -> BenchResult:
    """The result with pgledger's rate on the same plan and server."""
    assert config.compare_pgledger is not None
    # The plan is rebuilt on stand-in account numbers: pgledger gets its own accounts for them.
    stand_ins = list(range(1, config.accounts + 1))
    measured = run_pgledger(
        server_url,
        pgledger_files(config.compare_pgledger),
        _plan(config, stand_ins),
        accounts=stand_ins,
        funding=FUNDING_MINOR,
        currency=CURRENCY,
        progress=progress,
    )
    rate = (config.transfers - sum(measured.failures.values())) / measured.seconds
    return replace(
        result,
        pgledger_transfers_per_s=rate,
        pgledger_latency_ms_p50=percentile(measured.latencies_s, 0.50) * 1_000,
        pgledger_latency_ms_p99=percentile(measured.latencies_s, 0.99) * 1_000,
        ratio_to_pgledger=result.transfers_per_s / rate,
    )


# Workload ----------------------------------------------------------------------------------------


def _open_accounts(ledger: Ledger, count: int, progress: Progress) -> list[int]:
    advance = progress.phase("opening accounts", count + 1)
    bank = ledger.create_account(currency=CURRENCY, kind=AccountKind.SETTLEMENT_BANK)
    advance(1)
    ids: list[int] = []
    for _ in range(count):
        account = ledger.create_account(
            currency=CURRENCY,
            kind=AccountKind.CUSTOMER_WALLET,
            flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        )
        ids.append(account.id)
        advance(1)
    funding = [
        Transfer(
            id=f"fund-{i}",
            debit_account_id=bank.id,
            credit_account_id=i,
            amount=FUNDING_MINOR,
            code=TRANSFER_CODE,
        )
        for i in ids
    ]
    for start in range(0, len(funding), BATCH_MAX):
        results = ledger.create_transfers(funding[start : start + BATCH_MAX])
        # Fresh accounts and unique ids: anything but ok is a ledger bug, not an operating error.
        assert all(result is _OK for result in results), Counter(results)
    return ids


def _plan(config: BenchConfig, account_ids: Sequence[int]) -> list[list[list[Transfer]]]:
    """Per client, its requests: ``batch`` transfers each, dealt to the clients in turn."""
    run = secrets.token_hex(3)
    sizes = [
        min(config.batch, config.transfers - start) for start in range(0, config.transfers, config.batch)
    ]
    plan: list[list[list[Transfer]]] = [[] for _ in range(config.clients)]
    counts = [0] * config.clients
    rngs = [random.Random(config.seed * 1_000 + c) for c in range(config.clients)]  # noqa: S311
    for index, size in enumerate(sizes):
        client = index % config.clients
        request = []
        for _ in range(size):
            debit, credit = rngs[client].sample(account_ids, 2)
            request.append(
                Transfer(
                    id=f"b{run}-{client}-{counts[client]}",
                    debit_account_id=debit,
                    credit_account_id=credit,
                    amount=rngs[client].randint(1, AMOUNT_MAX_MINOR),
                    code=TRANSFER_CODE,
                )
            )
            counts[client] += 1
        plan[client].append(request)
    return plan


# Driving -----------------------------------------------------------------------------------------


def _drive_ledger(ledger: Ledger, plan: list[list[list[Transfer]]], advance: Callable[[int], None]) -> Drive:
    # A lone client gains nothing from the group committer's hand-off between threads.
    call = ledger.create_transfers if len(plan) == 1 else ledger.submit

    def send(request: Sequence[Transfer]) -> list[str]:
        return [str(result) for result in call(request) if result is not _OK]

    return drive_clients(plan, [send] * len(plan), advance)


def _rounds(plan: list[list[list[Transfer]]], rounds: int) -> list[list[list[list[Transfer]]]]:
    """The plan cut into ``rounds`` parts (fewer if a client has fewer requests): part ``k`` holds
    the ``k``-th slice of every client's requests, in order."""
    # A client with fewer requests than rounds sits some out (drive_clients takes an empty list).
    count = max(1, min(rounds, max(len(requests) for requests in plan)))
    return [[requests[k * len(requests) // count:(k + 1) * len(requests) // count] for requests in plan]
            for k in range(count)]


# Results -----------------------------------------------------------------------------------------


def _verify(engine: Engine, *, accounts: int, stored: int, rows: int) -> None:
    """Assert, after the fact, that the ledger stayed consistent and both tables hold every row."""
    violations = check(engine)
    assert not violations, f"the ledger broke an invariant during the benchmark: {violations}"
    with engine.connect() as connection:
        ledger_rows = connection.exec_driver_sql("SELECT count(*) FROM ledger_transfers").scalar()
        floor_rows = connection.exec_driver_sql(f"SELECT count(*) FROM {FLOOR_TABLE}").scalar()  # noqa: S608
    assert ledger_rows == stored + accounts, (ledger_rows, stored, accounts)
    assert floor_rows == rows, (floor_rows, rows)


def _result(config: BenchConfig, ledger: Drive, floor: Drive, *, durable: bool) -> BenchResult:
    failed = sum(ledger.failures.values())
    rate = (config.transfers - failed) / ledger.seconds
    floor_rate = config.transfers / floor.seconds
    return BenchResult(
        backend=config.backend,
        batch=config.batch,
        clients=config.clients,
        accounts=config.accounts,
        transfers=config.transfers,
        seconds=ledger.seconds,
        transfers_per_s=rate,
        failed=failed,
        failures=dict(ledger.failures),
        latency_ms_p50=percentile(ledger.latencies_s, 0.50) * 1_000,
        latency_ms_p99=percentile(ledger.latencies_s, 0.99) * 1_000,
        floor_rows_per_s=floor_rate,
        floor_seconds=floor.seconds,
        floor_latency_ms_p50=percentile(floor.latencies_s, 0.50) * 1_000,
        floor_latency_ms_p99=percentile(floor.latencies_s, 0.99) * 1_000,
        ratio_to_floor=rate / floor_rate,
        durable=durable,
        seed=config.seed,
    )


def _judged(result: BenchResult) -> BenchResult:
    """The result with the first target that applies to it, and whether it was met."""
    for target in _TARGETS:
        if (target.backend, target.batch) != (result.backend, result.batch):
            continue
        if target.clients not in (None, result.clients):
            continue
        value = getattr(result, target.metric)
        if value is None:
            continue  # a comparison this run did not make
        return replace(result, target=target.text, target_met=float(value) >= target.minimum)
    return result


def markdown_table(results: Sequence[BenchResult]) -> str:
    """The results as a Markdown table, for docs/benchmarks.md."""
    header = [
        "| backend | batch | clients | transfers | transfers/s | p50 ms | p99 ms | floor rows/s"
        " | ledger/floor | pgledger/s | ledger/pgledger | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    rows = [
        f"| {r.backend} | {r.batch:,} | {r.clients} | {r.transfers:,} | {r.transfers_per_s:,.0f}"
        f" | {r.latency_ms_p50:.2f} | {r.latency_ms_p99:.2f} | {r.floor_rows_per_s:,.0f}"
        f" | {r.ratio_to_floor:.2f} | {_optional(r.pgledger_transfers_per_s, '{:,.0f}')}"
        f" | {_optional(r.ratio_to_pgledger, '{:.2f}')} | {target_text(r)} |"
        for r in results
    ]
    return "\n".join([*header, *rows]) + "\n"


def _optional(value: float | None, form: str) -> str:
    return "" if value is None else form.format(value)


def target_text(result: BenchResult) -> str:
    if result.target is None:
        return ""
    return f"{result.target}: {'met' if result.target_met else 'missed'}"
