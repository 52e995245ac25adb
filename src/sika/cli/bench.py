"""``sika bench``: benchmarks. Progress goes to stderr, so that ``--json`` leaves stdout clean."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

if TYPE_CHECKING:
    from sika.bench.dispatch import DispatchResult
    from sika.bench.ledger import BenchConfig, BenchResult

__all__ = ["app"]

app = typer.Typer(
    help="Benchmarks: the ledger against plain inserts, WhatsApp end to end, nearest-driver search vs Redis,"
    " promotions' cost per transfer.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def bench() -> None:
    """Benchmarks (numbers, never assertions; see docs/benchmarks.md)."""
    # A callback keeps `ledger` a sub-command even while it is this group's only command.


@app.command("ledger")
def ledger_command(
    *,
    backend: Annotated[
        str | None, typer.Option(help="sqlite or postgres (default sqlite; with --matrix, both).")
    ] = None,
    transfers: Annotated[
        int | None, typer.Option(help="Transfers per run (default 20000; with --matrix, sized per cell).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Transfers per request (1..8190).")] = 100,
    clients: Annotated[int, typer.Option(help="Concurrent clients (threads).")] = 1,
    accounts: Annotated[int, typer.Option(help="Funded accounts transfers move between.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the random transfers.")] = 1,
    matrix: Annotated[
        bool,
        typer.Option(
            "--matrix",
            "--all",
            help="Run the whole table: batch 1, 100, 1000, 8000 × 1 and 20 clients × backends.",
        ),
    ] = False,
    markdown: Annotated[
        Path | None, typer.Option(help="With --matrix: also write the table as Markdown to this file.")
    ] = None,
    compare_pgledger: Annotated[
        Path | None,
        typer.Option(
            help="A pgledger checkout (or its SQL file): run the same transfers through it on the same"
            " PostgreSQL server (postgres only; pgledger is not shipped with Sika)."
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print each result as one JSON object per line (one run: the last line)."
        ),
    ] = False,
) -> None:
    """Ledger throughput on a fresh database, and the floor: the same rows plainly inserted."""
    from sika.bench.ledger import BenchConfig, BenchError

    if markdown is not None and not matrix:
        raise BenchError("--markdown goes with --matrix")
    single = BenchConfig(
        backend=backend or "sqlite", transfers=transfers or 0, batch=batch, clients=clients,
        accounts=accounts, seed=seed, compare_pgledger=compare_pgledger,
    )
    configs = _ledger_configs(single, matrix=matrix, backend=backend, transfers=transfers)
    for config in configs:
        config.validate()  # every mistake before the first minute of work, not after it
    results = _run_all(configs)
    if json_output:
        # One object per run: with a single run, the last line is its result.
        for result in results:
            typer.echo(json.dumps(result.as_json(), sort_keys=True))
    else:
        console = Console()
        if not console.is_terminal:
            console.width = max(console.width, 160)  # a file or pipe has room for every column
        console.print(_table(results))
    if markdown is not None:
        from sika.bench.ledger import markdown_table

        markdown.write_text(markdown_table(results))


@app.command("whatsapp")
def whatsapp_command(
    *,
    backend: Annotated[
        str, typer.Option(help="sqlite or postgres (a throwaway cluster, fsync on).")
    ] = "sqlite",
    mix: Annotated[
        str, typer.Option(help="What users write: realistic (PIN-confirmed transfers, bills and airtime"
                               " beside balance and history) or read (balance and history only).")
    ] = "realistic",
    messages: Annotated[int, typer.Option(help="Inbound messages (one signed notification each).")] = 10_000,
    users: Annotated[int, typer.Option(help="Wallets the messages come from, in turn.")] = 1_000,
    clients: Annotated[
        int, typer.Option(help="Concurrent webhook clients (keep-alive connections, one asyncio loop).")
    ] = 16,
    processes: Annotated[
        int, typer.Option(help="`sika worker` processes besides `sika serve --no-jobs`, sharing the inbox"
                               " (0: the server runs the jobs itself). The default is the deployment the"
                               " targets are set for (docs/scaling.md).")
    ] = 2,
    servers: Annotated[
        int, typer.Option(help="`sika serve` processes, the clients dealt to them in turn.")
    ] = 1,
    redis: Annotated[
        bool, typer.Option("--redis/--no-redis",
                           help="Share a Redis between the processes (SIKA_REDIS_URL, else a throwaway one).")
    ] = False,
    rate: Annotated[
        float, typer.Option(help="Messages a second the clients send at most (0: as fast as answered).")
    ] = 0.0,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log",
                           help="The server's access log (off: every message is in the inbox anyway).")
    ] = False,
    inbox_threads: Annotated[
        int | None, typer.Option(help="Threads handling the inbox in each process that runs it"
                                      " (default: the database's, 2 on PostgreSQL, 1 on SQLite).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object on the last line.")
    ] = False,
) -> None:
    """Inbound WhatsApp messages per second end to end (webhook, inbox, dialog, replies at a local fake
    Graph API), and the webhook's latency."""
    from sika.bench.whatsapp import WhatsAppBenchConfig, run_whatsapp_bench

    config = WhatsAppBenchConfig(backend=backend, mix=mix, messages=messages, users=users, clients=clients,
                                 processes=processes, servers=servers, redis=redis, rate_per_s=rate,
                                 access_log=access_log, inbox_threads=inbox_threads)
    config.validate()
    stderr = Console(stderr=True)
    with _progress(stderr) as progress:
        progress.title = f"whatsapp {backend} {mix}, {processes} extra worker(s)"
        result = run_whatsapp_bench(config, progress=progress)
    if json_output:
        typer.echo(json.dumps(result.as_json(), sort_keys=True))
        return
    table = Table(title="sika bench whatsapp (webhook → inbox → dialog → fake Graph API)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in result.as_json().items():
        if name not in ("server_error_lines", "wrong_answer_examples", "money_problems"):
            table.add_row(name, f"{value:,}" if isinstance(value, int | float) and not isinstance(value, bool)
                          else str(value))
    Console().print(table)
    for line in (*result.server_error_lines, *result.wrong_answer_examples, *result.money_problems):
        stderr.print(line, style="yellow", soft_wrap=True, markup=False)


@app.command("dispatch")
def dispatch_command(
    *,
    drivers: Annotated[int, typer.Option(help="Drivers placed over Lomé's service area.")] = 50_000,
    queries: Annotated[int, typer.Option(help="Rider points searched (10 nearest within 3 km).")] = 10_000,
    resolution: Annotated[int, typer.Option(help="H3 resolution of Sika's index (5..12).")] = 9,
    seed: Annotated[int, typer.Option(help="Seed of the random positions.")] = 1,
    redis_url: Annotated[
        str | None,
        typer.Option(help="Redis to compare with (default SIKA_REDIS_URL, else a throwaway redis-server)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object on the last line.")
    ] = False,
) -> None:
    """Nearest-driver search on the same data in Sika's H3 index and in Redis GEOSEARCH."""
    from sika.bench.dispatch import DispatchConfig, bench_redis, run_dispatch_bench

    config = DispatchConfig(drivers=drivers, queries=queries, resolution=resolution, seed=seed)
    config.validate()
    stderr = Console(stderr=True)
    with bench_redis(redis_url) as url, _progress(stderr) as progress:
        progress.title = "dispatch"
        result = run_dispatch_bench(config, redis_url=url, progress=progress)
    if json_output:
        typer.echo(json.dumps(result.as_json(), sort_keys=True))
    else:
        Console().print(_dispatch_table(result))


def _dispatch_table(r: DispatchResult) -> Table:
    table = Table(
        title=f"sika bench dispatch: {r.drivers:,} drivers, {r.queries:,} queries,"
        f" {r.k} nearest within {r.radius_m:,.0f} m (H3 resolution {r.resolution})"
    )
    for name in ("", "Sika H3Index", "Redis GEOSEARCH", "RedisGeoIndex (Lua)"):
        table.add_column(name, justify="left" if not name else "right")
    table.add_row("p50 µs", f"{r.sika_p50_us:,.1f}", f"{r.redis_p50_us:,.1f}", f"{r.redis_index_p50_us:,.1f}")
    table.add_row("p99 µs", f"{r.sika_p99_us:,.1f}", f"{r.redis_p99_us:,.1f}", f"{r.redis_index_p99_us:,.1f}")
    table.add_row(
        "loads/s (batched)", f"{r.sika_inserts_per_s:,.0f}", f"{r.redis_pipelined_updates_per_s:,.0f}",
        f"{r.redis_index_updates_per_s:,.0f}",
    )
    table.add_row(
        "moves/s (one per call)", f"{r.sika_updates_per_s:,.0f}", f"{r.redis_single_updates_per_s:,.0f}",
        f"{r.redis_index_single_updates_per_s:,.0f}",
    )
    table.add_row("agreement with Sika", "", f"{r.agreement:.1%}", f"{r.redis_index_agreement:.1%}")
    table.caption = f"{r.target}: {'met' if r.target_met else 'missed'} (Redis {r.redis_version})"
    return table


def _ledger_configs(
    single: BenchConfig, *, matrix: bool, backend: str | None, transfers: int | None
) -> list[BenchConfig]:
    """The runs asked for: ``single`` as given, or the whole matrix with its options."""
    from sika.bench.ledger import BACKENDS, TRANSFERS_DEFAULT, BenchError, matrix_configs

    if not matrix:
        return [single if transfers is not None else replace(single, transfers=TRANSFERS_DEFAULT)]
    if backend is not None and backend not in BACKENDS:
        raise BenchError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    configs = matrix_configs(
        (backend,) if backend else BACKENDS, transfers=transfers, accounts=single.accounts,
        seed=single.seed,
    )
    if single.compare_pgledger is None:
        return configs
    return [replace(c, compare_pgledger=single.compare_pgledger) if c.backend == "postgres" else c
            for c in configs]


def _run_all(configs: Sequence[BenchConfig]) -> list[BenchResult]:
    from sika.bench.ledger import bench_server, run_bench

    stderr = Console(stderr=True)
    results: list[BenchResult] = []
    backends = list(dict.fromkeys(config.backend for config in configs))
    with _progress(stderr) as progress:
        for backend in backends:
            if backend == "postgres":
                stderr.print("starting or connecting to PostgreSQL…")
            with bench_server(backend) as server_url:
                for config in (c for c in configs if c.backend == backend):
                    progress.title = f"{config.backend} batch {config.batch} × {config.clients} clients"
                    result = run_bench(config, server_url=server_url, progress=progress)
                    if not result.durable:
                        stderr.print(
                            "[yellow]warning: commits were not synced to disk (PostgreSQL"
                            " with fsync or synchronous_commit off, or files on tmpfs: set"
                            " TMPDIR to a disk): these are not durable numbers",
                            soft_wrap=True,
                        )
                    results.append(result)
    return results


@app.command("promotions")
def promotions_command(
    *,
    backend: Annotated[str, typer.Option(help="sqlite or postgres.")] = "sqlite",
    transfers: Annotated[int, typer.Option(help="Transfers per arm and round.")] = 500,
    clients: Annotated[int, typer.Option(help="Concurrent clients (threads).")] = 8,
    rounds: Annotated[int, typer.Option(help="Rounds; the arms alternate, each figure is its median.")] = 6,
    mix: Annotated[str, typer.Option(help="default (the best cashback pays, plus a draw entry) or heavy "
                                          "(two cashbacks add up, one capped, plus an entry).")] = "default",
    json_output: Annotated[bool, typer.Option("--json", help="The result as JSON on the last line.")] = False,
) -> None:
    """Wallet transfers a second with three active campaigns against none, in the same run (goal: at
    most 15 % slower)."""
    from sika.bench.promotions import PromotionsBenchConfig, run_promotions_bench

    config = PromotionsBenchConfig(backend=backend, transfers=transfers, clients=clients, rounds=rounds,
                                   mix=mix)
    config.validate()
    console = Console(stderr=True)
    with _progress(console) as phases:
        phases.title = f"promotions on {backend}"
        result = run_promotions_bench(config, progress=phases)
    if json_output:
        typer.echo(json.dumps(result.as_json()))
        return
    table = Table(title=f"sika bench promotions ({backend}, {mix} mix, {clients} clients, {rounds} rounds)")
    for name in ("campaigns", "transfers/s (median)", "rounds"):
        table.add_column(name, justify="right")
    table.add_row("none", f"{result.transfers_per_s_without:,.0f}",
                  ", ".join(f"{r:,.0f}" for r in result.rounds_without))
    table.add_row("three", f"{result.transfers_per_s_with:,.0f}",
                  ", ".join(f"{r:,.0f}" for r in result.rounds_with))
    Console().print(table)
    cpu = result.as_json()
    typer.echo(f"CPU per transfer: {cpu['cpu_ms_per_transfer_without']} ms without, "
               f"{cpu['cpu_ms_per_transfer_with']} ms with three campaigns")
    typer.echo(f"three campaigns cost {result.slowdown_pct:.1f} % of the throughput (goal: at most 15 %); "
               f"{result.rewards} rewards and {result.entries} draw entries")


class _RichPhases:
    """The bench module's progress interface, drawn by rich; each phase replaces the last."""

    def __init__(self, progress: RichProgress) -> None:
        self._progress = progress
        self.title = ""

    def phase(self, description: str, total: int) -> Callable[[int], None]:
        for task in self._progress.task_ids:
            self._progress.remove_task(task)
        task = self._progress.add_task(f"{self.title}: {description}", total=total)
        return lambda n: self._progress.advance(task, n)


@contextmanager
def _progress(console: Console) -> Iterator[_RichPhases]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with RichProgress(*columns, console=console, transient=True) as progress:
        yield _RichPhases(progress)


def _table(results: Sequence[BenchResult]) -> Table:
    from sika.bench.ledger import target_text

    table = Table(title="sika bench ledger (durable commits)")
    for name in (
        "backend",
        "batch",
        "clients",
        "transfers",
        "transfers/s",
        "p50 ms",
        "p99 ms",
        "floor rows/s",
        "ledger/floor",
        "pgledger/s",
        "ledger/pgledger",
        "failed",
        "target",
    ):
        table.add_column(name, justify="left" if name in ("backend", "target") else "right")
    for r in results:
        table.add_row(
            r.backend,
            f"{r.batch:,}",
            str(r.clients),
            f"{r.transfers:,}",
            f"{r.transfers_per_s:,.0f}",
            f"{r.latency_ms_p50:.2f}",
            f"{r.latency_ms_p99:.2f}",
            f"{r.floor_rows_per_s:,.0f}",
            f"{r.ratio_to_floor:.2f}",
            "" if r.pgledger_transfers_per_s is None else f"{r.pgledger_transfers_per_s:,.0f}",
            "" if r.ratio_to_pgledger is None else f"{r.ratio_to_pgledger:.2f}",
            str(r.failed),
            target_text(r),
        )
    return table
