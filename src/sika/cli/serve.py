"""``sika serve`` and ``sika worker``."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import TYPE_CHECKING

import typer

from sika import interrupts
from sika.bootstrap import Container, bootstrap
from sika.config import Settings, settings
from sika.heap import settle

if TYPE_CHECKING:
    from sika.workers import Job

__all__ = ["serve", "worker"]


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65_535, help="Port to listen on."),
    demo: bool = typer.Option(
        False, "--demo", help="Seed demo accounts and serve local fakes of the providers (sandboxes)."),
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

    from sika.api.app import create_app

    chosen = _settings_for(settings(), demo=demo, host=host, port=port)
    demo_sms = None
    if demo and not (chosen.africastalking_username and chosen.africastalking_api_key):
        # No SMS gateway configured: the demo brings its fake one.
        from sika.chat.sms.demo import start_demo_sms

        assert chosen.public_url is not None
        demo_sms, sms_settings = start_demo_sms(chosen.public_url, chosen.sms_sender_id,
                                               token=chosen.africastalking_callback_token)
        chosen = chosen.model_copy(update=sms_settings)
    container = _start(chosen)
    extra_jobs = _demo(container, host, port) if demo else []
    if demo_sms is not None:
        typer.echo(f"sika demo: SMS go to a fake Africa's Talking at {demo_sms.url}: what people would"
                   f" read is at {demo_sms.url}/messages", err=True)
    app = create_app(container, run_workers=jobs, extra_jobs=extra_jobs)
    settle()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)
    finally:
        if demo_sms is not None:
            demo_sms.close()


def worker() -> None:
    """The background workers alone, for running several processes against one PostgreSQL."""
    from sika.workers import WorkerRunner, default_jobs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    container = _start(settings())
    runner = WorkerRunner(default_jobs(container))
    settle()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if interrupts.requested():  # a Ctrl-C that came while it was starting (sika.interrupts)
        container.close()
        return
    runner.start()
    # `sika bench whatsapp` waits for this line (sika.bench.whatsapp_fleet): keep the two together.
    logging.getLogger("sika.worker").info("worker started on %s", container.engine.dialect.name)
    try:
        runner.wait()
    finally:
        container.close()


def _settings_for(base: Settings, *, demo: bool, host: str, port: int) -> Settings:
    """``--demo`` turns the local fakes on, and they call this server back where it listens."""
    if not demo:
        return base
    update: dict[str, object] = {}
    if base.providers not in ("sandbox", "instant"):
        update["providers"] = "sandbox"
    if base.public_url is None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (naming, not binding)
        update["public_url"] = f"http://{shown}:{port}"
    return base.model_copy(update=update)


def _start(chosen: Settings) -> Container:
    """Refuse production on development defaults (one line, exit 2), warn otherwise, wire, and say
    which providers are live."""
    from sika.startup import check_defaults, provider_banner

    check_defaults(chosen, lambda line: typer.echo(line, err=True))
    container = bootstrap(chosen)
    for line in provider_banner(container.purchases.providers, chosen):
        typer.echo(line, err=True)
    return container


def _demo(container: Container, host: str, port: int) -> list[Job]:
    from sika import demo as demo_data
    from sika.rides.demo_fleet import DemoFleet
    from sika.workers import Job

    keys = demo_data.seed(container)
    assert container.rides is not None
    fleet = DemoFleet(container.rides, list(keys.driver_ids))
    wallets = ", ".join(f"{m} (PIN {w[2]})" for m, w in demo_data.DEMO_WALLETS.items())
    typer.echo(f"sika demo: wallets {wallets}", err=True)
    typer.echo(f"sika demo: agent API key {keys.agent}", err=True)
    typer.echo(f"sika demo: merchant API key {keys.merchant}", err=True)
    typer.echo(f"sika demo: admin API key {keys.admin}", err=True)
    typer.echo(f"sika demo: campaign {keys.campaign_id} ({demo_data.DEMO_CAMPAIGN}): 2 % back on payments of"
               " 1,000 F CFA or more, from a real budget (GET /v1/campaigns with the admin key)", err=True)
    drivers = ", ".join(msisdn for msisdn, *_ in demo_data.DEMO_DRIVERS)
    typer.echo(f"sika demo: drivers {drivers} (PIN {demo_data.DEMO_DRIVER_PIN})", err=True)
    typer.echo(f"sika demo: {len(keys.driver_ids)} moto drivers online in Lomé (they accept rides by"
               " themselves); providers are local fakes driven through the real adapters (magic"
               f" references: see docs/wallet.md); try http://{host}:{port}/docs or"
               " `sika chat --phone +22890112233`", err=True)
    from sika.console.demo import seed_operators

    staff = ", ".join(f"{name} (password {password})"
                      for name, password in seed_operators(container.engine).items())
    typer.echo(f"sika demo: operations console at http://{host}:{port}/console: log in as {staff},"
               " or with the admin API key above", err=True)
    return [Job(name="demo-fleet", interval_s=1.0, run=fleet.tick, batch_max=1_000)]
