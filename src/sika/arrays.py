"""PostgreSQL array literals (``{1,2,3}``, ``{"a","b"}``) built with one join per column.

A batch goes to PostgreSQL as one array per column, unpacked by ``unnest`` on the server. psycopg's
list dumper adapts each element on its own (a regular expression per text element), which cost
about a microsecond an element, most of a batch's Python time; a column of ints is one ``join`` here.
Parameters stay parameters: the literal is sent as a value and cast by the statement
(``%s::bigint[]``), never spliced into SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["int_array", "literal_columns", "text_array"]


def int_array(values: Iterable[int | None]) -> str:
    listed = values if isinstance(values, list | tuple) else list(values)
    if None in listed:
        return "{" + ",".join(["NULL" if v is None else str(int(v)) for v in listed]) + "}"
    return "{" + ",".join(map(str, map(int, listed))) + "}"


def text_array(values: Iterable[str | None]) -> str:
    # Every element quoted: inside quotes only the backslash and the double quote need escaping.
    return "{" + ",".join([
        "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    ]) + "}"


def literal_columns(rows: Sequence[Sequence[Any]], types: Sequence[str]) -> list[str]:
    """The rows as one array literal per column; ``types`` names each column's SQL type."""
    if not rows:
        return ["{}" for _ in types]
    columns = list(zip(*rows, strict=True))
    assert len(columns) == len(types)
    return [
        text_array(column) if kind == "text" else int_array(column)
        for column, kind in zip(columns, types, strict=True)
    ]
