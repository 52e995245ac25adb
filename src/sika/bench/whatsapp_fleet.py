"""The processes of ``sika bench whatsapp``: ``sika serve`` and the ``sika worker`` processes, their
logs in files, and the CPU each side used."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sika.bench.common import BenchError, Progress

__all__ = ["Fleet", "busy", "fleet", "machine_cpu", "own_cpu_s"]

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
# What `sika worker` logs once its jobs run (sika.cli.serve.worker; its format is logging's there).
_WORKER_STARTED = b"sika.worker worker started on "
# uvicorn's access and info lines, and the workers' INFO lines: anything else in the logs is reported.
# Also quiet: what `sika serve` and `sika worker` say at start (live providers, development defaults).
_QUIET_LINE = re.compile(r"^(INFO|DEBUG):|^\d{4}-\d\d-\d\d [\d:,.]+ (INFO|DEBUG) |^\s*$"
                         r"|^sika: (live providers|no provider is live|not configured|warning: )")


class Fleet:
    """The ``sika serve`` processes and the ``sika worker`` processes, with their logs in files."""

    def __init__(self, servers: list[subprocess.Popen[bytes]], workers: list[subprocess.Popen[bytes]],
                 logs: list[Path]) -> None:
        self.servers = servers
        self.workers = workers
        self.logs = logs

    def cpu_s(self) -> tuple[float, float]:
        """CPU seconds used so far by the servers together, and by the workers together."""
        return (sum(_process_cpu_s(s.pid) for s in self.servers),
                sum(_process_cpu_s(w.pid) for w in self.workers))

    def problem_lines(self) -> list[str]:
        """Every log line that is not routine (access lines, INFO), in order."""
        lines: list[str] = []
        for log in self.logs:
            if log.exists():
                lines += [f"{log.stem}: {line}" for line in log.read_text(errors="replace").splitlines()
                          if not _QUIET_LINE.search(line)]
        return lines


@contextmanager
def fleet(ports: Sequence[int], workers: int, env: dict[str, str], directory: Path,
          progress: Progress, *, access_log: bool) -> Iterator[Fleet]:
    """A ``sika serve`` on each of ``ports``, and ``workers`` ``sika worker`` processes."""
    advance = progress.phase(f"starting {len(ports)} sika serve" + (f" and {workers} sika worker"
                                                                       if workers else ""),
                             len(ports) + workers)
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    with contextlib.ExitStack() as files:
        def start(name: str, *argv: str) -> subprocess.Popen[bytes]:
            log = directory / f"{name}.log"
            logs.append(log)
            out = files.enter_context(log.open("wb"))
            process = subprocess.Popen([sys.executable, "-m", "sika", *argv], env=env, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            started.append(process)
            return process

        try:
            servers = []
            for number, port in enumerate(ports):
                # With workers, a server answers HTTP alone (the usual split); else it runs the jobs too.
                name = "serve" if len(ports) == 1 else f"serve-{number}"
                server = start(name, "serve", "--port", str(port), *(["--no-jobs"] if workers else []),
                               "--access-log" if access_log else "--no-access-log")
                _wait_for_health(port, server, logs[-1])
                servers.append(server)
                advance(1)
            running = Fleet(servers, [start(f"worker-{n}", "worker") for n in range(workers)], logs)
            # The load starts once every worker runs its jobs: a run shorter than their start would
            # measure the server alone, and stop them half imported.
            deadline = time.monotonic() + START_TIMEOUT_S  # for them all: they start side by side
            for process, log in zip(running.workers, logs[len(ports):], strict=True):
                _wait_for_line(process, log, _WORKER_STARTED, deadline)
                advance(1)
            yield running
        finally:
            _stop(started)


def _wait_for_health(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"sika serve exited with {server.returncode} while starting: {_tail(log)}",
                             code="bench_server_failed")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    raise BenchError(f"sika serve did not answer /healthz within {START_TIMEOUT_S} s",
                             code="bench_server_failed")


def _wait_for_line(process: subprocess.Popen[bytes], log: Path, started: bytes, deadline: float) -> None:
    while time.monotonic() < deadline:
        if log.exists() and started in log.read_bytes():
            return
        if process.poll() is not None:
            raise BenchError(f"sika worker exited with {process.returncode} while starting: {_tail(log)}",
                             code="bench_server_failed")
        time.sleep(0.05)
    raise BenchError(f"sika worker did not start in time: {_tail(log)}", code="bench_server_failed")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1_500:] if log.exists() else ""


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Ask each process to stop (as Ctrl-C would), then kill what is still there."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Measuring CPU -----------------------------------------------------------------------------------


def _process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of a running process (0 when it is gone or not on Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are the 14th and 15th fields; the split above starts at the 3rd.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[int, int]:
    """(idle, total) jiffies of the whole machine, (0, 0) where /proc/stat is missing."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0, 0
    values = [int(v) for v in first[1:]]
    return values[3] + values[4], sum(values[:8])


def busy(before: tuple[int, int], after: tuple[int, int]) -> tuple[float, float]:
    """How busy the machine was (0..1), and its busy CPU seconds, between two readings."""
    total = after[1] - before[1]
    busy = total - (after[0] - before[0])
    return (busy / total if total > 0 else 0.0), busy / os.sysconf("SC_CLK_TCK")
