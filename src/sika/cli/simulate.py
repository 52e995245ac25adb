"""``sika simulate``: a city's moto-taxi service, simulated. Progress goes to stderr, the summary to
stdout; with ``--json`` the last line of stdout is one JSON object."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from sika.errors import SikaError

if TYPE_CHECKING:
    from sika.rides.simulation import SimulationConfig, SimulationResult

__all__ = ["app"]

app = typer.Typer(
    help="Simulations: a city's moto-taxi service, dispatched by the real dispatch code.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def simulate() -> None:
    """Simulations (numbers for decisions, never assertions; see docs/rides.md, "Simulator")."""
    # A callback keeps `rides` a sub-command even while it is this group's only command.


@app.command("rides")
def rides_command(
    *,
    city: Annotated[
        str, typer.Option(help="The city's id (lome, kara, cotonou, ouagadougou, bamako).")
    ] = "lome",
    drivers: Annotated[
        int | None, typer.Option(help="Moto drivers online (default 300, calibrated for Lomé).")
    ] = None,
    requests_per_hour: Annotated[
        float | None,
        typer.Option(help="Ride requests per hour, averaged over a day (default 125, calibrated for Lomé)."),
    ] = None,
    hours: Annotated[float, typer.Option(help="Simulated hours.")] = 24.0,
    policy: Annotated[
        str, typer.Option(help="greedy (offers to a few drivers per request) or batch.")
    ] = "greedy",
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same run.")] = 1,
    start_hour: Annotated[float, typer.Option(help="Local time the simulation starts at, in hours.")] = 6.0,
    accept_probability: Annotated[float, typer.Option(help="Chance that a driver accepts an offer.")] = 0.8,
    profile: Annotated[
        str, typer.Option(help="normal (a working day) or ramadan (quiet by day, peaks before iftar, late).")
    ] = "normal",
    fatigue: Annotated[
        str, typer.Option(help="on: drivers keep the city's hours rule (12 h in any 24 h, fasting mode).")
    ] = "off",
    json_output: Annotated[
        bool, typer.Option("--json", help="Also print the result as one JSON object, on the last line.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG: the waits' distribution and the waits over the day.")
    ] = None,
) -> None:
    """Simulate a day of ride requests in a city: waits, completed trips, drivers' utilization."""
    from sika.rides.cities import DEFAULT_CITIES, city_by_id
    from sika.rides.simulation import (
        DRIVERS_DEFAULT,
        REQUESTS_PER_HOUR_DEFAULT,
        SimulationConfig,
    )

    if fatigue not in ("on", "off"):
        raise SikaError(f"--fatigue is on or off, not {fatigue!r}", code="invalid_simulation")
    config = SimulationConfig(
        city=city_by_id(DEFAULT_CITIES, city),
        drivers=DRIVERS_DEFAULT if drivers is None else drivers,
        requests_per_hour=REQUESTS_PER_HOUR_DEFAULT if requests_per_hour is None else requests_per_hour,
        hours=hours,
        policy=policy,
        seed=seed,
        start_hour=start_hour,
        accept_probability=accept_probability,
        profile=profile,
        fatigue=fatigue == "on",
    )
    config.validate()  # every mistake before the run, not after it
    if plot is not None and not plot.parent.is_dir():
        raise SikaError(f"cannot write the plot: {plot.parent} is not a directory", code="invalid_path")

    result = _run(config)
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 100)
    console.print(_table(result))
    if plot is not None:
        _plot(result, plot)
    if json_output:
        typer.echo(json.dumps(result.as_json(), sort_keys=True))


def _run(config: SimulationConfig) -> SimulationResult:
    """The run, with a progress bar on stderr."""
    from sika.rides.simulation import simulate

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[clock]}"),
               TimeElapsedColumn())
    with RichProgress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"simulating {config.city.name} ({config.policy}, {config.profile})",
                                 total=config.hours * 3_600, clock="")
        return simulate(config, lambda done_s: progress.update(
            task, completed=done_s, clock=f"{done_s / 3_600:.1f} of {config.hours:g} h"))


def _table(result: SimulationResult) -> Table:
    c = result.config
    start = f"{int(c.start_hour):02d}:{round(c.start_hour % 1 * 60):02d}"
    fatigue = "hours rule on" if c.fatigue else "no hours rule"
    table = Table(title=f"{c.city.name}: {c.policy} dispatch, {c.profile} day ({c.start_day}), {fatigue}, "
                        f"seed {c.seed}",
                  caption=f"{c.drivers} drivers, {c.requests_per_hour:g} requests/h, "
                          f"{c.hours:g} h from {start}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("requests", f"{result.requests:,}")
    table.add_row("completed", f"{result.completed:,}")
    table.add_row("completed_ratio", f"{result.completed_ratio:.3f}")
    for reason, count in result.cancellations.items():
        table.add_row(f"cancelled: {reason}", f"{count:,}")
    if not result.cancellations:
        table.add_row("cancelled", "0")
    for name, value in result.wait_s().items():
        table.add_row(f"wait {name}", "-" if value is None else f"{value:,.0f} s ({value / 60:.1f} min)")
    assign_s = result.assign_s_mean()
    table.add_row("of which until a driver accepts (mean)", "-" if assign_s is None else f"{assign_s:.1f} s")
    table.add_row("driver_utilization", f"{result.driver_utilization:.3f}")
    table.add_row("offers (accepted)", f"{result.offers:,} ({result.offers_accepted:,})")
    table.add_row("driver_online_h_max (any 24 h)", f"{result.driver_online_h_max:.2f} h")
    return table


def _plot(result: SimulationResult, path: Path) -> None:
    # A Figure without pyplot: the Agg canvas, no global state, nothing to close.
    from matplotlib.figure import Figure

    from sika.rides.simulation import wait_by_hour

    c = result.config
    figure = Figure(figsize=(10, 4), layout="constrained")
    histogram, over_time = figure.subplots(1, 2)
    waits_min = [pickup.wait_s / 60 for pickup in result.pickups]
    histogram.hist(waits_min, bins=40, color="#4c72b0")
    for name, value in result.wait_s().items():
        if value is not None and name != "p99":
            histogram.axvline(value / 60, color="#c44e52", linestyle="--" if name == "mean" else ":",
                              label=f"{name} {value / 60:.1f} min")
    histogram.set(title="Wait: request to driver at pickup", xlabel="minutes", ylabel="riders")
    if waits_min:
        histogram.legend()
    hours_from_start = [c.start_hour + pickup.requested_s / 3_600 for pickup in result.pickups]
    over_time.scatter(hours_from_start, waits_min, s=2, alpha=0.3, color="#4c72b0", label="one rider")
    by_hour = wait_by_hour(result)
    over_time.plot([c.start_hour + hour + 0.5 for hour, _, _ in by_hour],
                   [mean_s / 60 for _, mean_s, _ in by_hour],
                   color="#c44e52", marker="o", label="mean by hour")
    start = int(c.start_hour)
    ticks = list(range(start, start + math.ceil(c.hours) + 1, max(1, math.ceil(c.hours / 8))))
    over_time.set_xlim(c.start_hour, c.start_hour + c.hours)
    over_time.set_xticks(ticks, [f"{t % 24:02d}:00" for t in ticks])
    over_time.set(title="Waits over the day", xlabel="local time of the request", ylabel="minutes")
    over_time.legend()
    fatigue = "hours rule" if c.fatigue else "no hours rule"
    figure.suptitle(f"{c.city.name}, {c.policy}, {c.profile} day, {fatigue}, {c.drivers} drivers, "
                    f"{c.requests_per_hour:g} requests/h, seed {c.seed}")
    try:
        figure.savefig(path, format="png", dpi=80)
    except OSError as exc:
        message = f"cannot write the plot to {path}: {exc.strerror or exc}"
        raise SikaError(message, code="invalid_path") from exc
