"""A coroutine run beside a test's block, cancelled (and awaited) when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine


@contextlib.asynccontextmanager
async def in_background(job: Coroutine, settle: float = 0.0) -> AsyncIterator[asyncio.Task]:
    """``settle``: seconds to let it start (subscribe, connect) before the block runs."""
    task = asyncio.create_task(job)
    await asyncio.sleep(settle)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
