"""The one SQLAlchemy ``MetaData`` every domain's tables join, so migrations see them all."""

from __future__ import annotations

import importlib

from sqlalchemy import BigInteger, Integer, MetaData

__all__ = ["ROWID", "load_all", "metadata"]

metadata = MetaData()

# An auto-assigned 64-bit key; on SQLite only an INTEGER PRIMARY KEY is the rowid (no extra index).
ROWID = BigInteger().with_variant(Integer(), "sqlite")

# Each domain describes its tables in a ``schema`` module; importing it registers them here.
_SCHEMA_MODULES = ("sika.ledger.schema", "sika.wallet.schema", "sika.auth.schema",
                   "sika.payments.schema", "sika.chat.schema", "sika.chat.whatsapp.schema",
                   "sika.rides.schema", "sika.chat.sms.schema", "sika.console.schema",
                   "sika.promotions.schema", "sika.coordination.schema", "sika.notices.schema")


def load_all() -> MetaData:
    for module in _SCHEMA_MODULES:
        importlib.import_module(module)
    return metadata
