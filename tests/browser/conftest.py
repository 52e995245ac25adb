"""Browser tests: ``sika serve --demo`` on a free port and a SQLite file, driven through Debian's
chromium by Playwright (never a browser Playwright downloads). ``make test`` installs chromium
(scripts/install-services.sh); without it these tests are skipped, except in CI where that fails."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from browser_support import CHROMIUM, CHROMIUM_FLAGS, SIKA, Demo

START_S_MAX = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("console-demo")
    env = {**os.environ, "SIKA_DATABASE_URL": f"sqlite:///{folder / 'sika.db'}", "SIKA_PROVIDERS": "instant"}
    passwords = {}
    for name, role in (("ama", "operator"), ("kofi", "approver"), ("yawa", "viewer")):
        made = subprocess.run([str(SIKA), "operator", "create", "--name", name, "--role", role], env=env,
                              capture_output=True, text=True, check=True, timeout=120)
        passwords[name] = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = (folder / "serve.log").open("w")
    server = subprocess.Popen([str(SIKA), "serve", "--demo", "--port", str(port), "--no-access-log"], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S_MAX
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (folder / "serve.log").read_text()
            assert time.monotonic() < deadline, "sika serve --demo did not start"
            time.sleep(0.3)
        text = (folder / "serve.log").read_text()
        admin_key = next(line.rsplit(" ", 1)[1] for line in text.splitlines() if "admin API key" in line)
        # "log in as demo-operator (password P), demo-approver (password Q), or …"
        staff = dict(re.findall(r"(demo-\w+) \(password (\S+)\)", text))
        yield Demo(url=url, env=env, passwords={**passwords, **staff}, admin_key=admin_key)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped, not session-scoped: Playwright's sync API keeps an event loop marked running in
    the main thread while it is open, which would break every later test that calls asyncio.run."""
    if not CHROMIUM.exists():
        reason = "Debian's chromium is not installed (scripts/install-services.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
