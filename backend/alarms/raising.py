"""Raising, folding and clearing alarms inside a write transaction (a bridge batch or a job).

A :class:`Signal` is one piece of news about a device: "this alarm type is on" or "it is over".
:func:`take` applies it once (by its key) with plain SQL through the transaction's Writer, the same
on SQLite and PostgreSQL:

- a *momentary* type (a button press, an intrusion…) folds into the device's open alarm of that
  type when its last signal is within the fold window, else opens a new alarm;
- a *condition* (smoke, a crossed threshold, offline…) opens (or folds into) an alarm when it
  begins, only folds while it lasts, and marks the alarm cleared when it ends: a sensor repeating
  "smoke" every minute is one alarm, and one resolved while the smoke lasts is not raised again.

Every change is announced to the community's live stream; a new alarm is also pushed to the
accounts routing.py names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from backend.alarms import arming, routing
from backend.alarms.kinds import RULES, AlarmType, Severity, State
from backend.alarms.schemas import AlarmOut, alarm_out, json_list, stream_payload
from backend.live.outbox import PushMessage, announce
from backend.video.watching import with_cameras
from device_bridge.dispatch import KnownDevice
from device_bridge.store import Writer

FIRST_SIGNAL = (
    "INSERT INTO alarm_signal (key, created_at) VALUES ({}, {}) ON CONFLICT (key) DO NOTHING RETURNING key"
)
BEGIN = (
    "INSERT INTO alarm_condition (slot, active, at) VALUES ({}, {}, {}) "
    "ON CONFLICT (slot) DO UPDATE SET active = excluded.active, at = excluded.at "
    "WHERE alarm_condition.active = {} RETURNING slot"
)
END = "UPDATE alarm_condition SET active = {}, at = {} WHERE slot = {} AND active = {}"
CLEAR = "UPDATE alarm SET cleared_at = {} WHERE open_slot = {} AND cleared_at IS NULL RETURNING *"
# An open alarm whose last signal is older than the window takes no more repeats: the next opens anew.
RELEASE = "UPDATE alarm SET open_slot = NULL WHERE open_slot = {} AND last_at < {}"
LATER = "CASE WHEN excluded.last_at > alarm.last_at THEN excluded.last_at ELSE alarm.last_at END"
OPEN = (
    "INSERT INTO alarm (community, device, type, category, severity, state, detail, location, house, pairing, "
    "zone, cameras, meter, reading, threshold, latitude, longitude, signals, first_at, last_at, raised_at, "
    "note, open_slot) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 1, {}, {}, {}, "
    f"'', {{}}) ON CONFLICT (open_slot) DO UPDATE SET signals = alarm.signals + 1, last_at = {LATER}, "
    "cleared_at = NULL, reading = COALESCE(excluded.reading, alarm.reading) RETURNING *"
)
FOLD = (
    "UPDATE alarm SET signals = signals + 1, last_at = CASE WHEN {} > last_at THEN {} ELSE last_at END "
    "WHERE open_slot = {} RETURNING *"
)
STEP = "INSERT INTO alarm_step (alarm, state, at, account, note) VALUES ({}, {}, {}, {}, {})"
PAIRING = "SELECT id, house, location FROM button_pairing WHERE device = {}"
ZONES = "SELECT id, name, code, detectors, cameras FROM perimeter_zone WHERE community = {} ORDER BY id"
ARMING = "SELECT zone, types, days, start, until, level FROM arming_rule WHERE community = {}"


class Source(msgspec.Struct, frozen=True):
    """The device a signal comes from, as much of it as an alarm shows."""

    id: int
    community: int
    name: str
    kind: str
    latitude: float | None = None
    longitude: float | None = None

    @classmethod
    def of(cls, device: KnownDevice) -> Source:
        return cls(device.id, device.community, device.name, device.kind, device.latitude, device.longitude)

    @classmethod
    def of_row(cls, device: Mapping[str, Any]) -> Source:
        """From a ``device`` row with these columns (id, community, name, kind, latitude, longitude)."""
        return cls(*(device[name] for name in cls.__struct_fields__))


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # unique per device message: a redelivered message is a no-op
    device: Source
    type: AlarmType
    at: datetime  # the device's time
    active: bool = True
    detail: str = ""
    zones: list[str] = []  # zone names the video analytics reported
    meter: str = ""
    reading: float | None = None
    threshold: str = ""
    house: int | None = None  # the flat concerned when the device's place does not say (an e-bike's owner)


async def take(writer: Writer, signal: Signal, fold_seconds: float) -> AlarmOut | None:
    """Apply ``signal``; the alarm it opened, folded into or cleared, if any.

    An end is applied as often as it comes (it changes nothing twice), so the common "all is well"
    (a normal reading) leaves no row behind; a beginning or a repeat is applied once per key.
    """
    slot = f"{signal.device.id}:{signal.type}" + (f":{signal.house}" if signal.house else "")
    condition = RULES[signal.type].condition
    if not signal.active:
        return await _clear(writer, signal, slot, condition)
    if not await writer.fetch(FIRST_SIGNAL, signal.key[:100], writer.at(datetime.now(UTC))):
        return None
    severity = await _armed_severity(writer, signal)
    if severity is None:
        return None  # disarmed here and now: the event is stored, no alarm is raised
    if condition and not await writer.fetch(BEGIN, slot, True, writer.at(signal.at), False):
        return await _fold(writer, signal, slot)  # it goes on: repeats fold, nothing reopens
    return await _open(writer, signal, slot, fold_seconds, severity)


async def _clear(writer: Writer, signal: Signal, slot: str, condition: bool) -> AlarmOut | None:
    if condition:
        await writer.many(END, [(False, writer.at(signal.at), slot, True)])
    rows = await writer.fetch(CLEAR, writer.at(datetime.now(UTC)), slot)
    return await _announced(writer, rows[0]) if rows else None


async def _fold(writer: Writer, signal: Signal, slot: str) -> AlarmOut | None:
    at = writer.at(signal.at)
    rows = await writer.fetch(FOLD, at, at, slot)
    return await _announced(writer, rows[0]) if rows else None


async def _armed_severity(writer: Writer, signal: Signal) -> Severity | None:
    """The severity the community's arming schedule gives this signal; None: disarmed."""
    if signal.type not in arming.ARMABLE:
        return RULES[signal.type].severity
    rows = await writer.fetch(ARMING, signal.device.community)
    if not rows:
        return RULES[signal.type].severity
    zone = await _zone(writer, signal)
    windows = [
        arming.Window(
            zone=row["zone"],
            types=frozenset(json_list(row["types"])),
            days=row["days"],
            start=row["start"],
            until=row["until"],
            level=row["level"],
        )
        for row in rows
    ]
    return arming.level(windows, signal.type, signal.at, zone["id"] if zone else None)


async def _open(
    writer: Writer, signal: Signal, slot: str, fold_seconds: float, severity: Severity
) -> AlarmOut:
    now = datetime.now(UTC)
    await writer.many(RELEASE, [(slot, writer.at(signal.at - timedelta(seconds=fold_seconds)))])
    rule, device = RULES[signal.type], signal.device
    place = await _place(writer, signal)
    at = writer.at(signal.at)
    [row] = await writer.fetch(
        OPEN,
        device.community,
        device.id,
        signal.type.value,
        rule.category.value,
        severity.value,
        State.NEW.value,
        signal.detail[:500],
        place["location"][:200],
        place["house"],
        place["pairing"],
        place["zone"],
        msgspec.json.encode(place["cameras"]).decode(),
        signal.meter,
        signal.reading,
        signal.threshold[:100],
        device.latitude,
        device.longitude,
        at,
        at,
        writer.at(now),
        slot,
    )
    if row["signals"] > 1:
        return await _announced(writer, row)
    await writer.many(STEP, [(row["id"], State.NEW.value, writer.at(now), None, "")])
    [alarm] = await with_cameras(writer.fetch, [alarm_out(row)])
    await announce(
        writer,
        community=alarm.community,
        topic="alarm",
        payload=stream_payload(alarm),
        push_to=await routing.recipients(writer, alarm),
        push=push_message(alarm),
    )
    return alarm


async def _announced(writer: Writer, row: dict[str, Any]) -> AlarmOut:
    [alarm] = await with_cameras(writer.fetch, [alarm_out(row)])
    if (payload := stream_payload(alarm)) is not None:
        await announce(writer, community=alarm.community, topic="alarm", payload=payload)
    return alarm


def push_message(alarm: AlarmOut, escalated: bool = False) -> PushMessage:
    prefix = "升级 · " if escalated else ""
    return PushMessage(
        title=f"{prefix}{TITLES[alarm.type]}",
        body=" · ".join(part for part in (alarm.location, alarm.detail) if part),
        url=f"/alarms/{alarm.id}",
        tag=f"alarm-{alarm.id}",
        urgency="high" if alarm.severity in ("critical", "high") else "normal",
    )


async def _place(writer: Writer, signal: Signal) -> dict[str, Any]:
    """Where it happened: a paired button's flat, a perimeter zone and its cameras, or the device itself."""
    device = signal.device
    place: dict[str, Any] = {"location": device.name, "house": signal.house, "pairing": None, "zone": None}
    place["cameras"] = [device.id] if device.kind == "camera" else []
    if pairing := await writer.fetch(PAIRING, device.id):
        place |= {
            "location": pairing[0]["location"],
            "house": pairing[0]["house"],
            "pairing": pairing[0]["id"],
        }
    if signal.type is AlarmType.INTRUSION and (zone := await _zone(writer, signal)):
        cameras = json_list(zone["cameras"])
        place |= {"zone": zone["id"], "location": f"{zone['name']} · {device.name}", "cameras": cameras}
    return place


async def _zone(writer: Writer, signal: Signal) -> dict[str, Any] | None:
    """The zone the device guards; for a camera, the zone named by its analytics, else one it watches."""
    zones = await writer.fetch(ZONES, signal.device.community)
    device = signal.device.id
    named = [
        z for z in zones if z["code"] and z["code"] in signal.zones and device in json_list(z["cameras"])
    ]
    guarded = [z for z in zones if device in json_list(z["detectors"])]
    watched = [z for z in zones if device in json_list(z["cameras"])]
    return next(iter(named or guarded or watched), None)


TITLES: dict[AlarmType, str] = {
    AlarmType.EMERGENCY: "紧急报警",
    AlarmType.HELP: "求助",
    AlarmType.INTRUSION: "周界入侵",
    AlarmType.CROWDING: "人员聚集",
    AlarmType.LOITERING: "人员徘徊",
    AlarmType.LINE_CROSSING: "越界",
    AlarmType.THROWN_OBJECT: "高空抛物",
    AlarmType.VIDEO_LOSS: "视频丢失",
    AlarmType.OCCLUSION: "视频遮挡",
    AlarmType.SMOKE: "烟雾报警",
    AlarmType.FIRE_DOOR_OPEN: "消防门未关",
    AlarmType.WATER_LEAK: "漏水",
    AlarmType.HYDRANT_PRESSURE: "消防栓水压异常",
    AlarmType.WATER_THRESHOLD: "用水超限",
    AlarmType.ELECTRICITY_THRESHOLD: "用电超限",
    AlarmType.GAS_THRESHOLD: "燃气超限",
    AlarmType.DEVICE_OFFLINE: "设备离线",
    AlarmType.TAMPER: "设备防拆",
    AlarmType.LOW_BATTERY: "电量低",
    AlarmType.WATCHED_VEHICLE: "布控车辆",
    AlarmType.WATCHED_PERSON: "布控人员",
    AlarmType.TAG_WITHOUT_OWNER: "电动车无主出门",
}
