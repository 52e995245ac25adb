"""JSON for the hot paths (conversations, movements, the inbox and outbox, the Graph API's bodies):
orjson, with the standard library's answer for what orjson refuses.

With the realistic chat mix, ``json`` was 7 % of a worker's CPU (docs/benchmarks.md); orjson writes
the same compact text about ten times faster and reads it three times faster. Where orjson refuses
what ``json`` takes (an integer past 64 bits, a key that is not a string, a lone surrogate, ``NaN``
in a text), the standard library decides instead: ``ValueError`` (``json.JSONDecodeError``) for a
text that is not JSON, ``TypeError`` for a value that cannot be written.

The text written is compact (no spaces) and keeps non-ASCII characters as they are (UTF-8), as
``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` writes it; what orjson refuses to
write comes out in ASCII with escapes. Unlike ``json``, orjson writes a float ``NaN`` or infinity as
``null``, and writes dates, UUIDs, enums and dataclasses where ``json`` raises ``TypeError``.

Two limits decide where it is used:

* orjson reads an integer past 64 bits as a float, without an error. The texts read here are the
  ones Sika wrote (its amounts are far below 2**53) and the Graph API's answers (ids are strings);
  a provider's answer, where an amount comes from outside, is read with ``json``.
* Texts hashed or compared byte for byte (the ledger's metadata, signatures) keep ``json``'s form.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]


def dumps(value: Any) -> str:
    """``value`` as compact JSON text."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: a big integer, a key not a string, a lone surrogate…
        # ASCII, with escapes: a lone surrogate (a provider's text cut inside an emoji) written raw
        # could not be stored as UTF-8.
        return json.dumps(value, separators=(",", ":"))


def loads(text: str | bytes | bytearray) -> Any:
    """The value a JSON text holds."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # refused: json says whether it is JSON after all, or why not
        return json.loads(text)
