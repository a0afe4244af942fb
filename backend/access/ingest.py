"""Access events from devices become access records (门禁刷卡信息), once each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from device_bridge.dispatch import Handlers, Message
from device_bridge.protocol import AccessData, AccessMethod, EventType
from device_bridge.store import Writer
from roles.masking import mask_id

INSERT_PASS = (
    "INSERT INTO access_record (community, door, device, building, unit, method, direction, granted, account, "
    "person, credential, at, key, created_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, NULL, NULL, {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING"
)


def register(handlers: Handlers) -> None:
    handlers.on(store_passes, types={EventType.ACCESS})


async def store_passes(writer: Writer, messages: Sequence[Message]) -> None:
    now = writer.at(datetime.now(UTC))
    await writer.many(INSERT_PASS, [(*_record(m), writer.at(m.at), f"ev:{m.key}", now) for m in messages])


def _record(message: Message) -> tuple:
    """access_record's columns from ``community`` to ``credential``; an ID number is stored masked."""
    data: AccessData = message.data
    device = message.device
    credential = mask_id(data.credential) if data.method is AccessMethod.ID_CARD else data.credential
    return (
        device.community,
        device.doors.get(data.door),
        device.id,
        device.building,
        device.unit,
        data.method,
        data.direction,
        data.granted,
        credential[:50],
    )
