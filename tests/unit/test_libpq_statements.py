"""``sika.libpq_statements``: which statements and values go straight to libpq, and how they are written."""

from __future__ import annotations

import enum

from sika.libpq_statements import Direct, direct_statement, text_values


class _Size(enum.IntEnum):
    BIG = 3


class _Status(enum.StrEnum):
    QUEUED = "queued"


def test_typed_placeholders_become_numbered_parameters_once_each() -> None:
    direct = direct_statement("SELECT a FROM t WHERE id = %(x)s::BIGINT AND (n = %(y)s::VARCHAR "
                              "OR m = %(x)s::BIGINT) AND tags = ANY(CAST(%(z)s AS TEXT[]))")
    assert direct == Direct(b"SELECT a FROM t WHERE id = $1::BIGINT AND (n = $2::VARCHAR "
                            b"OR m = $1::BIGINT) AND tags = ANY(CAST($3 AS TEXT[]))", ("x", "y", "z"))


def test_an_escaped_percent_sign_is_one_and_an_untyped_placeholder_keeps_the_cursor() -> None:
    direct = direct_statement("SELECT a FROM t WHERE name LIKE 'x%%' AND id = %(x)s::BIGINT")
    assert direct is not None and direct.sql == b"SELECT a FROM t WHERE name LIKE 'x%' AND id = $1::BIGINT"
    assert direct_statement("SELECT a FROM t WHERE id = %(x)s::BIGINT LIMIT %(n)s") is None
    assert direct_statement("SELECT %(flag)s AS agent FROM t") is None
    assert direct_statement("SELECT a FROM t WHERE name LIKE 'x%'") is None  # a lone % (psycopg's error)
    assert direct_statement("SELECT 1") == Direct(b"SELECT 1", ())
    # every use of a name typed, not only its first
    assert direct_statement("SELECT a FROM t WHERE id = %(x)s::BIGINT OR n = %(x)s") is None


def test_values_go_as_postgresql_text_and_the_others_through_the_cursor() -> None:
    direct = Direct(b"", ("a", "b", "c", "d", "e", "f", "g"))
    values = {"a": None, "b": 0, "c": -12, "d": _Size.BIG, "e": _Status.QUEUED, "f": "Lomé", "g": 2**63 - 1}
    assert text_values(direct, values) == [None, b"0", b"-12", b"3", b"queued", "Lomé".encode(),
                                           b"9223372036854775807"]
    # a boolean goes typed through the cursor: a cast to VARCHAR or INTEGER reads 'true', 1 (not 't')
    assert text_values(Direct(b"", ("a",)), {"a": True}) is None
    assert text_values(Direct(b"", ("a",)), {"a": "Ama\x00x"}) is None  # libpq would cut it at the NUL
    assert text_values(Direct(b"", ("a",)), {"a": 1.5}) is None
    assert text_values(Direct(b"", ("a",)), {"a": b"raw"}) is None
