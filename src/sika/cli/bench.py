"""``sika bench``: benchmarks. Progress goes to stderr, so that ``--json`` leaves stdout clean."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

if TYPE_CHECKING:
    from sika.bench.ledger import BenchConfig, BenchResult

__all__ = ["app"]

app = typer.Typer(
    help="Benchmarks: the ledger's throughput against the floor of plain inserts.",
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
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print each result as one JSON object per line (one run: the last line)."
        ),
    ] = False,
) -> None:
    """Ledger throughput on a fresh database, and the floor: the same rows plainly inserted."""
    from sika.bench.ledger import BACKENDS, TRANSFERS_DEFAULT, BenchConfig, BenchError, matrix_configs

    if matrix:
        if backend is not None and backend not in BACKENDS:
            raise BenchError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        configs = matrix_configs(
            (backend,) if backend else BACKENDS, transfers=transfers, accounts=accounts, seed=seed
        )
    else:
        if markdown is not None:
            raise BenchError("--markdown goes with --matrix")
        count = TRANSFERS_DEFAULT if transfers is None else transfers
        configs = [
            BenchConfig(
                backend=backend or "sqlite",
                transfers=count,
                batch=batch,
                clients=clients,
                accounts=accounts,
                seed=seed,
            )
        ]
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
            str(r.failed),
            target_text(r),
        )
    return table
