"""Escalation: an alarm nobody acknowledged in time is escalated, once, to the next tier.

The next tier is the community's police and the district's admins (routing.escalation_recipients),
pushed and announced on the live stream. The deadline depends on the severity
(``ANJU_ALARM_ESCALATE_{CRITICAL,HIGH,MEDIUM,LOW}_SECONDS``), counted from when the alarm was raised.

Safe with any number of runners (every bridge worker runs it): one ``UPDATE … WHERE escalated_at IS
NULL … RETURNING`` claims each alarm, so whichever runner claims it escalates it and the others get
no row (PostgreSQL re-checks the condition after waiting on the row; SQLite writes one at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

from backend.alarms import routing
from backend.alarms.kinds import Severity, State
from backend.alarms.raising import STEP, push_message
from backend.alarms.schemas import AlarmOut, alarm_out, stream_payload
from backend.live.outbox import announce
from backend.settings import Settings
from backend.video.watching import with_cameras
from device_bridge.store import Writer

CLAIM = (
    "UPDATE alarm SET escalated_at = {} WHERE state = {} AND escalated_at IS NULL AND severity = {} "
    "AND raised_at < {} RETURNING *"
)
ESCALATED = "escalated"


def deadlines(settings: Settings) -> dict[Severity, float]:
    return {
        Severity.CRITICAL: settings.alarm_escalate_critical_seconds,
        Severity.HIGH: settings.alarm_escalate_high_seconds,
        Severity.MEDIUM: settings.alarm_escalate_medium_seconds,
        Severity.LOW: settings.alarm_escalate_low_seconds,
    }


async def escalate_overdue(
    transaction: Callable[[], AbstractAsyncContextManager[Writer]], settings: Settings
) -> list[AlarmOut]:
    """Escalate every overdue alarm not escalated yet; the ones this runner escalated."""
    now = datetime.now(UTC)
    escalated = []
    async with transaction() as writer:
        for severity, seconds in deadlines(settings).items():
            cutoff = writer.at(now - timedelta(seconds=seconds))
            rows = await writer.fetch(CLAIM, writer.at(now), State.NEW.value, severity.value, cutoff)
            for row in rows:
                [alarm] = await with_cameras(writer.fetch, [alarm_out(row)])
                escalated.append(await _escalate(writer, alarm, now))
    return escalated


async def _escalate(writer: Writer, alarm: AlarmOut, now: datetime) -> AlarmOut:
    note = "无人确认，已升级 / not acknowledged in time"
    await writer.many(STEP, [(alarm.id, ESCALATED, writer.at(now), None, note)])
    await announce(
        writer,
        community=alarm.community,
        topic="alarm",
        payload=stream_payload(alarm),
        push_to=await routing.escalation_recipients(writer, alarm),
        push=push_message(alarm, escalated=True),
    )
    return alarm
