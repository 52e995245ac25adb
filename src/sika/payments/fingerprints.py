"""A request's fingerprint: what a movement was asked to do, so that a second request with the same
movement id is recognised as the same request or refused as another one.

The Idempotency-Key cache (``sika.api.idempotency``) compares whole bodies too, but its answers are
pruned after a while and released after a server error; the movement row stays. So every movement
stores the fingerprint of the request that made it, and resuming a movement compares fingerprints
first (Mojaloop's rule: a resend with the same id and a *modified request* is an error, never a
resume). A retry of a transfer to another payee is then 409 ``idempotency_conflict`` and moves
nothing, however long after the first.

The fingerprint covers what the client asked (who pays, who is paid, how much, what was bought), in
the form the service understood it (numbers normalised), not what the service derived from it (the
kind of movement, the fee, a month's meter account), so that a legitimate retry always matches.
Credentials (a PIN) are not part of a request: the same transfer confirmed with the PIN or by a
session is the same transfer.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["DIGEST_CHARS", "fingerprint"]

DIGEST_CHARS = 64
_SCALARS = (str, int, type(None))


def fingerprint(operation: str, **fields: Any) -> str:
    """The hex SHA-256 of ``operation`` and ``fields`` in canonical JSON (sorted keys, no spaces)."""
    assert operation and operation.isidentifier(), operation
    for name, value in fields.items():
        # Floats and containers have several spellings of one value: they would make a retry differ.
        assert isinstance(value, _SCALARS) and not isinstance(value, bool), (name, type(value))
    canonical = json.dumps({"operation": operation, **fields}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert len(digest) == DIGEST_CHARS
    return digest
