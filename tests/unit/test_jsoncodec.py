"""``sika.jsoncodec``: orjson's speed with the standard library's results and errors."""

from __future__ import annotations

import json
import math
from enum import IntEnum, StrEnum

import pytest

from sika import jsoncodec


class Role(StrEnum):
    PAYER = "payer"


class Code(IntEnum):
    TRANSFER = 3


@pytest.mark.parametrize("value", [
    {"text": "Vous avez envoyé 1 500 F CFA à Kofi", "ar": "تم", "n": 2_000_000, "ok": True, "none": None},
    [{"id": "mv.1", "code": Code.TRANSFER, "role": Role.PAYER, "amount": 1500}],
    {"big": 2**64 + 1},  # past 64 bits: orjson refuses to write it, json writes it
    {1: "a key that is not a string"},
    "",
    [],
])
def test_the_text_is_what_json_writes_compact_and_in_utf_8(value: object) -> None:
    text = jsoncodec.dumps(value)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if "big" not in text:  # read back as a float (see the module): Sika writes no such number
        assert jsoncodec.loads(text) == json.loads(text)
        assert jsoncodec.loads(text.encode()) == json.loads(text)


def test_texts_orjson_refuses_read_as_json_reads_them() -> None:
    assert math.isnan(jsoncodec.loads('{"x": NaN}')["x"])


def test_a_lone_surrogate_is_written_escaped_so_that_it_can_be_stored() -> None:
    value = {"description": "Facture CEET \ud83d"}  # a provider's text cut inside an emoji
    text = jsoncodec.dumps(value)
    text.encode()  # UTF-8, as a database stores it
    assert jsoncodec.loads(text) == value


def test_what_is_not_json_or_cannot_be_written_fails_as_with_json() -> None:
    for text in ("", "{", "{'single': 1}", "nul"):
        with pytest.raises(json.JSONDecodeError):
            jsoncodec.loads(text)
    with pytest.raises(TypeError):
        jsoncodec.dumps({"a set": {1, 2}})
