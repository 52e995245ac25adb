"""The HTTP application: health, OpenAPI, and (as domains land) the /v1 routers and webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

import sika
from sika.api import (
    access,
    docs,
    drivers,
    merchants,
    openapi,
    payments,
    preferences,
    problems,
    promotions,
    provider_callbacks,
    purchases,
    rewards,
    rides,
    sms,
    sms_inbound,
    ussd,
    wallets,
    whatsapp,
)
from sika.bootstrap import Container
from sika.chat.dialog import Dialog
from sika.chat.ussd import UssdGateway
from sika.console import operators
from sika.console.web import router as console_router
from sika.db import ping
from sika.error_codes import Code
from sika.workers import Job, WorkerRunner, default_jobs

__all__ = ["create_app"]


def create_app(
    container: Container, *, run_workers: bool = True, extra_jobs: list[Job] | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(operators.prepare)
        runner = WorkerRunner(default_jobs(container) + (extra_jobs or [])) if run_workers else None
        if runner is not None:
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            container.close()

    app = FastAPI(
        title="Sika",
        version=sika.__version__,
        description="Mobile money over chat, moto-taxi on demand and promotions for the XOF zone.",
        lifespan=lifespan,
        docs_url=None,  # served from vendored assets instead of a CDN: see sika.api.docs
        redoc_url=None,
        # FastAPI's own OpenTelemetry, which Sika does not set up: off, or it looks for a provider
        # configured elsewhere at every request (a twentieth of the webhook's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.container = container
    assert container.chat is not None, "bootstrap wires the chat"
    dialog = container.dialog or Dialog(container.chat)
    app.state.dialog = dialog
    app.state.ussd = UssdGateway(dialog)
    problems.install(app)
    docs.install(app)
    openapi.install(app)
    app.include_router(wallets.router)
    app.include_router(access.router)
    app.include_router(preferences.router)
    app.include_router(payments.router)
    app.include_router(merchants.router)
    app.include_router(purchases.router)
    app.include_router(provider_callbacks.router)
    app.include_router(rides.router)
    app.include_router(drivers.router)
    app.include_router(promotions.router)
    app.include_router(rewards.router)
    app.include_router(ussd.router)
    app.include_router(sms.router)
    app.include_router(sms_inbound.router)
    app.include_router(console_router)
    whatsapp.include(app, container.whatsapp)

    @app.get("/healthz", tags=["operations"], summary="200 when the database answers")
    async def healthz() -> JSONResponse:
        if await run_in_threadpool(ping, container.engine):
            return JSONResponse({"status": "ok", "database": container.engine.dialect.name})
        return problems.problem_for(Code.DATABASE_UNAVAILABLE, "the database does not answer")

    return app
