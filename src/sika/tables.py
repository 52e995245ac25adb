"""The one SQLAlchemy ``MetaData`` every domain's tables join, so migrations see them all."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

__all__ = ["load_all", "metadata"]

metadata = MetaData()

# Each domain describes its tables in a ``schema`` module; importing it registers them here.
_SCHEMA_MODULES = ("sika.ledger.schema", "sika.wallet.schema", "sika.auth.schema")


def load_all() -> MetaData:
    for module in _SCHEMA_MODULES:
        importlib.import_module(module)
    return metadata
