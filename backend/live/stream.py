"""The live stream: each app process tails ``live_event`` once and fans rows out to its open streams.

One :class:`Hub` per process. Its tailer reads rows past the last id it saw, woken by a wake-up
(wakeup.py) or, failing one, by its timer, and offers each row to the subscribers of the row's
community. A subscriber's queue is bounded: one that falls behind is dropped (its stream ends) and
the client resumes from the table with ``Last-Event-ID``, so a slow board never holds back the others.

Ids are handed out at insert but rows become visible at commit, so on PostgreSQL a smaller id can
appear after a larger one (two transactions committing out of order). The tailer remembers each id
it skipped as a hole and looks for it again for ``HOLE_SECONDS``; a hole still empty by then was a
rolled-back insert.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import msgspec
from litestar.response import ServerSentEventMessage

from backend.live.tables import LiveEvent
from backend.live.wakeup import Wakeup, each_round

HOLE_SECONDS = 30.0  # far longer than any transaction that announces something
MAX_HOLES = 1000  # more ids skipped at once than transactions can be open: the rest were never used
PAGE = 500  # rows read per query
PRUNE_EVERY = 60.0  # seconds


class Event(msgspec.Struct, frozen=True):
    id: int
    community: int
    topic: str
    payload: str  # JSON, as stored


class Dropped(Exception):
    """The subscriber fell behind its queue; its stream ends and the client resumes by id."""


class Subscriber:
    def __init__(self, community: int, size: int) -> None:
        self.community = community
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(size + 1)  # + the drop marker
        self._size = size

    def offer(self, event: Event) -> None:
        if self._queue.qsize() >= self._size:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)  # the stream ends when it reaches this
            return
        self._queue.put_nowait(event)

    async def next(self, seconds: float) -> Event | None:
        """The next event, or None after ``seconds`` without one (time for a heartbeat)."""
        try:
            async with asyncio.timeout(seconds):  # not wait_for: see wakeup.wait
                event = await self._queue.get()
        except TimeoutError:
            return None
        if event is None:
            raise Dropped
        return event


class Hub:
    def __init__(
        self, wakeup: Wakeup, poll_seconds: float, retention: timedelta, queue_size: int = 1000
    ) -> None:
        self._signal = wakeup.local.waiter()
        self._poll, self._retention, self._queue_size = poll_seconds, retention, queue_size
        self._subscribers: dict[int, set[Subscriber]] = {}
        self._seen: int | None = None  # the largest id offered, once started
        self._pruned = 0.0
        self._holes: dict[int, float] = {}  # id → when to stop looking for it

    @contextlib.contextmanager
    def subscribe(self, community: int) -> Iterator[Subscriber]:
        subscriber = Subscriber(community, self._queue_size)
        self._subscribers.setdefault(community, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers[community].discard(subscriber)

    async def run(self) -> None:
        """The tailer: from the events committed after it started, every event to its community's streams."""
        await each_round(self._signal, self._poll, self._round, "live tailer")

    async def _round(self) -> None:
        if self._seen is None:
            self._seen = await _latest_id()
        await self.tail()
        if time.monotonic() - self._pruned > PRUNE_EVERY:
            await prune(self._retention)
            self._pruned = time.monotonic()

    async def tail(self) -> None:
        while True:
            events = await _events_after(self._seen, self._holes)
            self._offer(events)
            if len(events) < PAGE:
                return

    def _offer(self, events: list[Event]) -> None:
        now = time.monotonic()
        for event in events:
            self._holes.pop(event.id, None)
            if event.id > self._seen:
                skipped = range(max(self._seen + 1, event.id - MAX_HOLES), event.id)
                self._holes.update(dict.fromkeys(skipped, now + HOLE_SECONDS))
                self._seen = event.id
            for subscriber in self._subscribers.get(event.community, ()):
                subscriber.offer(event)
        self._holes = {hole: until for hole, until in self._holes.items() if until > now}


async def sse(
    hub: Hub,
    community: int,
    after: int | None,
    *,
    heartbeat: float,
    lifetime: float,
    keep: Callable[[Event], bool] | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    """A stream's messages: the events after ``after`` (a resuming client's Last-Event-ID), then live ones.

    ``keep``: only the events it keeps (a household's own calls); by default every one.

    It ends after ``lifetime`` (the client reconnects, with a fresh token) or when the client falls
    behind; comments every ``heartbeat`` seconds keep proxies from closing an idle connection.
    """
    with hub.subscribe(community) as subscriber:
        yield ServerSentEventMessage(comment="connected", data=None)
        resumed: set[int] = set()  # also in the queue, if committed after we subscribed
        if after is not None:
            async for event in events_since(community, after):
                resumed.add(event.id)
                if keep is None or keep(event):
                    yield _message(event)
        deadline = time.monotonic() + lifetime
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await subscriber.next(min(heartbeat, left))
            except Dropped:
                return
            if event is None:
                yield ServerSentEventMessage(comment="heartbeat", data=None)
            elif event.id not in resumed and (keep is None or keep(event)):
                yield _message(event)


def _message(event: Event) -> ServerSentEventMessage:
    return ServerSentEventMessage(id=event.id, event=event.topic, data=event.payload)


async def events_since(community: int, after: int) -> AsyncIterator[Event]:
    """A community's stored events after id ``after``, in id order (what a resuming stream missed)."""
    while True:
        rows = await _select(limit=PAGE).where((LiveEvent.community == community) & (LiveEvent.id > after))
        for row in rows:
            yield Event(**row)
        if len(rows) < PAGE:
            return
        after = rows[-1]["id"]


async def prune(retention: timedelta) -> None:
    await LiveEvent.delete().where(LiveEvent.created_at < datetime.now(UTC) - retention)


def _select(limit: int):
    return (
        LiveEvent.select(LiveEvent.id, LiveEvent.community, LiveEvent.topic, LiveEvent.payload)
        .order_by(LiveEvent.id)
        .limit(limit)
    )


async def _events_after(seen: int, holes: dict[int, float]) -> list[Event]:
    newer = LiveEvent.id > seen
    rows = await _select(limit=PAGE).where(newer | LiveEvent.id.is_in(list(holes)) if holes else newer)
    return [Event(**row) for row in rows]


async def _latest_id() -> int:
    row = await LiveEvent.select(LiveEvent.id).order_by(LiveEvent.id, ascending=False).first()
    return row["id"] if row else 0
