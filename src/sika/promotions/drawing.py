"""The draw's algorithm, as published: anyone re-runs it from the seed and the entrant list.

- ``commitment = SHA-256(bytes.fromhex(seed))``, hex: published when entries close, before anyone
  (Sika included) can know the winners; the seed is revealed at the draw and must hash to it.
- ``entrants_sha256 = SHA-256("\\n".join(entry_ids))``, hex, over the list in its published order.
- The winners are the entry ids sorted by ``HMAC-SHA256(key=bytes.fromhex(seed), msg=entry_id)``
  ascending, the first ``len(prizes)`` of them; prize *k* goes to the *k*-th.

Plain Python with the standard library only, so that this file can be copied and run by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

__all__ = ["SEED_BYTES", "commitment", "entrants_sha256", "new_seed", "verify", "winners"]

SEED_BYTES = 32


def new_seed() -> str:
    return secrets.token_hex(SEED_BYTES)


def commitment(seed: str) -> str:
    return hashlib.sha256(bytes.fromhex(seed)).hexdigest()


def entrants_sha256(entry_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(entry_ids).encode()).hexdigest()


def winners(seed: str, entry_ids: Sequence[str], prizes: int) -> list[str]:
    key = bytes.fromhex(seed)
    ranked = sorted(entry_ids, key=lambda entry: hmac.new(key, entry.encode(), hashlib.sha256).digest())
    return ranked[:prizes]


def verify(
    *,
    seed: str,
    commitment_hex: str,
    entry_ids: Sequence[str],
    entrants_hex: str,
    prizes: int,
    published_winners: Sequence[str],
) -> list[str]:
    """What does not hold in a published draw (empty: it re-runs to the published winners)."""
    problems = []
    try:
        if commitment(seed) != commitment_hex:
            problems.append("the seed does not hash to the commitment")
    except ValueError:
        return ["the seed is not hexadecimal"]
    if entrants_sha256(entry_ids) != entrants_hex:
        problems.append("the entrant list does not hash to entrants_sha256")
    if winners(seed, entry_ids, prizes) != list(published_winners):
        problems.append("the seed and the entrant list give other winners")
    return problems
