"""The transactional outbox: announcing an event is a row written with the record it announces.

:func:`announce` is the one way in, for every domain (alarms, later notices)::

    async with device_bridge.store.writer(engine) as writer:     # or the bridge handler's writer
        alarm_id = ...                                            # write the record
        await announce(writer, community=c, topic="alarm", payload={"id": alarm_id, ...},
                       push_to=[account ids], push=PushMessage(title=..., body=..., url=...))

It inserts one ``live_event`` row (streamed to the community's open boards, ``stream.py``) and one
``push_outbox`` row per account in ``push_to`` (sent to each of the account's browsers, ``push.py``),
and asks for a wake-up after the commit. Nothing is delivered inside the transaction: a rolled-back
record announces nothing, and a committed one is delivered even if this process dies right after.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

import msgspec

from backend.live import wakeup
from device_bridge.store import Writer

INSERT_EVENT = (
    "INSERT INTO live_event (community, topic, payload, created_at) VALUES ({}, {}, {}, {}) RETURNING id"
)
INSERT_PUSH = (
    "INSERT INTO push_outbox (account, message, created_at, due_at, attempts, delivered, sent_at, failed_at) "
    "VALUES ({}, {}, {}, {}, 0, '[]', NULL, NULL)"
)


class PushMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What a phone shows: the service worker (pwa/sw.js) displays it and opens ``url`` on a tap."""

    title: str
    body: str = ""
    url: str = "/"  # a path of the PWA
    tag: str = ""  # a later message with the same tag replaces the shown one
    urgency: Literal["very-low", "low", "normal", "high"] = "normal"


async def announce(
    writer: Writer,
    *,
    community: int,
    topic: str,
    payload: dict | None,
    push_to: Sequence[int] = (),
    push: PushMessage | None = None,
) -> int:
    """Record an event for ``community``'s live stream (and push to ``push_to``); returns the event's id.

    Without a ``payload`` only the push is sent (0 is returned): the stream is every watcher's, and
    some news is for its push recipients alone (police-only alarms).
    """
    if push_to and push is None:
        raise ValueError("push_to needs a push message")
    now = writer.at(datetime.now(UTC))
    event_id = 0
    if payload is not None:
        [row] = await writer.fetch(INSERT_EVENT, community, topic, _json(payload), now)
        event_id = row["id"]
    if push is not None:
        message = _json(push)
        await writer.many(INSERT_PUSH, [(account, message, now, now) for account in sorted(set(push_to))])
    wakeup.after_commit(writer)
    return event_id


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()
