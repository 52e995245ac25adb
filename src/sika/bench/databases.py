"""The databases benchmarks run on: a temporary SQLite file, or a fresh database on a PostgreSQL
server (``SIKA_DATABASE_URL`` when it names one, else a throwaway cluster with fsync on)."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from sika.bench.common import BenchError
from sika.config import settings
from sika.devservers import temporary_postgres

__all__ = ["bench_server", "fresh_database", "is_durable"]


@contextmanager
def bench_server(backend: str) -> Iterator[str | None]:
    """The PostgreSQL server a series of runs share (``None`` for SQLite).

    ``SIKA_DATABASE_URL`` when it names PostgreSQL, else a throwaway cluster with fsync on.
    """
    if backend == "sqlite":
        yield None
        return
    configured = settings().database_url
    if make_url(configured).get_backend_name() == "postgresql":
        yield configured
        return
    with temporary_postgres(durable=True, unix_socket=True) as url:
        yield url


@contextmanager
def fresh_database(backend: str, server_url: str | None, *, prefix: str = "sika_bench") -> Iterator[str]:
    """The URL of a new, empty database, dropped (or deleted) afterwards."""
    if backend == "sqlite":
        # Under the system's temporary directory: on this machine's disk, so fsync is real.
        with tempfile.TemporaryDirectory(prefix="sika-bench-") as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    assert server_url is not None
    name = f"{prefix}_{secrets.token_hex(4)}"
    url = make_url(server_url)
    if url.get_driver_name() not in ("psycopg", "psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        _admin_execute(admin, f'CREATE DATABASE "{name}"', server_url)
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            _admin_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server_url)
    finally:
        admin.dispose()


def _admin_execute(admin: Engine, statement: str, server_url: str) -> None:
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    except SQLAlchemyError as exc:
        shown = make_url(server_url).render_as_string(hide_password=True)
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        raise BenchError(
            f"cannot create or drop a benchmark database on {shown}: {' '.join(str(cause).split())};"
            " check SIKA_DATABASE_URL (its user needs CREATEDB), or unset it to use a throwaway cluster",
            code="bench_database_unavailable",
        ) from exc


def is_durable(engine: Engine) -> bool:
    """Whether a returned commit survives a power cut, as the database is set up."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
            # WAL with FULL (2) syncs the log inside every commit; with NORMAL (1) our commits sync
            # it right after (sika.wal_sync).
            deferred = getattr(connection.connection.dbapi_connection, "deferred_sync", False)
            synced = journal == "wal" and (synchronous == 2 or (synchronous == 1 and deferred))
            directory = str(engine.url.database)
        else:
            fsync = connection.exec_driver_sql("SHOW fsync").scalar()
            commit = connection.exec_driver_sql("SHOW synchronous_commit").scalar()
            synced = fsync == "on" and commit != "off"
            directory = str(connection.exec_driver_sql("SHOW data_directory").scalar())
    # fsync on a memory file system (a tmpfs /tmp) returns at once and proves nothing.
    return synced and not _in_memory_filesystem(Path(directory))


def _in_memory_filesystem(path: Path) -> bool:
    """Whether ``path`` lies on tmpfs or ramfs, as far as this machine's mount table tells."""
    mounts = Path("/proc/mounts")
    if not mounts.exists():
        return False
    resolved = str(path.resolve())
    best, best_type = "", ""
    for line in mounts.read_text().splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, kind = fields[1], fields[2]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, best_type = point, kind
    return best_type in ("tmpfs", "ramfs")
