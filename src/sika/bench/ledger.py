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
4. audits the ledger (``sika ledger check``'s invariants) and counts both tables' rows.

The ratio of the two rates says what the ledger's logic costs on top of writing its rows durably.
"""

from __future__ import annotations

import math
import random
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import CheckConstraint, Engine, MetaData, create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql.elements import quoted_name

from sika.config import settings
from sika.db import create_db_engine
from sika.devservers import temporary_postgres
from sika.errors import SikaError
from sika.ledger import BATCH_MAX, AccountFlags, AccountKind, Ledger, Transfer, TransferResult, schema
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
    "Progress",
    "bench_server",
    "check_choice",
    "check_ranges",
    "fresh_database",
    "markdown_table",
    "matrix_configs",
    "percentile",
    "rounded_json",
    "run_bench",
    "target_text",
]

BACKENDS = ("sqlite", "postgres")
TRANSFERS_DEFAULT = 20_000
BATCH_DEFAULT = 100
ACCOUNTS_DEFAULT = 50
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
FLOOR_TABLE = "bench_floor"
_FLOOR_COLUMNS = (
    "id, debit_account_id, credit_account_id, amount, currency, code, flags, pending_id,"
    " timeout_s, metadata, created_at_ns"
)
_OK = TransferResult.OK


class BenchError(SikaError):
    code = "bench_invalid_argument"


def check_choice(name: str, value: str, choices: Sequence[str], error: type[BenchError]) -> None:
    """Raise ``error`` when option ``name`` is not one of ``choices``."""
    if value not in choices:
        raise error(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def check_ranges(limits: Sequence[tuple[str, float, float, float]], error: type[BenchError]) -> None:
    """Raise ``error`` naming the first option (``name, value, lowest, highest``) out of its range."""
    for name, value, low, high in limits:
        if not low <= value <= high:
            raise error(f"{name} must be between {_plain(low)} and {_plain(high)}, not {_plain(value)}")


def _plain(number: float) -> str:
    """1000000 rather than 1e+06, 0.5 as 0.5."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


class Progress(Protocol):
    """Where a run reports its progress: ``phase`` starts a bar and returns its ``advance``."""

    def phase(self, description: str, total: int) -> Callable[[int], None]: ...


class _Silent:
    def phase(self, description: str, total: int) -> Callable[[int], None]:
        return lambda _n: None


# For runs nobody watches (tests, --json without a terminal); every benchmark shares it.
SILENT: Progress = _Silent()


@dataclass(frozen=True, slots=True)
class BenchConfig:
    backend: str = "sqlite"
    transfers: int = TRANSFERS_DEFAULT
    batch: int = BATCH_DEFAULT
    clients: int = 1
    accounts: int = ACCOUNTS_DEFAULT
    seed: int = 1

    def validate(self) -> None:
        """Raise :class:`BenchError` naming the first argument out of its range."""
        check_choice("--backend", self.backend, BACKENDS, BenchError)
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


# From the issue: SQLite within half of the floor; PostgreSQL twice pgledger's published rates.
_TARGETS = (
    _Target("sqlite", 1_000, None, "ratio_to_floor", 0.5, ">= 0.5 x floor"),
    _Target("postgres", 1, 20, "transfers_per_s", 3_000, ">= 3,000/s"),
    _Target("postgres", 100, 20, "transfers_per_s", 10_000, ">= 10,000/s"),
)


@dataclass(slots=True)
class _Drive:
    """What driving one workload through the clients measured."""

    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


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


@contextmanager
def bench_server(backend: str) -> Iterator[str | None]:
    """The PostgreSQL server a series of runs share (``None`` for SQLite).

    ``SIKA_DATABASE_URL`` when it names PostgreSQL, else a throwaway cluster with fsync on.
    """
    if backend == "sqlite":
        yield None
        return
    configured = settings().database_url
    if make_url(configured).get_backend_name() == "postgresql":
        yield configured
        return
    with temporary_postgres(durable=True) as url:
        yield url


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
            return _run_on(engine, config, reporter)
        finally:
            engine.dispose()


def _run_on(engine: Engine, config: BenchConfig, progress: Progress) -> BenchResult:
    upgrade(engine)
    _create_floor_table(engine)
    durable = _is_durable(engine)
    ledger = Ledger(engine)
    try:
        account_ids = _open_accounts(ledger, config.accounts, progress)
        plan = _plan(config, account_ids)
        measured = _drive_ledger(ledger, plan, progress)
    finally:
        ledger.close()
    floor = _drive_floor(engine, plan, progress)
    stored = config.transfers - sum(measured.failures.values())
    _verify(engine, accounts=config.accounts, stored=stored, rows=config.transfers)
    return _result(config, measured, floor, durable=durable)


# Databases ---------------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, server_url: str | None) -> Iterator[str]:
    if backend == "sqlite":
        # Under the system's temporary directory: on this machine's disk, so fsync is real.
        with tempfile.TemporaryDirectory(prefix="sika-bench-") as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    assert server_url is not None
    name = f"sika_bench_{secrets.token_hex(4)}"
    url = make_url(server_url)
    if url.get_driver_name() not in ("psycopg", "psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        _admin_execute(admin, f'CREATE DATABASE "{name}"', server_url)
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            _admin_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server_url)
    finally:
        admin.dispose()


def _admin_execute(admin: Engine, statement: str, server_url: str) -> None:
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    except SQLAlchemyError as exc:
        shown = make_url(server_url).render_as_string(hide_password=True)
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        raise BenchError(
            f"cannot create or drop a benchmark database on {shown}: {' '.join(str(cause).split())};"
            " check SIKA_DATABASE_URL (its user needs CREATEDB), or unset it to use a throwaway cluster",
            code="bench_database_unavailable",
        ) from exc


def _is_durable(engine: Engine) -> bool:
    """Whether a returned commit survives a power cut, as the database is set up."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
            # WAL with FULL (2) syncs the log on every commit.
            synced = journal == "wal" and synchronous == 2
            directory = str(engine.url.database)
        else:
            fsync = connection.exec_driver_sql("SHOW fsync").scalar()
            commit = connection.exec_driver_sql("SHOW synchronous_commit").scalar()
            synced = fsync == "on" and commit != "off"
            directory = str(connection.exec_driver_sql("SHOW data_directory").scalar())
    # fsync on a memory file system (a tmpfs /tmp) returns at once and proves nothing.
    return synced and not _in_memory_filesystem(Path(directory))


def _in_memory_filesystem(path: Path) -> bool:
    """Whether ``path`` lies on tmpfs or ramfs, as far as this machine's mount table tells."""
    mounts = Path("/proc/mounts")
    if not mounts.exists():
        return False
    resolved = str(path.resolve())
    best, best_type = "", ""
    for line in mounts.read_text().splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, kind = fields[1], fields[2]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, best_type = point, kind
    return best_type in ("tmpfs", "ramfs")


def _create_floor_table(engine: Engine) -> None:
    """``bench_floor``: ``ledger_transfers`` again, with its indexes, unique and foreign keys."""
    metadata = MetaData()
    schema.accounts.to_metadata(metadata)  # what the copied foreign keys point at
    floor = schema.transfers.to_metadata(metadata, name=FLOOR_TABLE)
    # Index names are per schema, not per table: rename the copies so that they do not collide.
    for index in floor.indexes:
        index.name = quoted_name(str(index.name).replace("ledger_transfers", FLOOR_TABLE), None)
    for constraint in floor.constraints:
        if isinstance(constraint, CheckConstraint) and constraint.name:
            constraint.name = str(constraint.name).replace("ledger_transfers", FLOOR_TABLE)
    floor.create(engine)


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

# One client's way to send a request; returns the result codes other than ``ok``.
_Send = Callable[[Sequence[Any]], list[str]]


def _drive(
    plan: Sequence[Sequence[Sequence[Any]]], senders: Sequence[_Send], advance: Callable[[int], None]
) -> _Drive:
    """Run every client's requests in its own thread, all released at once; time the whole."""
    latencies: list[list[float]] = [[] for _ in plan]
    failures: list[list[str]] = [[] for _ in plan]
    errors: list[BaseException] = []
    start_line = threading.Barrier(len(plan) + 1)

    def client(index: int) -> None:
        start_line.wait()
        try:
            for request in plan[index]:
                began = time.perf_counter()
                failures[index].extend(senders[index](request))
                latencies[index].append(time.perf_counter() - began)
                advance(len(request))
        except BaseException as exc:  # reported in the main thread, not lost with this one
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,), name=f"bench-client-{i}") for i in range(len(plan))]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if errors:
        raise errors[0]
    return _Drive(
        seconds=seconds,
        latencies_s=[s for client_latencies in latencies for s in client_latencies],
        failures=Counter(code for client_failures in failures for code in client_failures),
    )


def _drive_ledger(ledger: Ledger, plan: list[list[list[Transfer]]], progress: Progress) -> _Drive:
    # A lone client gains nothing from the group committer's hand-off between threads.
    call = ledger.create_transfers if len(plan) == 1 else ledger.submit

    def send(request: Sequence[Transfer]) -> list[str]:
        return [str(result) for result in call(request) if result is not _OK]

    advance = progress.phase("ledger", _count(plan))
    return _drive(plan, [send] * len(plan), advance)


def _drive_floor(engine: Engine, plan: list[list[list[Transfer]]], progress: Progress) -> _Drive:
    rows = [[[_floor_row(t) for t in request] for request in client] for client in plan]
    raws = [engine.raw_connection() for _ in plan]
    try:
        if engine.dialect.name == "sqlite":
            writer = threading.Lock()
            senders = [_sqlite_floor_sender(raw.driver_connection, writer) for raw in raws]
        else:
            senders = [_postgres_floor_sender(raw.driver_connection) for raw in raws]
        advance = progress.phase("floor (plain inserts)", _count(plan))
        return _drive(rows, senders, advance)
    finally:
        for raw in raws:
            raw.close()


def _floor_row(t: Transfer) -> tuple[Any, ...]:
    # What the ledger stores for a plain transfer; the time is stamped per request, as it does.
    return (t.id, t.debit_account_id, t.credit_account_id, t.amount, CURRENCY, t.code, 0, None, 0, "{}")


def _sqlite_floor_sender(connection: Any, writer: threading.Lock) -> _Send:
    statement = f"INSERT INTO {FLOOR_TABLE} ({_FLOOR_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608

    def send(rows: Sequence[Any]) -> list[str]:
        now_ns = time.time_ns()
        values = [(*row, now_ns) for row in rows]
        # SQLite has one writer at a time, and its busy handler polls with sleeps of up to 100 ms;
        # threads of one process queue on a lock instead, as any careful application would.
        with writer:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(statement, values)
            cursor.execute("COMMIT")
            cursor.close()
        return []

    return send


def _postgres_floor_sender(connection: Any) -> _Send:
    insert = f"INSERT INTO {FLOOR_TABLE} ({_FLOOR_COLUMNS}) VALUES ({', '.join(['%s'] * 11)})"  # noqa: S608
    copy_in = f"COPY {FLOOR_TABLE} ({_FLOOR_COLUMNS}) FROM STDIN"

    def send(rows: Sequence[Any]) -> list[str]:
        now_ns = time.time_ns()
        with connection.cursor() as cursor:
            if len(rows) == 1:
                # One row: a plain INSERT is one round trip, COPY's hand-shake is two.
                cursor.execute(insert, (*rows[0], now_ns))
            else:
                with cursor.copy(copy_in) as copy:
                    for row in rows:
                        copy.write_row((*row, now_ns))
        connection.commit()
        return []

    return send


def _count(plan: Sequence[Sequence[Sequence[Any]]]) -> int:
    return sum(len(request) for client in plan for request in client)


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


def _result(config: BenchConfig, ledger: _Drive, floor: _Drive, *, durable: bool) -> BenchResult:
    failed = sum(ledger.failures.values())
    rate = (config.transfers - failed) / ledger.seconds
    floor_rate = config.transfers / floor.seconds
    result = BenchResult(
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
    return _judged(result)


def _judged(result: BenchResult) -> BenchResult:
    for target in _TARGETS:
        if (target.backend, target.batch) != (result.backend, result.batch):
            continue
        if target.clients not in (None, result.clients):
            continue
        met = float(getattr(result, target.metric)) >= target.minimum
        return replace(result, target=target.text, target_met=met)
    return result


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0.0 for no samples), in the samples' unit."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def rounded_json(result: Any) -> dict[str, Any]:
    """A result dataclass as JSON fields, floats to three decimals."""
    values: dict[str, Any] = asdict(result)
    return {key: round(value, 3) if isinstance(value, float) else value for key, value in values.items()}


def markdown_table(results: Sequence[BenchResult]) -> str:
    """The results as a Markdown table, for docs/benchmarks.md."""
    header = [
        "| backend | batch | clients | transfers | transfers/s | p50 ms | p99 ms | floor rows/s"
        " | ledger/floor | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    rows = [
        f"| {r.backend} | {r.batch:,} | {r.clients} | {r.transfers:,} | {r.transfers_per_s:,.0f}"
        f" | {r.latency_ms_p50:.2f} | {r.latency_ms_p99:.2f} | {r.floor_rows_per_s:,.0f}"
        f" | {r.ratio_to_floor:.2f} | {target_text(r)} |"
        for r in results
    ]
    return "\n".join([*header, *rows]) + "\n"


def target_text(result: BenchResult) -> str:
    if result.target is None:
        return ""
    return f"{result.target}: {'met' if result.target_met else 'missed'}"
