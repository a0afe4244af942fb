"""Sightings from probes become records once each, the MAC sealed; old ones are deleted.

Wi-Fi probes at the entrances (无线上网安全管理系统) and e-bike RFID readers report through the same
``sighting`` event (protocol.SightingData, the MAC already normalised at the edge). Each record keeps
the MAC only sealed, with a keyed hash the police search by (service.sightings); the copy of the
event every device event leaves in ``device_event`` has its MAC taken out before the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import msgspec

from backend.keys import Keys
from backend.settings import Settings
from device_bridge.dispatch import Handlers, Message
from device_bridge.protocol import EventType, SightingData
from device_bridge.store import Writer

INSERT_SIGHTING = (
    "INSERT INTO sighting (community, device, mac_hash, mac_sealed, kind, rssi, at, received_at, key) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (key) DO NOTHING"
)
ERASE = "DELETE FROM sighting WHERE at < {}"


def mac_lookup(keys: Keys, mac: str) -> str:
    """The keyed hash a normalised MAC is found by."""
    return keys.lookup_hash("mac", mac)


def register(handlers: Handlers, keys: Keys) -> None:
    async def store_sightings(writer: Writer, messages: Sequence[Message]) -> None:
        now = writer.at(dt.datetime.now(dt.UTC))
        await writer.many(INSERT_SIGHTING, [_row(writer, keys, m, now) for m in messages])

    handlers.prepare(_without_macs, types={EventType.SIGHTING})
    handlers.on(store_sightings, types={EventType.SIGHTING})


async def _without_macs(messages: Sequence[Message]) -> list[Message]:
    """The events as device_event stores them: without the MAC in clear."""
    return [msgspec.structs.replace(m, raw={**m.raw, "mac": "sealed in sighting"}) for m in messages]


def _row(writer: Writer, keys: Keys, message: Message, now: dt.datetime | str) -> tuple:
    data: SightingData = message.data
    return (
        message.device.community,
        message.device.id,
        mac_lookup(keys, data.mac),
        keys.seal(data.mac),
        data.kind,
        data.rssi,
        writer.at(data.seen_at or message.at),
        now,
        f"ev:{message.key}",
    )


async def erase_old(
    transaction: Callable[[], AbstractAsyncContextManager[Writer]], settings: Settings
) -> None:
    """Delete the sightings older than the retention the uplink rules allow."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.sighting_retention_days)
    async with transaction() as writer:
        await writer.many(ERASE, [(writer.at(cutoff),)])
