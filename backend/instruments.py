"""What the app measures about its own work, for Prometheus (served by backend/metrics.py).

Labels carry bounded, impersonal values only: outcomes here, route templates and reasons in
metrics.py. Never a token, a phone, a name, an ID number or the id of a person.

Under ``PROMETHEUS_MULTIPROC_DIR`` (set by ``anju serve`` from ``ANJU_METRICS_DIR``) prometheus_client
keeps these values in per-process files that a scrape adds up; it decides when it is first imported.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Histogram

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# A door command waits up to ANJU_DOOR_ACK_SECONDS (3 s by default) for its ack.
DOOR_OPEN_SECONDS = Histogram(
    "anju_door_open_seconds",
    "Phone door openings from the authorised request to the device's answer, by outcome",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
)
AUDIT_APPEND_SECONDS = Histogram(
    "anju_audit_append_seconds",
    "Appends to the audit chains (one entry, or one group commit of a chain's reads), lock wait included",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class Outcome:
    """What a timed attempt came to; set by the code inside :func:`timed_outcome`."""

    def __init__(self, value: str) -> None:
        self.value = value


@contextmanager
def timed_outcome(histogram: Histogram, unknown: str = "error") -> Iterator[Outcome]:
    """Observe the block's duration under the outcome it set (``unknown`` if it raised before)."""
    outcome, started = Outcome(unknown), time.perf_counter()
    try:
        yield outcome
    finally:
        histogram.labels(outcome.value).observe(time.perf_counter() - started)


P = ParamSpec("P")
R = TypeVar("R")


def timed(histogram: Histogram) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Observe each call of a coroutine function (prometheus_client's own decorator times sync calls only)."""

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(function)
        async def measured(*args: P.args, **kwargs: P.kwargs) -> R:
            with histogram.time():
                return await function(*args, **kwargs)

        return measured

    return decorate


# The uplink (backend/uplink): records by standard table (a bounded set) and result: sent
# (accepted by the target), rejected (by the standard check, or by the target), failed (an attempt
# that will be retried: the target away, 5xx, a timeout).
UPLINK_RECORDS = Counter(
    "anju_uplink_records",
    "Uplink records by standard table and result (sent, rejected, failed attempt)",
    ["table", "result"],
)
