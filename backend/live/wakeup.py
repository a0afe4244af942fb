"""Wake-ups: "new rows were committed, look now", within a process and, through Redis, across processes.

Readers (each app process's stream tailer and push worker) never depend on a wake-up for
correctness: the tables are the truth and readers also look on a timer. A wake-up only shortens
the wait, so losing one (Redis away, a process without Redis) delays delivery, never loses it.

A process that commits announcements installs a :class:`Wakeup` (:func:`install`): the app in its
lifespan, ``anju bridge`` while its worker runs. :func:`after_commit` hooks it to a
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.settings import Settings
from device_bridge.store import Writer

log = logging.getLogger("anju.live")
CHANNEL = "live:wake"  # after the Redis key prefix
PUBLISH_SECONDS = 1.0


class Signal:
    """Wakes every waiter of this process; each waiter sees a notification sent while it was busy."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Event] = set()

    def notify(self) -> None:
        for event in self._waiters:
            event.set()

    def waiter(self) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.add(event)
        return event


async def wait(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` have passed; then clear it for the next round."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    event.clear()


async def each_round(
    signal: asyncio.Event, seconds: float, job: Callable[[], Awaitable[None]], what: str
) -> None:
    """Run ``job`` now, then after each wake-up (or ``seconds`` without one), for ever.

    A failing round (the database away) is retried on the next one; the failure is logged when it
    starts and when it ends, not every round.
    """
    failing = False
    while True:
        try:
            await job()
        except Exception:
            if not failing:
                log.exception("%s failing; retrying every round", what)
            failing = True
        else:
            if failing:
                log.info("%s works again", what)
            failing = False
        await wait(signal, seconds)


class Wakeup:
    """Notifies this process's readers, and publishes to the other processes when Redis is configured."""

    def __init__(self, settings: Settings) -> None:
        self.local = Signal()
        self._redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        self._channel = settings.redis_prefix + CHANNEL

    async def wake(self) -> None:
        self.local.notify()
        if self._redis is None:
            return
        try:
            # Bounded: the committer (a bridge batch awaiting its acks) must not hang on a Redis outage.
            async with asyncio.timeout(PUBLISH_SECONDS):
                await self._redis.publish(self._channel, b"")
        except (RedisError, OSError, TimeoutError) as exc:  # readers' timers still find the rows
            log.warning("live wake-up not published: %s", exc)

    async def listen(self) -> None:
        """Relay the other processes' wake-ups to this process's readers, resubscribing after an outage."""
        if self._redis is None:
            return
        down = False
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    if down:
                        log.info("live wake-ups through Redis again")
                    down = False
                    self.local.notify()  # whatever was published while we were away
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self.local.notify()
            except (RedisError, OSError) as exc:
                if not down:
                    log.warning("live wake-ups unavailable, readers poll meanwhile: %s", exc)
                down = True
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


# The wake-ups of this process's apps (one in production; tests may run two apps in one process).
_installed: list[Wakeup] = []


def install(wakeup: Wakeup) -> None:
    _installed.append(wakeup)


async def uninstall(wakeup: Wakeup) -> None:
    _installed.remove(wakeup)
    await wakeup.close()


@contextlib.asynccontextmanager
async def installed(wakeup: Wakeup) -> AsyncIterator[Wakeup]:
    """For a process that only announces (``anju bridge``): its commits wake the app processes."""
    install(wakeup)
    try:
        yield wakeup
    finally:
        await uninstall(wakeup)


def after_commit(writer: Writer) -> None:
    """Wake readers once ``writer``'s transaction commits (nothing if this process installed none)."""
    for wakeup in _installed:
        writer.after_commit(wakeup.wake)
