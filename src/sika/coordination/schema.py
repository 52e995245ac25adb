"""The coordination tables. Migrations (``sika/migrations``) create them; this module describes them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from sika.tables import metadata

__all__ = ["leases"]

# One row a leased job: which process holds it, until when. See ``sika.coordination.leases``.
leases = Table(
    "worker_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at_ns", BigInteger, nullable=False),
)
