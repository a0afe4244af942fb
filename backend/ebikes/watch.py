"""“Tag seen leaving without its owner's pass”: a job the bridge workers run every few seconds.

A tag read outbound at a gate is judged once ANJU_TAG_WINDOW_SECONDS have passed since it, so a
pass of its owner just after the tag (the rider shows their face once through the gate) counts as
much as one just before: the check cannot be made inside the tag's own batch. The owner passed
when any access record of theirs that is not a tag read (phone, card, face, PIN, ID card) lies in
the community within the window either side of the tag's time. Otherwise an alarm
``tag_without_owner`` is raised at the gate's device, for the owner's household; its signal key
(``tag:`` + the record's key) makes each tag read alarm once, however many workers run the job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from backend.alarms.kinds import AlarmType
from backend.alarms.raising import Signal, Source, take
from backend.settings import Settings
from device_bridge.protocol import AccessMethod, Direction
from device_bridge.store import Writer

CHECK_FOR = dt.timedelta(hours=1)  # tag reads older than this (events delayed by an outage) are left alone
# Tag reads outbound at a gate, past their window, with a holder, not judged yet.
TAG_EXITS = """
SELECT r.key, r.community, r.person, r.house, r.at, r.credential,
       v.id AS device, v.name AS device_name, v.kind AS device_kind, v.latitude, v.longitude
FROM access_record r
JOIN door d ON d.id = r.door
JOIN device v ON v.id = r.device
WHERE r.method = {} AND r.direction = {} AND r.resolution = 'person' AND d.kind = 'gate'
  AND r.at >= {} AND r.at < {}
  AND NOT EXISTS (SELECT 1 FROM alarm_signal s WHERE s.key = 'tag:' || r.key)
"""
OWNER_PASSED = (
    "SELECT 1 FROM access_record WHERE community = {} AND person = {} AND method <> {} AND at >= {} AND at <= {} "
    "LIMIT 1"
)
NOTHING_TO_SAY = "INSERT INTO alarm_signal (key, created_at) VALUES ({}, {}) ON CONFLICT (key) DO NOTHING"


async def check_tags(
    transaction: Callable[[], AbstractAsyncContextManager[Writer]],
    settings: Settings,
    now: dt.datetime | None = None,
) -> int:
    """Judge the tag reads whose window has closed; how many alarms were raised."""
    now = now or dt.datetime.now(dt.UTC)
    window = dt.timedelta(seconds=settings.tag_window_seconds)
    raised = 0
    async with transaction() as writer:
        exits = await writer.fetch(
            TAG_EXITS,
            AccessMethod.TAG.value,
            Direction.OUT.value,
            writer.at(now - window - CHECK_FOR),
            writer.at(now - window),
        )
        for tag in exits:
            at = _time(tag["at"])
            if await writer.fetch(
                OWNER_PASSED,
                tag["community"],
                tag["person"],
                AccessMethod.TAG.value,
                writer.at(at - window),
                writer.at(at + window),
            ):
                # Judged: the owner rode out. Remembered so the next turn skips it.
                await writer.many(NOTHING_TO_SAY, [(f"tag:{tag['key']}", writer.at(now))])
                continue
            signal = _signal(tag, at, settings.tag_window_seconds)
            raised += await take(writer, signal, settings.alarm_fold_seconds) is not None
    return raised


def _signal(tag: dict, at: dt.datetime, window_seconds: float) -> Signal:
    gate = Source(
        tag["device"],
        tag["community"],
        tag["device_name"],
        tag["device_kind"],
        tag["latitude"],
        tag["longitude"],
    )
    return Signal(
        key=f"tag:{tag['key']}",
        device=gate,
        type=AlarmType.TAG_WITHOUT_OWNER,
        at=at,
        detail=f"电动车防盗标签 …{tag['credential'][-4:]} 出门，前后 {int(window_seconds)} 秒内车主未通行",
        house=tag["house"],
    )


def _time(value: dt.datetime | str) -> dt.datetime:
    """A timestamp as the driver returns it (SQLite: UTC text)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
