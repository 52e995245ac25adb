"""deploy/systemd: the units verify, and each one's ExecStart, run with the unit's Environment and an
EnvironmentFile made from sika.env.example, migrates a throwaway PostgreSQL, serves /healthz in
production mode and runs the jobs.

There is no systemd PID 1 here, so the test is the unit's own runner: it reads ``ExecStart``,
``Environment`` and ``EnvironmentFile``, expands ``%i``, and starts the command as systemd would
(without its sandboxing and user switch, which ``systemd-analyze verify`` checks the syntax of).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from sika.db import create_db_engine
from sika.devservers import free_port

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED = "/opt/sika/.venv/bin/sika"
SIKA = str(Path(sys.executable).with_name("sika"))
pytestmark = pytest.mark.postgres


def unit(name: str) -> dict[str, list[str]]:
    """A unit file's keys (repeated keys kept in order), sections ignored."""
    found: dict[str, list[str]] = {}
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def environment_of(service: dict[str, list[str]], env_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIKA_")}
    assert service["EnvironmentFile"] == ["/etc/sika/sika.env"]
    for line in env_file.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            if value:
                env[key] = value
    for assignment in service.get("Environment", []):
        key, _, value = assignment.partition("=")
        env[key] = value
    return env


def command_of(service: dict[str, list[str]], instance: str = "") -> list[str]:
    (line,) = service["ExecStart"]
    argv = shlex.split(line.replace("%i", instance))
    assert argv[0] == INSTALLED
    return [SIKA, *argv[1:]]


@pytest.fixture
def env_file(tmp_path: Path, postgres_url: str) -> Path:
    """sika.env.example, filled in as an operator would: the database, a secret, no Redis here."""
    lines = []
    for line in (UNITS / "sika.env.example").read_text().splitlines():
        key = line.partition("=")[0]
        values = {"SIKA_DATABASE_URL": postgres_url, "SIKA_VOUCHER_KEY": secrets.token_urlsafe(32),
                  "SIKA_REDIS_URL": ""}
        lines.append(f"{key}={values[key]}" if key in values else line)
    path = tmp_path / "sika.env"
    path.write_text("\n".join([*lines, "SIKA_LEDGER_EXPIRY_INTERVAL_S=0.2", ""]))
    return path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_units_verify(tmp_path: Path) -> None:
    for path in UNITS.iterdir():
        (tmp_path / path.name).write_text(path.read_text().replace(INSTALLED, SIKA))
    names = ["sika-migrate.service", "sika-web@8001.service", "sika-worker@1.service", "sika.target"]
    verified = subprocess.run(["systemd-analyze", "verify", "--man=no", *(f"./{n}" for n in names)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert verified.returncode == 0, verified.stderr
    assert "Unknown" not in verified.stderr and "ignoring" not in verified.stderr, verified.stderr


def test_each_unit_starts_sika_in_production_on_postgresql(env_file: Path, postgres_url: str) -> None:
    migrate = unit("sika-migrate.service")
    migrated = subprocess.run(command_of(migrate), env=environment_of(migrate, env_file), capture_output=True,
                              text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    web, worker = unit("sika-web@.service"), unit("sika-worker@.service")
    port = free_port()
    processes = [subprocess.Popen(command_of(web, str(port)), env=environment_of(web, env_file),
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True),
                 subprocess.Popen(command_of(worker, "1"), env=environment_of(worker, env_file),
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)]
    try:
        assert wait_healthy(port, processes[0]) == {"status": "ok", "database": "postgresql"}
        assert pending_expired_by_the_worker(postgres_url)
    finally:
        outputs = []
        for process in processes:
            process.terminate()
            outputs.append(process.communicate(timeout=30)[1])
    # uvicorn shuts down cleanly, then re-raises SIGTERM; systemd counts SIGTERM as a clean exit.
    assert processes[0].returncode in (0, -signal.SIGTERM) and processes[1].returncode == 0, outputs
    assert "no provider is live" in outputs[0]  # production with no provider configured yet
    assert "worker started on postgresql" in outputs[1]


def wait_healthy(port: int, process: subprocess.Popen[str]) -> object:
    deadline = time.monotonic() + 90
    while True:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if answer.status_code == 200:
                return answer.json()
        except httpx.TransportError:
            pass
        assert process.poll() is None, "sika-web exited"
        assert time.monotonic() < deadline, "sika-web did not answer"
        time.sleep(0.3)


def pending_expired_by_the_worker(database_url: str) -> bool:
    """A pending ledger transfer that times out is voided by the worker's ledger-expiry job."""
    from sika.ledger import AccountFlags, AccountKind, Ledger, Transfer, TransferFlags, TransferResult

    engine = create_db_engine(database_url)
    ledger = Ledger(engine)
    try:
        debit = ledger.create_account(currency="XOF", kind=AccountKind.SUSPENSE, flags=AccountFlags.NONE)
        credit = ledger.create_account(currency="XOF", kind=AccountKind.SUSPENSE, flags=AccountFlags.NONE)
        hold = Transfer(id="deploy-test-hold", debit_account_id=debit.id, credit_account_id=credit.id,
                        amount=100, code=1, flags=TransferFlags.PENDING, timeout_s=1)
        (result,) = ledger.create_transfers([hold])
        assert result is TransferResult.OK
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                left = connection.execute(
                    text("SELECT count(*) FROM ledger_pending WHERE status = 'pending'")).scalar_one()
            if left == 0:
                return True
            time.sleep(0.3)
        return False
    finally:
        ledger.close()
        engine.dispose()
