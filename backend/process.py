"""What a long-running process (a server worker, a bridge worker) does once it has started."""

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def started() -> Iterator[None]:
    """While it runs, what start-up built (modules, tables, the app, caches) is out of the
    collector's sight: a full collection walks only what the work creates since.

    Without this every full collection walked the whole heap and stalled everything in flight for
    ≈ 100 ms: the scan's p99 at 64 connections was 113–128 ms, and 38–40 ms frozen (bench/scan.py,
    README). At the end it is collectable again: the tests start an app per test in one process.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
