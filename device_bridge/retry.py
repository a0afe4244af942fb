"""Retry delays for lost connections: doubling from 1 s up to 30 s, with jitter."""

from __future__ import annotations

import random

RETRY_FIRST, RETRY_CAP = 1.0, 30.0


def backoff(delay: float) -> tuple[float, float]:
    """(this wait, the next delay): jitter spreads the retries of many processes apart."""
    return delay * random.uniform(0.5, 1.0), min(delay * 2, RETRY_CAP)
