"""Throwaway PostgreSQL and Redis servers on a free loopback port, for tests and benchmarks.

PostgreSQL refuses to run as root, so as root the cluster is created and started as the ``postgres``
system user (``runuser -u postgres --``) in a temporary directory that user owns. Everything is removed
on exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from sika.errors import SikaError

__all__ = ["DevServerError", "PostgresCluster", "free_port", "postgres_cluster", "temporary_postgres",
           "temporary_redis"]

_START_TIMEOUT_S = 60


class DevServerError(SikaError):
    code = "dev_server_unavailable"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _postgres_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    found = shutil.which("initdb")
    if candidates:
        return Path(candidates[0]).parent
    if found:
        return Path(found).resolve().parent
    raise DevServerError(
        "PostgreSQL server binaries are missing: run `make test` (it installs them) or"
        " `apt-get install postgresql`"
    )


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def temporary_postgres(*, durable: bool = True, max_connections: int = 200,
                       unix_socket: bool = False) -> Iterator[str]:
    """Start a PostgreSQL cluster; yield its SQLAlchemy URL.

    ``durable=False`` turns fsync off: fine for correctness tests, never for benchmarks.
    ``unix_socket``: the URL reaches the cluster through its Unix socket, as clients on the server's
    own machine do (libpq's default), rather than through TCP on the loopback (see
    :func:`postgres_cluster`).
    """
    with postgres_cluster(durable=durable, max_connections=max_connections,
                          unix_socket=unix_socket) as cluster:
        yield cluster.url


@dataclass
class PostgresCluster:
    """A running throwaway cluster that a test can crash and start again (database fault tests)."""

    url: str
    _ctl: Callable[[list[str]], None]

    def crash(self) -> None:
        """Stop as a power cut would: every server process quits at once, no checkpoint; the next
        start replays the write-ahead log (``pg_ctl stop -m immediate``)."""
        self._ctl(["-m", "immediate", "-w", "stop"])

    def start(self) -> None:
        self._ctl(["-w", "-t", str(_START_TIMEOUT_S), "start"])


@contextmanager
def postgres_cluster(*, durable: bool = True, max_connections: int = 200,
                     unix_socket: bool = False) -> Iterator[PostgresCluster]:
    """:func:`temporary_postgres`, yielding the cluster itself.

    The cluster listens on both; a benchmark of Sika and its database on one machine uses the socket,
    as such a deployment would: a round trip through loopback TCP cost 144 µs of CPU (client and
    server) against 125 µs through the socket (``SELECT 1``, docs/benchmarks.md), and a WhatsApp
    message makes about five. A deployment over several machines pays its network instead.
    """
    bindir = _postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="sika-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        # Its socket is reached through it: a root without CAP_DAC_OVERRIDE (some containers) could
        # not pass a 0700 directory. Nothing in it can be listed; the data directory stays 0700.
        root.chmod(0o711)
    port = free_port()
    run = _runner(root)
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8", "--locale=C"])
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections={max_connections}"
            f" -c shared_buffers=256MB -c fsync={'on' if durable else 'off'}"
            f" -c synchronous_commit={'on' if durable else 'off'}"
            f" -c full_page_writes={'on' if durable else 'off'}"
        )
        def ctl(argv: list[str]) -> None:
            run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), *argv])

        ctl(["-w", "-t", str(_START_TIMEOUT_S), "start"])
        try:
            yield PostgresCluster(_url(root, port, unix_socket=unix_socket), ctl)
        finally:
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                              "stop"]),
                capture_output=True, check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _url(root: Path, port: int, *, unix_socket: bool) -> str:
    if not unix_socket:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    # Built, not formatted: the directory is a query value (a "+" or "&" in TMPDIR is escaped).
    url = URL.create("postgresql+psycopg", username="postgres", database="postgres",
                     query={"host": str(root), "port": str(port)})
    return url.render_as_string(hide_password=False)


def _runner(root: Path) -> Callable[[list[str]], None]:
    def run(argv: list[str]) -> None:
        done = subprocess.run(_as_postgres(argv), capture_output=True, text=True, check=False,
                              cwd=root)
        if done.returncode != 0:
            log = root / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise DevServerError(
                f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()} {tail}"
            )

    return run


@contextmanager
def temporary_redis() -> Iterator[str]:
    """Start a Redis server without persistence; yield its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise DevServerError(
            "redis-server is missing: run `make test` (it installs it) or `apt-get install redis-server`"
        )
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="sika-redis-"))
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise DevServerError("redis-server did not start") from exc
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
