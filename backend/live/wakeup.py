"""Wake-ups: "new rows were committed, look now", within a process and, through Redis, across processes.

Readers (each app process's stream tailer and push worker) never depend on a wake-up for
correctness: the tables are the truth and readers also look on a timer. A wake-up only shortens
the wait, so losing one (Redis away, a process without Redis) delays delivery, never loses it.

Changes go the same way: "the registry of these communities changed" (:func:`changed`, after the
commit), for the followers (:class:`Follower`) that keep copies of it (the scan cache). A follower must not
keep anything while it may miss one, so it is told when it hears and when it stops hearing:
without Redis, while the wake-up is installed; with it, while the subscription stands.

A process that commits announcements installs a :class:`Wakeup` (:func:`install`): the app in its
lifespan, ``anju bridge`` while its worker runs. :func:`after_commit` hooks it to a
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.settings import Settings
from device_bridge.store import Writer

log = logging.getLogger("anju.live")
CHANNEL = "live:wake"  # after the Redis key prefix
CHANGES = "live:changed"  # after the Redis key prefix; the message: community ids, comma-separated
PUBLISH_SECONDS = 1.0


class Follower(Protocol):
    """Keeps copies of registry data: forgets a community's when told it changed."""

    def changed(self, communities: frozenset[int]) -> None: ...

    def hearing(self, on: bool) -> None:
        """Whether every change from now on reaches it (False: it may miss some, so keep nothing)."""


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
    """Until ``event`` is set or ``seconds`` have passed; then clear it for the next round.

    asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives as
    the event is set, so the worker ran on and the app's shutdown waited for it for ever.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
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
        self._changes = settings.redis_prefix + CHANGES
        self._followers: list[Follower] = []

    def follow(self, follower: Follower) -> None:
        self._followers.append(follower)

    async def wake(self) -> None:
        self.local.notify()
        await self._publish(self._channel, "", "live wake-up")  # readers' timers still find the rows

    async def changed(self, communities: frozenset[int]) -> None:
        """This process's followers forget at once; the other processes' when Redis relays it."""
        self._tell(communities)
        # Lost (Redis away): the other processes are unsubscribed and keep nothing, or expire it.
        await self._publish(self._changes, ",".join(map(str, sorted(communities))), "registry change")

    async def _publish(self, channel: str, message: str, what: str) -> None:
        if self._redis is None:
            return
        try:
            # Bounded: the committer (a bridge batch awaiting its acks) must not hang on a Redis outage.
            async with asyncio.timeout(PUBLISH_SECONDS):
                await self._redis.publish(channel, message)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("%s not published: %s", what, exc)

    def _hear(self, on: bool) -> None:
        for follower in self._followers:
            follower.hearing(on)

    async def listen(self) -> None:
        """Relay the other processes' wake-ups and changes to this process, resubscribing after an outage."""
        if self._redis is None:
            return
        try:
            await self._subscribed()
        finally:  # stopped
            self._hear(False)

    async def _subscribed(self) -> None:
        down = False
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel, self._changes)
                    if down:
                        log.info("live wake-ups through Redis again")
                    down = False
                    self.local.notify()  # whatever was published while we were away
                    async for message in pubsub.listen():
                        self._relay(message)
            except (RedisError, OSError) as exc:
                self._hear(False)
                if not down:
                    log.warning("live wake-ups unavailable, readers poll meanwhile: %s", exc)
                down = True
                await asyncio.sleep(1.0)

    def _relay(self, message: dict) -> None:
        if message["channel"].decode() != self._changes:
            if message["type"] == "message":
                self.local.notify()
        elif message["type"] == "subscribe":  # from now on every change reaches this process
            self._hear(True)
        elif message["type"] == "message":
            self._tell(frozenset(int(c) for c in message["data"].decode().split(",") if c))

    def _tell(self, communities: frozenset[int]) -> None:
        for follower in self._followers:
            follower.changed(communities)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


# The wake-ups of this process's apps (one in production; tests may run two apps in one process).
_installed: list[Wakeup] = []


def install(wakeup: Wakeup) -> None:
    _installed.append(wakeup)
    if wakeup._redis is None:  # its followers hear every change, all made here and announced below
        wakeup._hear(True)


async def uninstall(wakeup: Wakeup) -> None:
    _installed.remove(wakeup)
    wakeup._hear(False)
    await wakeup.close()


@contextlib.asynccontextmanager
async def installed(wakeup: Wakeup) -> AsyncIterator[Wakeup]:
    """For a process that only announces (``anju bridge``): its commits wake the app processes."""
    install(wakeup)
    try:
        yield wakeup
    finally:
        await uninstall(wakeup)


async def changed(communities: Iterable[int]) -> None:
    """After a commit that changed these communities' registry data: every process forgets its copies."""
    for wakeup in _installed:
        await wakeup.changed(frozenset(communities))


def after_commit(writer: Writer) -> None:
    """Wake readers once ``writer``'s transaction commits (nothing if this process installed none)."""
    for wakeup in _installed:
        writer.after_commit(wakeup.wake)
