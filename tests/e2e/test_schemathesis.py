"""Schemathesis with every check against a running ``sika serve --demo``, with each kind of credential.

The OpenAPI document is a promise: a request it allows is accepted (or refused for the state of
things: 401, 403, 404, 409, 429), a request it forbids is refused, every answer has a documented
status, media type and shape, and no input makes the server fail. Schemathesis generates requests
from the document (examples, coverage, fuzzing and stateful phases) and checks all of that; a bounded
number of examples per operation and a fixed seed keep each run to a couple of minutes, and the four
credentials' runs go at once, as separate processes (within one, a single worker: Hypothesis describing
filters from several threads at once trips a CPython 3.11 ast bug).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sika.demo import DEMO_WALLETS
from sika.devservers import free_port

EXAMPLES_PER_OPERATION = 10
SEED = 16
# What schemathesis waits for one answer, and the time its response-time check allows (10 s by
# default; speed is the benchmarks' to measure, and a slow answer here is not a wrong one). The runs
# share one SQLite server, and an admin's batch of 99,999 promo codes (the limit is 100,000) is
# seconds of CPU on a loaded machine: its own answer once took 10.3 s, and (when a batch was one
# transaction) a customer's write queued behind it once waited past 10 s.
REQUEST_TIMEOUT_S = 60
START_S_MAX = 60.0
RUN_S_MAX = 600
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The demo server on a fresh SQLite file; its URL and a bearer credential of each kind."""
    folder = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    env = {**os.environ, "SIKA_DATABASE_URL": f"sqlite:///{folder / 'sika.db'}", "SIKA_PROVIDERS": "instant"}
    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "sika", "serve", "--demo", "--port", str(port),
                                   "--no-access-log"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, log_path)
        # "sika demo: admin API key sk_…" (the console's line also says "API key", without one)
        keys = dict(re.findall(r"^sika demo: (\w+) API key (sk_\S+)$", log_path.read_text(), re.MULTILINE))
        # Not the wallet of the document's examples (+22890112233, PIN 4827): an example PIN change
        # would end this token's session and leave the rest of the run unauthenticated.
        msisdn, (_, _, pin, _) = list(DEMO_WALLETS.items())[1]
        token = httpx.post(f"{url}/v1/sessions", json={"msisdn": msisdn, "pin": pin}).json()["token"]
        yield url, {"admin": keys["admin"], "agent": keys["agent"], "merchant": keys["merchant"],
                    "customer": token}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_S_MAX
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"sika serve exited early: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"sika serve never answered /healthz: {log_path.read_text()[-3000:]}")


CREDENTIALS = ("admin", "agent", "merchant", "customer")


@pytest.fixture(scope="module")
def runs(demo_server: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], Path]]]:
    """One schemathesis run per credential, all at once against the one server: a run is mostly its
    own CPU (generating requests, checking answers), so two cores finish four about twice as fast,
    and the server meets several kinds of caller at the same time, as it does in production."""
    url, credentials = demo_server
    folder = tmp_path_factory.mktemp("schemathesis-runs")
    started: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for credential in CREDENTIALS:
            out = folder / f"{credential}.log"
            with out.open("wb") as log:
                started[credential] = (subprocess.Popen(
                    [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", "all",
                     "-H", f"Authorization: Bearer {credentials[credential]}",
                     "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", str(SEED), "--workers", "1",
                     "--request-timeout", str(REQUEST_TIMEOUT_S),
                     "--max-response-time", str(REQUEST_TIMEOUT_S),
                     "--no-color", "--generation-database", "none"],
                    stdout=log, stderr=subprocess.STDOUT), out)
        yield started
    finally:
        for process, _ in started.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_schemathesis_finds_nothing_with_every_check(
        runs: dict[str, tuple[subprocess.Popen[bytes], Path]], credential: str) -> None:
    process, out = runs[credential]
    returncode = process.wait(timeout=RUN_S_MAX)
    assert returncode == 0, out.read_text()[-8000:]
