"""Secrets are random, high-entropy strings; a SHA-256 digest is enough to look them up safely."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["digest", "new_secret"]

_SECRET_BYTES = 32


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(_SECRET_BYTES)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
