"""The live workers' waits end when their task is cancelled, however the cancel meets a wake-up."""

from __future__ import annotations

import asyncio

import pytest

from backend.live.stream import Event, Subscriber
from backend.live.wakeup import each_round


async def nothing() -> None:
    pass


@pytest.mark.parametrize("turns", range(4))
async def test_a_worker_stops_when_cancelled_as_it_is_woken(turns):
    """On Python 3.11 asyncio.wait_for returned the wake-up and dropped the cancel: the worker ran on
    and the app's shutdown waited for it for ever (seen as hung tests under load)."""
    signal = asyncio.Event()
    worker = asyncio.create_task(each_round(signal, 60, nothing, "test worker"))
    await asyncio.sleep(0.01)  # waiting for the signal
    signal.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(2):
            await worker


@pytest.mark.parametrize("turns", range(4))
async def test_a_stream_stops_when_cancelled_as_an_event_arrives(turns):
    subscriber = Subscriber(community=1, size=8)
    reader = asyncio.create_task(subscriber.next(60))
    await asyncio.sleep(0.01)
    subscriber.offer(Event(id=1, community=1, topic="alarm", payload="{}"))
    for _ in range(turns):
        await asyncio.sleep(0)
    if not reader.cancel():
        assert reader.result().id == 1  # it had the event before the cancel came
        return
    with pytest.raises(asyncio.CancelledError):  # a cancel it took is not dropped
        async with asyncio.timeout(2):
            await reader
