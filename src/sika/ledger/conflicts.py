"""Why a batch is rolled back and tried again, rather than failed."""

from __future__ import annotations

__all__ = ["RetryableError"]


class RetryableError(Exception):
    """The batch was rolled back for a reason that a second attempt can clear."""
