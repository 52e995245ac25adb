"""``sika bench ledger --compare-pgledger PATH``: the same workload through pgledger, side by side.

pgledger (https://github.com/pgr0ss/pgledger) is a ledger written as SQL functions on PostgreSQL.
Sika does not ship it: the user points at a checkout (the directory holding ``pgledger.sql`` and
its ``vendor/scoville-pgsql-ulid`` files) or at one SQL file, and the run loads it into a fresh
database on the same server as the ledger's run, opens the same number of accounts (no negative
balance allowed, funded from an account that may go negative), and sends the ledger's own plan:
the same pairs, amounts, batch sizes and clients, each client on its own connection in autocommit,
one ``pgledger_create_transfer`` call per transfer (``pgledger_create_transfers`` for batches).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from sika.bench.common import BenchError, Drive, Progress, Send, drive_clients
from sika.bench.databases import fresh_database
from sika.ledger import Transfer

__all__ = ["pgledger_files", "run_pgledger"]

# In the order its own build loads them.
_CHECKOUT_FILES = (
    "vendor/scoville-pgsql-ulid/ulid-to-uuid.sql",
    "vendor/scoville-pgsql-ulid/uuid-to-ulid.sql",
    "pgledger.sql",
)
_SQL_BYTES_MAX = 10_000_000
_ONE = "SELECT id FROM pgledger_create_transfer(%s, %s, %s)"
_MANY = (
    "SELECT count(*) FROM pgledger_create_transfers(ARRAY(SELECT ROW(f, t, a)::transfer_request"
    " FROM unnest(%s::text[], %s::text[], %s::numeric[]) AS u(f, t, a)), NULL::timestamptz, NULL::jsonb)"
)


def pgledger_files(path: Path) -> list[Path]:
    """The SQL files to load from ``path`` (a checkout or one file); BenchError when there are none."""
    if path.is_file():
        return [path]
    if path.is_dir() and (path / "pgledger.sql").is_file():
        return [path / name for name in _CHECKOUT_FILES if (path / name).is_file()]
    raise BenchError(
        f"--compare-pgledger: {path} is neither a pgledger checkout (with pgledger.sql) nor an SQL file"
    )


def run_pgledger(
    server_url: str,
    files: Sequence[Path],
    plan: Sequence[Sequence[Sequence[Transfer]]],
    *,
    accounts: Sequence[int],
    funding: int,
    currency: str,
    progress: Progress,
) -> Drive:
    """The ledger's ``plan`` (on Sika's ``accounts``) through pgledger, in a fresh database."""
    with fresh_database("postgres", server_url, prefix="sika_bench_pgledger") as url:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as admin:
            for file in files:
                if file.stat().st_size > _SQL_BYTES_MAX:
                    raise BenchError(f"--compare-pgledger: {file} is larger than {_SQL_BYTES_MAX} bytes")
                admin.execute(file.read_text(encoding="utf-8").encode())
            names = _open_accounts(admin, accounts, funding, currency)
        mapped = [
            [[(names[t.debit_account_id], names[t.credit_account_id], t.amount) for t in request]
             for request in client]
            for client in plan
        ]
        connections = [psycopg.connect(dsn, autocommit=True) for _ in plan]
        try:
            advance = progress.phase("pgledger", sum(len(r) for c in plan for r in c))
            return drive_clients(mapped, [_sender(c) for c in connections], advance)
        finally:
            for connection in connections:
                connection.close()


def _open_accounts(
    admin: psycopg.Connection[Any], accounts: Sequence[int], funding: int, currency: str
) -> dict[int, str]:
    """pgledger's account for each of Sika's, funded as Sika's are."""
    bank = admin.execute("SELECT id FROM pgledger_create_account('bank', %s)", (currency,)).fetchone()
    assert bank is not None
    names: dict[int, str] = {}
    for account in accounts:
        row = admin.execute(
            "SELECT id FROM pgledger_create_account(%s, %s, false, true)", (f"wallet-{account}", currency)
        ).fetchone()
        assert row is not None
        names[account] = row[0]
        admin.execute(_ONE, (bank[0], row[0], funding)).fetchall()
    return names


def _sender(connection: psycopg.Connection[Any]) -> Send:
    def send(request: Sequence[Any]) -> list[str]:
        try:
            if len(request) == 1:
                connection.execute(_ONE, request[0]).fetchall()
            else:
                connection.execute(_MANY, [list(column) for column in zip(*request, strict=True)]).fetchall()
        except psycopg.errors.RaiseException:
            return ["pgledger_refused"] * len(request)  # a balance rule: the whole call is refused
        return []

    return send
