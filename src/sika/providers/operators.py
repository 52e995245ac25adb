"""Togo's mobile operators, Togocom and Moov Africa: which one a number probably belongs to.

Numbers move between operators (portability), so :func:`operator_hint` only suggests one; the
customer picks the operator, and airtime goes to any number it is given.
"""

from __future__ import annotations

__all__ = ["MOOV_PREFIXES", "TOGOCOM_PREFIXES", "operator_hint"]

# The two-digit prefixes each operator was allotted; a ported number keeps its old one.
TOGOCOM_PREFIXES = frozenset({"70", "71", "72", "73", "90", "91", "92", "93"})
MOOV_PREFIXES = frozenset({"78", "79", "96", "97", "98", "99"})
_TOGO_MSISDN_CHARS = len("+22890112233")


def operator_hint(msisdn: str) -> str | None:
    """``"togocom"`` or ``"moov"`` from a Togolese number's prefix, or None: a hint to preselect."""
    text = msisdn.strip()
    if len(text) != _TOGO_MSISDN_CHARS or not text.startswith("+228") or not text[1:].isdigit():
        return None
    prefix = text[4:6]
    if prefix in TOGOCOM_PREFIXES:
        return "togocom"
    if prefix in MOOV_PREFIXES:
        return "moov"
    return None
