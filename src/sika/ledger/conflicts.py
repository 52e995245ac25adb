"""Why a batch is rolled back and tried again, rather than failed."""

from __future__ import annotations

from sika.errors import SikaError

__all__ = ["RetryableError"]


class RetryableError(SikaError):
    """The batch was rolled back for a reason that a second attempt can clear."""

    code = "ledger_retry"
