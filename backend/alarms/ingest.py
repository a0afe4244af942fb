"""What device messages mean to the alarms: alarm events, readings, batteries, offline devices.

Registered in backend/devices/ingest.py; each handler runs inside the bridge batch's transaction
and is idempotent per message key (raising.py keeps the keys of the signals it applied; meter
usage takes a reading only if it is newer than the last one counted for its hour).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from backend.alarms import thresholds
from backend.alarms.kinds import FROM_EVENT, FROM_METER, AlarmType
from backend.alarms.raising import Signal, Source, take
from backend.settings import Settings
from device_bridge.dispatch import Handlers, Message
from device_bridge.protocol import (
    AlarmData,
    AlarmKind,
    Channel,
    EventType,
    HeartbeatData,
    ReadingData,
    StateData,
)
from device_bridge.store import Writer

USAGE = (
    "INSERT INTO meter_usage (device, community, meter, hour, readings, total, low, high, last, last_at, slot) "
    "VALUES ({}, {}, {}, {}, 1, {}, {}, {}, {}, {}, {}) ON CONFLICT (slot) DO UPDATE SET "
    "readings = meter_usage.readings + 1, total = meter_usage.total + excluded.total, "
    "low = CASE WHEN excluded.low < meter_usage.low THEN excluded.low ELSE meter_usage.low END, "
    "high = CASE WHEN excluded.high > meter_usage.high THEN excluded.high ELSE meter_usage.high END, "
    "last = excluded.last, last_at = excluded.last_at "
    "WHERE excluded.last_at > meter_usage.last_at RETURNING low, high"
)


class AlarmConfig(msgspec.Struct, frozen=True):
    fold_seconds: float = 300.0
    battery_low_percent: int = 20

    @classmethod
    def of(cls, settings: Settings) -> AlarmConfig:
        return cls(settings.alarm_fold_seconds, settings.alarm_battery_low_percent)


def register(handlers: Handlers, config: AlarmConfig) -> None:
    async def alarms(writer: Writer, messages: Sequence[Message]) -> None:
        for message in messages:
            if (signal := alarm_signal(message)) is not None:
                await take(writer, signal, config.fold_seconds)

    async def readings(writer: Writer, messages: Sequence[Message]) -> None:
        await take_readings(writer, messages, config.fold_seconds)

    async def batteries(writer: Writer, messages: Sequence[Message]) -> None:
        for message in messages:
            if (signal := battery_signal(message, config.battery_low_percent)) is not None:
                await take(writer, signal, config.fold_seconds)

    handlers.on(alarms, types={EventType.ALARM})
    handlers.on(readings, types={EventType.READING})
    handlers.on(batteries, types={EventType.HEARTBEAT})
    handlers.on(batteries, channel=Channel.STATE)


def alarm_signal(message: Message) -> Signal | None:
    data: AlarmData = message.data
    kind = FROM_EVENT.get(data.kind)
    # A door contact is an incident only on a fire door; a flat's door opening is nobody's alarm.
    if kind is None or (data.kind == AlarmKind.DOOR_OPEN and message.device.kind != "door_magnet"):
        return None
    zones = message.raw.get("zones") if isinstance(message.raw, dict) else None
    return Signal(
        key=message.key,
        device=Source.of(message.device),
        type=kind,
        at=message.at,
        active=data.active,
        detail=data.detail,
        zones=[zone for zone in zones if isinstance(zone, str)] if isinstance(zones, list) else [],
    )


def battery_signal(message: Message, low_percent: int) -> Signal | None:
    """Low battery on or off, from a heartbeat's or a state's ``battery`` (or a heartbeat's ``battery_low``)."""
    data: HeartbeatData | StateData = message.data
    low = data.battery <= low_percent if data.battery is not None else getattr(data, "battery_low", None)
    if low is None:
        return None
    detail = f"{data.battery}%" if data.battery is not None else ""
    return Signal(
        key=f"{message.key}:battery",
        device=Source.of(message.device),
        type=AlarmType.LOW_BATTERY,
        at=message.at,
        active=low,
        detail=detail,
    )


async def take_readings(writer: Writer, messages: Sequence[Message], fold_seconds: float) -> None:
    """Each reading counted into its hour once; a crossing raises its alarm, a return clears it."""
    limits: dict[int, thresholds.Thresholds] = {}
    for message in messages:
        data: ReadingData = message.data
        device = Source.of(message.device)
        usage = await writer.fetch(USAGE, *_usage_row(writer, message))
        if not usage:
            continue  # a repeat, or older than what its hour already counted
        if device.community not in limits:
            limits[device.community] = await thresholds.load(writer, device.community)
        bounds = limits[device.community].limits(data.meter, device.id)
        value = thresholds.measured(data.meter, data.value, usage[0])
        unit = thresholds.UNITS[data.meter]
        signal = Signal(
            key=message.key,
            device=device,
            type=FROM_METER[data.meter],
            at=message.at,
            active=bounds.crossed(value),
            detail=f"{value:g} {unit}",
            meter=data.meter.value,
            reading=value,
            threshold=bounds.name(unit),
        )
        await take(writer, signal, fold_seconds)


def _usage_row(writer: Writer, message: Message) -> tuple:
    data: ReadingData = message.data
    hour = message.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    slot = f"{message.device.id}:{data.meter}:{hour:%Y%m%d%H}"
    at = writer.at(message.at)
    value = data.value
    return (
        message.device.id,
        message.device.community,
        data.meter.value,
        writer.at(hour),
        value,
        value,
        value,
        value,
        at,
        slot,
    )


# A flapping device is one alarm until someone handles it, or it stays up this long.
OFFLINE_FOLD_SECONDS = 3600.0


async def device_offline(writer: Writer, device: Source, online: bool) -> None:
    """The registry flipped a device offline (its will, or silence) or back online."""
    now = datetime.now(UTC)
    signal = Signal(
        key=f"{'online' if online else 'offline'}:{device.id}:{now.isoformat()}",
        device=device,
        type=AlarmType.DEVICE_OFFLINE,
        at=now,
        active=not online,
        detail="" if online else "设备离线 / device offline",
    )
    await take(writer, signal, OFFLINE_FOLD_SECONDS)
