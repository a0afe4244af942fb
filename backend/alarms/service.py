"""The alarm rules people act on: handling an alarm, perimeter zones, thresholds, button pairing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Count

from backend.accounts.service import account_names
from backend.alarms import arming
from backend.alarms.kinds import CLOSED_STATES, OPEN_STATES, POLICE_ONLY, STAMPS, TRANSITIONS, Category, State
from backend.alarms.raising import STEP
from backend.alarms.schemas import (
    AlarmDetail,
    AlarmOut,
    ArmingIn,
    ArmingOut,
    ButtonOut,
    MapCamera,
    MapOut,
    MapPlace,
    MapZone,
    PairedPerson,
    PairingIn,
    StepIn,
    StepOut,
    ThresholdIn,
    ThresholdOut,
    UsageOut,
    ZoneIn,
    ZoneOut,
    alarm_out,
    json_list,
    stream_payload,
)
from backend.alarms.tables import (
    Alarm,
    AlarmStep,
    ArmingRule,
    ButtonPairing,
    MeterUsage,
    PerimeterZone,
    SensorThreshold,
)
from backend.alarms.thresholds import DEFAULTS
from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction, writing
from backend.devices import service as devices
from backend.devices.tables import DeviceKind
from backend.errors import Conflict, Invalid, NotFound
from backend.live.outbox import announce
from backend.registry import service as registry
from backend.registry.service import community_target, house_target
from backend.text import plain_text
from backend.uplink import mappings as uplink
from backend.video.watching import with_cameras
from device_bridge.protocol import MeterKind
from roles import Action, Principal, Target, authorize, is_allowed
from roles.projections import project_person, viewer_for

LIST_LIMIT = 200


# --- alarms --------------------------------------------------------------------------------------


async def list_alarms(
    who: Principal,
    community_id: int,
    state: State | None = None,
    category: Category | None = None,
    limit: int = LIST_LIMIT,
) -> list[AlarmOut]:
    """A community's alarms: open ones first (newest first), then the latest closed ones."""
    target = await community_target(community_id)
    authorize(who, Action.VIEW_ALARMS, target)
    where = Alarm.community == community_id
    if not is_allowed(who, Action.MANAGE_WATCH_LIST, target):
        where &= Alarm.type.not_in(list(POLICE_ONLY))
    if category is not None:
        where &= Alarm.category == category
    states = [state] if state is not None else [*OPEN_STATES, *CLOSED_STATES]
    found: list[AlarmOut] = []
    for group in (OPEN_STATES, CLOSED_STATES):
        wanted = [s for s in group if s in states]
        if wanted and len(found) < limit:
            rows = (
                await Alarm.select()
                .where(where & Alarm.state.is_in(wanted))
                .order_by(Alarm.raised_at, ascending=False)
                .limit(limit - len(found))
            )
            found += [alarm_out(row) for row in rows]
    return await with_cameras(Alarm.raw, found)


async def alarm_detail(ctx: Context, who: Principal, alarm_id: int, ip: str) -> AlarmDetail:
    """One alarm with its history; a button's paired person (name, phone as the viewer may see it),
    whose read is audited."""
    row = await _alarm(alarm_id)
    target = await community_target(row["community"])
    authorize(who, Action.VIEW_ALARMS, target)
    _police_only_hidden(who, row, target)
    steps = await AlarmStep.select().where(AlarmStep.alarm == alarm_id).order_by(AlarmStep.id)
    names = await account_names([s["account"] for s in steps if s["account"] is not None])
    [alarm] = await with_cameras(Alarm.raw, [alarm_out(row)])
    detail = AlarmDetail(
        alarm=alarm,
        steps=[
            StepOut(s["state"], s["at"], s["account"], names.get(s["account"], ""), s["note"]) for s in steps
        ],
    )
    if row["pairing"] is not None and (person := await _paired_person(ctx, who, row)) is not None:
        detail.person = person
        await audit.record_read(
            who, "view_alarm_person", f"alarm:{alarm_id}", community=row["community"], ip=ip
        )
    return detail


async def _paired_person(ctx: Context, who: Principal, row: dict[str, Any]) -> PairedPerson | None:
    pairing = await ButtonPairing.select().where(ButtonPairing.id == row["pairing"]).first()
    if pairing is None:
        return None  # unpaired since
    resident = await registry.flat_resident(ctx, pairing["house"], pairing["person"])
    if resident is None:
        return None  # moved out since
    target = await house_target(pairing["house"])
    shown = project_person(viewer_for(who, target), {"name": resident["name"], "phone": resident["phone"]})
    return PairedPerson(name=shown.get("name", ""), phone=shown.get("phone", ""))


async def step(ctx: Context, who: Principal, alarm_id: int, data: StepIn, ip: str) -> AlarmOut:
    """Move an alarm on: acknowledged → dispatched → resolved | false alarm, with who, when and a note.

    A closed button alarm is owed to the police platform (the uplink's ``emergency_alarm``), in the
    same transaction."""
    row = await _alarm(alarm_id)
    target = await community_target(row["community"])
    authorize(who, Action.HANDLE_ALARM, target)
    _police_only_hidden(who, row, target)
    to = data.state
    if to not in TRANSITIONS:
        raise Invalid("illegal_transition", f"An alarm cannot be moved back to {to}", field="state")
    note = plain_text(data.note, "note")
    if to in CLOSED_STATES and not note:
        raise Invalid("note_required", "Say how the alarm was handled (处理结果)", field="note")
    async with writing(Alarm._meta.db) as writer:
        now = writer.at(datetime.now(UTC))
        rows = await writer.fetch(_transition_sql(to), to.value, now, who.account_id, note, alarm_id)
        if not rows:
            current = (await _alarm(alarm_id))["state"]
            allowed = " or ".join(TRANSITIONS[to])
            raise Conflict(
                "illegal_transition",
                f"The alarm is {current}; only an alarm that is {allowed} can become {to}",
            )
        await writer.many(STEP, [(alarm_id, to.value, now, who.account_id, note)])
        await audit.record(who, f"alarm_{to}", f"alarm:{alarm_id}", community=row["community"], ip=ip)
        [alarm] = await with_cameras(writer.fetch, [alarm_out(rows[0])])
        if (payload := stream_payload(alarm)) is not None:
            await announce(writer, community=alarm.community, topic="alarm", payload=payload)
        await uplink.closed_alarm(writer, ctx.keys, rows[0])
    return alarm


def _police_only_hidden(who: Principal, row: dict[str, Any], target: Target) -> None:
    """A police-only alarm does not exist for anyone who may not read the watch list."""
    if row["type"] in POLICE_ONLY and not is_allowed(who, Action.MANAGE_WATCH_LIST, target):
        raise NotFound("unknown_alarm", f"No alarm {row['id']}")


def _transition_sql(to: State) -> str:
    at, by = STAMPS[to]
    closing = ", open_slot = NULL" if to in CLOSED_STATES else ""  # repeats open a new alarm from now on
    sources = ", ".join(f"'{state}'" for state in TRANSITIONS[to])
    return (
        f"UPDATE alarm SET state = {{}}, {at} = {{}}, {by} = {{}}, note = {{}}{closing} "
        f"WHERE id = {{}} AND state IN ({sources}) RETURNING *"
    )


async def _alarm(alarm_id: int) -> dict[str, Any]:
    row = await Alarm.select().where(Alarm.id == alarm_id).first()
    if row is None:
        raise NotFound("unknown_alarm", f"No alarm {alarm_id}")
    return row


# --- perimeter zones -----------------------------------------------------------------------------


def _zone_out(row: dict[str, Any]) -> ZoneOut:
    return ZoneOut(
        id=row["id"],
        community=row["community"],
        name=row["name"],
        code=row["code"],
        polygon=json_list(row["polygon"]),
        detectors=json_list(row["detectors"]),
        cameras=json_list(row["cameras"]),
    )


async def list_zones(who: Principal, community_id: int) -> list[ZoneOut]:
    authorize(who, Action.VIEW_ALARMS, await community_target(community_id))
    rows = (
        await PerimeterZone.select().where(PerimeterZone.community == community_id).order_by(PerimeterZone.id)
    )
    return [_zone_out(row) for row in rows]


async def zone_cameras(community_id: int) -> list[tuple[str, list[int]]]:
    """Each perimeter zone's name and the cameras linked to it (每个防区应不少于一个视频探头)."""
    rows = (
        await PerimeterZone.select(PerimeterZone.name, PerimeterZone.cameras)
        .where(PerimeterZone.community == community_id)
        .order_by(PerimeterZone.id)
    )
    return [(row["name"], json_list(row["cameras"])) for row in rows]


async def community_map(who: Principal, community_id: int) -> MapOut:
    """The board's map: buildings and gates where they stand, zones with the cameras that watch them."""
    authorize(who, Action.VIEW_ALARMS, await community_target(community_id))
    buildings, gates = await registry.map_places(community_id)
    zones = await list_zones(who, community_id)
    cameras = await devices.devices_by_id(sorted({c for zone in zones for c in zone.cameras}))

    def place(row: dict[str, Any]) -> MapPlace:
        return MapPlace(row["id"], row["name"], row["map_x"], row["map_y"], row.get("houses", []))

    def camera(device_id: int) -> MapCamera:
        found = cameras[device_id]
        return MapCamera(device_id, found["name"], bool(found["online"]), found["stream_url"])

    return MapOut(
        buildings=[place(row) for row in buildings],
        gates=[place(row) for row in gates],
        zones=[
            MapZone(z.id, z.name, z.polygon, z.detectors, [camera(c) for c in z.cameras if c in cameras])
            for z in zones
        ],
    )


async def save_zone(who: Principal, data: ZoneIn, ip: str, zone_id: int | None = None) -> ZoneOut:
    """Create a zone, or replace one (``zone_id``) within its own community."""
    authorize(who, Action.MANAGE_ZONES, await community_target(data.community_id))
    if zone_id is not None and (await _zone(zone_id))["community"] != data.community_id:
        raise Invalid("zone_elsewhere", "A zone stays in its community", field="community_id")
    await _check_zone_devices(data)
    values = {
        PerimeterZone.community: data.community_id,
        PerimeterZone.name: plain_text(data.name, "name"),
        PerimeterZone.code: data.code,
        PerimeterZone.polygon: msgspec.json.encode(data.polygon).decode(),
        PerimeterZone.detectors: msgspec.json.encode(sorted(set(data.detectors))).decode(),
        PerimeterZone.cameras: msgspec.json.encode(sorted(set(data.cameras))).decode(),
    }
    async with transaction(PerimeterZone._meta.db):
        if zone_id is None:
            [row] = await PerimeterZone.insert(PerimeterZone(**{c._meta.name: v for c, v in values.items()}))
            zone_id = row["id"]
        else:
            await PerimeterZone.update(values).where(PerimeterZone.id == zone_id)
        await audit.record(who, "save_zone", f"zone:{zone_id}", community=data.community_id, ip=ip)
    return _zone_out(await _zone(zone_id))


async def arming_schedule(who: Principal, community_id: int) -> list[ArmingOut]:
    authorize(who, Action.VIEW_ALARMS, await community_target(community_id))
    rows = await ArmingRule.select().where(ArmingRule.community == community_id).order_by(ArmingRule.id)
    return [_arming_out(row) for row in rows]


async def add_arming(who: Principal, community_id: int, data: ArmingIn, ip: str) -> ArmingOut:
    authorize(who, Action.MANAGE_ZONES, await community_target(community_id))
    if (code := arming.checked(data.types, data.days, data.start, data.until, data.level)) is not None:
        raise Invalid(code, ARMING_ERRORS[code])
    if data.zone_id is not None and (await _zone(data.zone_id))["community"] != community_id:
        raise Invalid("zone_elsewhere", "The zone is another community's", field="zone_id")
    rule = ArmingRule(
        community=community_id,
        zone=data.zone_id,
        types=msgspec.json.encode(sorted(set(data.types))).decode(),
        days="".join(sorted(data.days)),
        start=data.start,
        until=data.until,
        level=data.level,
        note=plain_text(data.note, "note"),
        created_by=who.account_id,
    )
    async with transaction(ArmingRule._meta.db):
        await rule.save()
        await audit.record(
            who,
            "add_arming_rule",
            f"arming:{rule.id}",
            community=community_id,
            ip=ip,
            detail={"zone": data.zone_id, "level": data.level, "window": f"{data.start}-{data.until}"},
        )
    return _arming_out(rule.to_dict())


async def delete_arming(who: Principal, rule_id: int, ip: str) -> None:
    row = await ArmingRule.select(ArmingRule.community).where(ArmingRule.id == rule_id).first()
    if row is None:
        raise NotFound("unknown_arming_rule", f"No arming rule {rule_id}")
    authorize(who, Action.MANAGE_ZONES, await community_target(row["community"]))
    async with transaction(ArmingRule._meta.db):
        await ArmingRule.delete().where(ArmingRule.id == rule_id)
        await audit.record(who, "delete_arming_rule", f"arming:{rule_id}", community=row["community"], ip=ip)


def _arming_out(row: dict[str, Any]) -> ArmingOut:
    return ArmingOut(
        id=row["id"],
        community_id=row["community"],
        zone_id=row["zone"],
        types=json_list(row["types"]),
        days=row["days"],
        start=row["start"],
        until=row["until"],
        level=row["level"],
        note=row["note"],
    )


ARMING_ERRORS = {
    "not_armable": f"Only these alarm types follow a schedule: {', '.join(sorted(arming.ARMABLE))}",
    "invalid_days": "days: ISO weekday digits, each once (1 = Monday … 7 = Sunday)",
    "invalid_time": "start and until: HH:MM, 24-hour clock",
    "invalid_level": f"level: one of {', '.join(arming.LEVELS)}",
}


async def delete_zone(who: Principal, zone_id: int, ip: str) -> None:
    zone = await _zone(zone_id)
    authorize(who, Action.MANAGE_ZONES, await community_target(zone["community"]))
    async with transaction(PerimeterZone._meta.db):
        await PerimeterZone.delete().where(PerimeterZone.id == zone_id)
        await audit.record(who, "delete_zone", f"zone:{zone_id}", community=zone["community"], ip=ip)


async def _zone(zone_id: int) -> dict[str, Any]:
    row = await PerimeterZone.select().where(PerimeterZone.id == zone_id).first()
    if row is None:
        raise NotFound("unknown_zone", f"No perimeter zone {zone_id}")
    return row


async def _check_zone_devices(data: ZoneIn) -> None:
    if not all(math.isfinite(value) for point in data.polygon for value in point):
        raise Invalid("invalid_polygon", "Polygon points must be finite numbers", field="polygon")
    known = await devices.devices_by_id([*data.detectors, *data.cameras])
    for field, wanted in (("detectors", data.detectors), ("cameras", data.cameras)):
        for device_id in wanted:
            device = known.get(device_id)
            if device is None or device["community"] != data.community_id:
                raise Invalid("unknown_device", f"No device {device_id} in this community", field=field)
            if field == "cameras" and device["kind"] != DeviceKind.CAMERA:
                raise Invalid("not_a_camera", f"Device {device_id} is not a camera", field=field)


# --- thresholds ----------------------------------------------------------------------------------


async def list_thresholds(who: Principal, community_id: int) -> list[ThresholdOut]:
    """The built-in default of every meter kind, then the community's own limits and device overrides."""
    authorize(who, Action.VIEW_ALARMS, await community_target(community_id))
    rows = (
        await SensorThreshold.select()
        .where(SensorThreshold.community == community_id)
        .order_by(SensorThreshold.meter, SensorThreshold.id)
    )
    defaults = [
        ThresholdOut(meter, None, limits.low, limits.high, "default") for meter, limits in DEFAULTS.items()
    ]
    own = [
        ThresholdOut(
            MeterKind(r["meter"]), r["device"], r["low"], r["high"], "device" if r["device"] else "community"
        )
        for r in rows
    ]
    return defaults + own


async def set_threshold(who: Principal, community_id: int, data: ThresholdIn, ip: str) -> list[ThresholdOut]:
    """Set a community's limits for a meter kind, or one device's; no limits at all removes them."""
    authorize(who, Action.MANAGE_THRESHOLDS, await community_target(community_id))
    for name in ("low", "high"):
        if (value := getattr(data, name)) is not None and not math.isfinite(value):
            raise Invalid("invalid_threshold", f"{name} must be a finite number", field=name)
    if data.low is not None and data.high is not None and data.low >= data.high:
        raise Invalid("invalid_threshold", "low must be below high", field="low")
    if data.device_id is not None:
        device = (await devices.devices_by_id([data.device_id])).get(data.device_id)
        if device is None or device["community"] != community_id:
            raise Invalid(
                "unknown_device", f"No device {data.device_id} in this community", field="device_id"
            )
    slot = f"{community_id}:{data.meter}:{data.device_id or ''}"
    async with transaction(SensorThreshold._meta.db):
        await SensorThreshold.delete().where(SensorThreshold.slot == slot)
        if data.low is not None or data.high is not None:
            await SensorThreshold(
                community=community_id,
                meter=data.meter,
                device=data.device_id,
                low=data.low,
                high=data.high,
                slot=slot,
                updated_by=who.account_id,
            ).save()
        await audit.record(who, "set_threshold", f"threshold:{slot}", community=community_id, ip=ip)
    return await list_thresholds(who, community_id)


async def meter_usage(who: Principal, device_id: int, hours: int) -> list[UsageOut]:
    """A device's hourly meter rows over the last ``hours``, oldest first."""
    device = (await devices.devices_by_id([device_id])).get(device_id)
    if device is None:
        raise NotFound("unknown_device", f"No device {device_id}")
    authorize(who, Action.VIEW_ALARMS, await community_target(device["community"]))
    since = datetime.now(UTC) - timedelta(hours=hours)
    rows = (
        await MeterUsage.select()
        .where((MeterUsage.device == device_id) & (MeterUsage.hour >= since))
        .order_by(MeterUsage.hour)
    )
    return [msgspec.convert(row, UsageOut, strict=False) for row in rows]


# --- emergency buttons ---------------------------------------------------------------------------


async def pair_button(ctx: Context, who: Principal, data: PairingIn, ip: str) -> ButtonOut:
    """Pair a button (by the serial in its QR) with a verified resident of a flat; the button takes the flat."""
    target = await house_target(data.house_id)
    authorize(who, Action.PAIR_BUTTON, target)
    device = await devices.device_by_code(data.serial)
    if (
        device is None
        or device["kind"] != DeviceKind.EMERGENCY_BUTTON
        or device["community"] != target.community_id
    ):
        raise NotFound(
            "unknown_button", "No emergency button with this serial in this community", field="serial"
        )
    resident = await registry.flat_resident(ctx, data.house_id, data.person_id)
    if resident is None:
        raise Invalid(
            "not_a_resident", "The person is not a verified resident of this flat", field="person_id"
        )
    async with transaction(ButtonPairing._meta.db):
        paired = await ButtonPairing.select().where(ButtonPairing.device == device["id"]).first()
        if paired is not None and paired["house"] != data.house_id:
            raise Conflict(
                "paired_elsewhere", "This button is paired with another flat; unpair it there first"
            )
        await ButtonPairing.delete().where(ButtonPairing.device == device["id"])
        await ButtonPairing(
            device=device["id"],
            community=target.community_id,
            house=data.house_id,
            person=data.person_id,
            location=resident["address"],
            paired_by=who.account_id,
        ).save()
        await devices.place_in_house(device["id"], resident)
        await audit.record(
            who,
            "pair_button",
            f"device:{device['id']}",
            community=target.community_id,
            ip=ip,
            detail={"house": data.house_id, "person": data.person_id},
        )
    return (await _buttons([device["id"]]))[0]


async def unpair_button(who: Principal, house_id: int, device_id: int, ip: str) -> None:
    target = await house_target(house_id)
    authorize(who, Action.PAIR_BUTTON, target)
    async with transaction(ButtonPairing._meta.db):
        removed = (
            await ButtonPairing.delete()
            .where((ButtonPairing.device == device_id) & (ButtonPairing.house == house_id))
            .returning(ButtonPairing.id)
        )
        if not removed:
            raise NotFound("not_paired", "No button of that id is paired with this flat")
        await devices.place_in_house(device_id, None)
        await audit.record(who, "unpair_button", f"device:{device_id}", community=target.community_id, ip=ip)


async def house_buttons(who: Principal, house_id: int) -> list[ButtonOut]:
    authorize(who, Action.PAIR_BUTTON, await house_target(house_id))
    rows = await ButtonPairing.select(ButtonPairing.device).where(ButtonPairing.house == house_id)
    return await _buttons([row["device"] for row in rows])


async def community_buttons(who: Principal, community_id: int) -> list[ButtonOut]:
    """Every emergency button of a community: battery, last seen, and the flat it is paired with."""
    authorize(who, Action.VIEW_ALARMS, await community_target(community_id))
    rows = await devices.devices_of_kind(community_id, DeviceKind.EMERGENCY_BUTTON)
    return await _buttons([row["id"] for row in rows])


async def _buttons(device_ids: list[int]) -> list[ButtonOut]:
    found = await devices.devices_by_id(device_ids)
    pairings = {
        p["device"]: p
        for p in await ButtonPairing.select().where(ButtonPairing.device.is_in(device_ids or [0]))
    }
    return [
        ButtonOut(
            device_id=d["id"],
            serial=d["code"],
            name=d["name"],
            online=bool(d["online"]),
            battery=d["battery"],
            last_seen=d["last_seen"],
            house=pairings[d["id"]]["house"] if d["id"] in pairings else None,
            location=pairings[d["id"]]["location"] if d["id"] in pairings else "",
            paired_at=pairings[d["id"]]["paired_at"] if d["id"] in pairings else None,
        )
        for d in (found[i] for i in device_ids if i in found)
    ]


async def open_counts(communities: list[int]) -> dict[int, int]:
    """Open (new, acknowledged, dispatched) alarms per community, for the district view."""
    rows = (
        await Alarm.select(Alarm.community, Count())
        .where(Alarm.community.is_in(communities or [0]) & Alarm.state.is_in(list(OPEN_STATES)))
        .group_by(Alarm.community)
    )
    return {row["community"]: row["count"] for row in rows}
