"""``sika serve`` and ``sika worker``."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import typer

from sika.bootstrap import bootstrap
from sika.config import settings

__all__ = ["serve", "worker"]


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65_535, help="Port to listen on."),
    demo: bool = typer.Option(False, "--demo", help="Seed demo accounts and turn sandboxes on."),
    jobs: bool = typer.Option(
        True, "--jobs/--no-jobs",
        help="Run the background workers in this process too; --no-jobs leaves them to `sika worker`."),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log",
        help="Log a line per HTTP request. At a thousand WhatsApp notifications a second that line costs"
             " about a fifth of the server's CPU, and every message is recorded in the inbox anyway."),
) -> None:
    """HTTP API, webhooks and background workers in one process; migrates the database first."""
    import uvicorn

    from sika import demo as demo_data
    from sika.api.app import create_app

    container = bootstrap(settings())
    extra_jobs = []
    if demo:
        from sika.rides.demo_fleet import DemoFleet
        from sika.workers import Job

        keys = demo_data.seed(container)
        assert container.rides is not None
        fleet = DemoFleet(container.rides, list(keys.driver_ids))
        extra_jobs.append(Job(name="demo-fleet", interval_s=1.0, run=fleet.tick, batch_max=1_000))
        wallets = ", ".join(f"{m} (PIN {w[2]})" for m, w in demo_data.DEMO_WALLETS.items())
        typer.echo(f"sika demo: wallets {wallets}", err=True)
        typer.echo(f"sika demo: agent API key {keys.agent}", err=True)
        typer.echo(f"sika demo: merchant API key {keys.merchant}", err=True)
        typer.echo(f"sika demo: admin API key {keys.admin}", err=True)
        typer.echo(f"sika demo: {len(keys.driver_ids)} moto drivers online in Lomé (they accept rides by"
                   " themselves); sandbox providers on (magic references: see docs/wallet.md);"
                   f" try http://{host}:{port}/docs or `sika chat --phone +22890112233`", err=True)
        from sika.console.demo import seed_operators

        staff = ", ".join(f"{name} (password {password})"
                          for name, password in seed_operators(container.engine).items())
        typer.echo(f"sika demo: operations console at http://{host}:{port}/console: log in as {staff},"
                   " or with the admin API key above", err=True)
    uvicorn.run(create_app(container, run_workers=jobs, extra_jobs=extra_jobs), host=host, port=port,
                log_level="info", access_log=access_log)


def worker() -> None:
    """The background workers alone, for running several processes against one PostgreSQL."""
    from sika.workers import WorkerRunner, default_jobs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    container = bootstrap(settings())
    runner = WorkerRunner(default_jobs(container))

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    logging.getLogger("sika.worker").info("worker started on %s", container.engine.dialect.name)
    try:
        runner.wait()
    finally:
        container.close()
