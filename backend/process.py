"""What a long-running process (a server worker, a bridge worker) does once it has started, and
the background work it runs beside its requests."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any


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


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """``work`` runs as a task while the block runs, and is cancelled when it ends."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
