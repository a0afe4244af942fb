"""Video (视频监控): cameras as places, recorders and their retention, the coverage of the seed's
required areas, and video inspection rounds (视频巡检) with snapshots and missed rounds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from backend.alarms import service as alarms
from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction, writing
from backend.devices import service as devices
from backend.devices.tables import DeviceKind
from backend.errors import Conflict, Invalid, NotFound
from backend.photos import keep_photo
from backend.registry import service as registry
from backend.text import plain_text
from backend.uplink import operations as uplink
from backend.video.schemas import (
    AreaCount,
    CameraFlag,
    CameraIn,
    CameraOut,
    CameraPlace,
    CheckIn,
    CheckOut,
    CoverageOut,
    Gap,
    InspectionsOut,
    RecorderIn,
    RecorderOut,
    RoundOut,
    Window,
)
from backend.video.tables import (
    Area,
    Camera,
    CameraOnvif,
    InspectionCheck,
    InspectionRound,
    InspectionSchedule,
    InspectionSnapshot,
    Recorder,
    RoundStatus,
    VideoState,
)
from roles import Action, Principal, authorize, authorize_any

LOCAL = ZoneInfo("Asia/Shanghai")  # inspection days start at Wuhan's midnight
RETENTION_DAYS_MIN = 30  # 采集的视频类数据存储周期不少于 30 天
LIFT_FLOORS = 7  # residential buildings of seven storeys and more have lifts (GB 50096)
MISSED_LOOKBACK_DAYS = 7
RECENT_ROUNDS = 50

# The seed's 视频监控系统 rows are 必建 in both tiers; these areas every community has. The rest
# (a playground or water feature, a gas regulator station) only where the community has one, which
# the registry does not know: cameras there count, their absence is no gap.
REQUIRED = (
    Area.COMMUNITY_ENTRANCE,
    Area.MAIN_PASSAGE,
    Area.PUBLIC_AREA,
    Area.CAR_PARK,
    Area.UNIT_ENTRANCE,
    Area.LIFT,
    Area.PERIMETER,
    Area.MONITORING_CENTRE,
    Area.PUMP_ROOM,
    Area.POWER_ROOM,
)


# --- recorders -----------------------------------------------------------------------------------


async def recorders(who: Principal, community_id: int) -> list[RecorderOut]:
    authorize(who, Action.VIEW_VIDEO, await registry.community_target(community_id))
    rows = await Recorder.select().where(Recorder.community == community_id).order_by(Recorder.id)
    return [await _recorder_out(row) for row in rows]


async def _recorder_out(row: dict[str, Any]) -> RecorderOut:
    return RecorderOut(
        id=row["id"],
        community_id=row["community"],
        name=row["name"],
        address=row["address"],
        retention_days=row["retention_days"],
        reported_at=row["reported_at"],
        channels=await Camera.count().where(Camera.recorder == row["id"]),
    )


def _recorder_values(data: RecorderIn) -> dict[str, str]:
    address = plain_text(data.address, "address")
    if "@" in address:
        raise Invalid(
            "recorder_credentials", "Keep the recorder's password in the recorder, not here", field="address"
        )
    return {"name": plain_text(data.name, "name"), "address": address}


async def add_recorder(who: Principal, community_id: int, data: RecorderIn, ip: str) -> RecorderOut:
    authorize(who, Action.MANAGE_VIDEO, await registry.community_target(community_id))
    recorder = Recorder(community=community_id, **_recorder_values(data))
    async with transaction(Recorder._meta.db):
        await recorder.save()
        await audit.record(who, "add_recorder", f"recorder:{recorder.id}", community=community_id, ip=ip)
    return await _recorder_out(await _recorder(recorder.id))


async def _recorder(recorder_id: int) -> dict[str, Any]:
    row = await Recorder.select().where(Recorder.id == recorder_id).first()
    if row is None:
        raise NotFound("unknown_recorder", f"No recorder {recorder_id}")
    return row


async def _managed_recorder(who: Principal, recorder_id: int) -> dict[str, Any]:
    row = await _recorder(recorder_id)
    authorize(who, Action.MANAGE_VIDEO, await registry.community_target(row["community"]))
    return row


async def change_recorder(who: Principal, recorder_id: int, data: RecorderIn, ip: str) -> RecorderOut:
    row = await _managed_recorder(who, recorder_id)
    values = _recorder_values(data)
    async with transaction(Recorder._meta.db):
        await Recorder.update({Recorder.name: values["name"], Recorder.address: values["address"]}).where(
            Recorder.id == recorder_id
        )
        await audit.record(
            who, "change_recorder", f"recorder:{recorder_id}", community=row["community"], ip=ip
        )
    return await _recorder_out(await _recorder(recorder_id))


async def report_retention(
    who: Principal, recorder_id: int, days: int, now: dt.datetime, ip: str
) -> RecorderOut:
    """What the recorder keeps now (read off its storage page); under 30 days flags its channels."""
    row = await _managed_recorder(who, recorder_id)
    async with transaction(Recorder._meta.db):
        await Recorder.update({Recorder.retention_days: days, Recorder.reported_at: now}).where(
            Recorder.id == recorder_id
        )
        await audit.record(
            who,
            "report_retention",
            f"recorder:{recorder_id}",
            community=row["community"],
            ip=ip,
            detail={"retention_days": days},
        )
    return await _recorder_out(await _recorder(recorder_id))


# --- cameras -------------------------------------------------------------------------------------


async def cameras(who: Principal, community_id: int) -> list[CameraOut]:
    authorize(who, Action.VIEW_VIDEO, await registry.community_target(community_id))
    return await _cameras(Camera.community == community_id)


async def _cameras(where: Any) -> list[CameraOut]:
    rows = await Camera.select().where(where).order_by(Camera.id)
    found = await devices.devices_by_id([row["device"] for row in rows])
    ptz = set(
        await CameraOnvif.select(CameraOnvif.camera)
        .where(CameraOnvif.camera.is_in([row["id"] for row in rows] or [0]))
        .output(as_list=True)
    )
    return [
        _camera_out(row, found[row["device"]], row["id"] in ptz) for row in rows if row["device"] in found
    ]


def _camera_out(row: dict[str, Any], device: dict[str, Any], ptz: bool = False) -> CameraOut:
    return CameraOut(
        id=row["id"],
        device_id=row["device"],
        code=device["code"],
        name=device["name"],
        online=bool(device["online"]),
        last_seen=device["last_seen"],
        stream_url=device["stream_url"],
        area=Area(row["area"]),
        gate_id=device["gate"],
        building_id=device["building"],
        unit_id=device["unit"],
        place=row["place"],
        recorder_id=row["recorder"],
        channel=row["channel"],
        ptz=ptz,
        video=VideoState(row["video_state"]),
        video_checked_at=row["video_checked_at"],
    )


async def _camera_values(community_id: int, data: CameraPlace, camera_id: int | None) -> dict[str, Any]:
    """The camera's columns, once its places and recorder are in the community and its channel free."""
    if not await registry.places_belong(community_id, data.building_id, data.unit_id, data.gate_id):
        raise Invalid("unknown_place", "Building, unit or gate not in this community")
    if data.recorder_id is not None:
        recorder = await Recorder.select(Recorder.community).where(Recorder.id == data.recorder_id).first()
        if recorder is None or recorder["community"] != community_id:
            raise Invalid("unknown_recorder", "No such recorder in this community", field="recorder_id")
    elif data.channel is not None:
        raise Invalid(
            "channel_without_recorder", "A channel is a recorder's: name the recorder", field="channel"
        )
    key = f"{data.recorder_id}:{data.channel}" if data.channel is not None else None
    if key and await Camera.exists().where((Camera.channel_key == key) & (Camera.id != (camera_id or 0))):
        raise Conflict(
            "channel_taken", f"Channel {data.channel} of this recorder has a camera", field="channel"
        )
    return {
        "area": data.area,
        "place": plain_text(data.place, "place"),
        "recorder": data.recorder_id,
        "channel": data.channel,
        "channel_key": key,
    }


async def add_camera(who: Principal, community_id: int, data: CameraIn, ip: str) -> CameraOut:
    """Register a camera device of the community as a camera of a required (or other) area."""
    authorize(who, Action.MANAGE_VIDEO, await registry.community_target(community_id))
    device = (await devices.devices_by_id([data.device_id])).get(data.device_id)
    if device is None or device["community"] != community_id:
        raise Invalid("unknown_device", f"No device {data.device_id} in this community", field="device_id")
    if device["kind"] != DeviceKind.CAMERA:
        raise Invalid("not_a_camera", f"Device {data.device_id} is not a camera", field="device_id")
    if await Camera.exists().where(Camera.device == data.device_id):
        raise Conflict("camera_registered", "This camera is registered already", field="device_id")
    values = await _camera_values(community_id, data, None)
    async with transaction(Camera._meta.db):
        inserted = (
            await Camera.insert(Camera(device=data.device_id, community=community_id, **values))
            .on_conflict(action="DO NOTHING")
            .returning(Camera.id)
        )
        if not inserted:  # a concurrent registration of the device or the channel won
            raise Conflict("camera_registered", "This camera or its channel is registered already")
        camera_id = inserted[0]["id"]
        await devices.place_at(data.device_id, data.gate_id, data.building_id, data.unit_id)
        await audit.record(who, "add_camera", f"camera:{camera_id}", community=community_id, ip=ip)
    return (await _cameras(Camera.id == camera_id))[0]


async def change_camera(who: Principal, camera_id: int, data: CameraPlace, ip: str) -> CameraOut:
    row = await Camera.select(Camera.community, Camera.device).where(Camera.id == camera_id).first()
    if row is None:
        raise NotFound("unknown_camera", f"No camera {camera_id}")
    authorize(who, Action.MANAGE_VIDEO, await registry.community_target(row["community"]))
    values = await _camera_values(row["community"], data, camera_id)
    async with transaction(Camera._meta.db):
        await Camera.update({getattr(Camera, name): value for name, value in values.items()}).where(
            Camera.id == camera_id
        )
        await devices.place_at(row["device"], data.gate_id, data.building_id, data.unit_id)
        await audit.record(who, "change_camera", f"camera:{camera_id}", community=row["community"], ip=ip)
    return (await _cameras(Camera.id == camera_id))[0]


# --- coverage ------------------------------------------------------------------------------------


async def coverage_view(who: Principal, community_id: int) -> CoverageOut:
    authorize(who, Action.VIEW_VIDEO, await registry.community_target(community_id))
    return await coverage(community_id)


async def coverage(community_id: int) -> CoverageOut:
    """Which required areas of the community have no camera, and which cameras are offline or not
    recorded for 30 days; for the coverage route and for compliance (the caller authorizes)."""
    found = await _cameras(Camera.community == community_id)
    gates, units = await registry.gates_and_units(community_id)
    zones = await alarms.zone_cameras(community_id)
    rows = await Recorder.select().where(Recorder.community == community_id)
    gap_list = gaps(found, gates, units, zones)
    flag_list = flags(found, {row["id"]: row for row in rows})
    return CoverageOut(
        community_id=community_id,
        complete=not gap_list and not flag_list,
        areas=[
            AreaCount(
                area=area,
                required=area in REQUIRED,
                cameras=sum(1 for c in found if c.area == area),
                online=sum(1 for c in found if c.area == area and c.online),
            )
            for area in Area
        ],
        gaps=gap_list,
        flags=flag_list,
        retention_days_min=RETENTION_DAYS_MIN,
    )


def gaps(
    cameras: list[CameraOut],
    gates: list[dict[str, Any]],
    units: list[dict[str, Any]],
    zones: list[tuple[str, list[int]]],
) -> list[Gap]:
    """Entrances per gate, unit entrances per unit, lifts per unit of a tall building, perimeter
    zones each with a camera (每个防区应不少于一个视频探头), the other required areas once."""
    where = {area: [c for c in cameras if c.area == area] for area in Area}
    found: list[Gap] = []
    watched_gates = {c.gate_id for c in where[Area.COMMUNITY_ENTRANCE]}
    found += [
        Gap(area=Area.COMMUNITY_ENTRANCE, place=g["name"], gate_id=g["id"])
        for g in gates
        if g["id"] not in watched_gates
    ]
    for area, wanted in (
        (Area.UNIT_ENTRANCE, units),
        (Area.LIFT, [u for u in units if u["floors"] >= LIFT_FLOORS]),
    ):
        watched = {c.unit_id for c in where[area]}
        found += [Gap(area=area, place=u["label"], unit_id=u["id"]) for u in wanted if u["id"] not in watched]
    found += [Gap(area=Area.PERIMETER, place=name) for name, linked in zones if not linked]
    by_place = {Area.COMMUNITY_ENTRANCE: gates, Area.UNIT_ENTRANCE: units, Area.PERIMETER: zones}
    found += [
        Gap(area=area, place="")
        for area in REQUIRED
        if area != Area.LIFT and not where[area] and not by_place.get(area)
    ]
    return found


def flags(cameras: Iterable[CameraOut], recorders: dict[int, dict[str, Any]]) -> list[CameraFlag]:
    """Cameras offline, and channels not recorded for the seed's 30 days."""
    found = []
    for camera in cameras:
        if not camera.online:
            found.append(CameraFlag(camera_id=camera.id, name=camera.name, reason="offline"))
        if camera.video == VideoState.LOST:
            found.append(CameraFlag(camera_id=camera.id, name=camera.name, reason="video_lost"))
        recorder = recorders.get(camera.recorder_id) if camera.recorder_id else None
        days = recorder["retention_days"] if recorder else None
        if recorder is None:
            reason = "no_recorder"
        elif days is None:
            reason = "retention_unreported"
        elif days < RETENTION_DAYS_MIN:
            reason = "retention_short"
        else:
            continue
        found.append(CameraFlag(camera_id=camera.id, name=camera.name, reason=reason, retention_days=days))
    return found


# --- inspection rounds (视频巡检) -------------------------------------------------------------------


async def set_schedule(who: Principal, community_id: int, rounds_per_day: int, ip: str) -> InspectionsOut:
    """How many rounds a day the community owes; misses count from the first schedule on."""
    authorize(who, Action.MANAGE_VIDEO, await registry.community_target(community_id))
    async with transaction(InspectionSchedule._meta.db):
        await InspectionSchedule.insert(
            InspectionSchedule(community=community_id, rounds_per_day=rounds_per_day)
        ).on_conflict(
            target=InspectionSchedule.community,
            action="DO UPDATE",
            values=[InspectionSchedule.rounds_per_day],
        )
        await audit.record(
            who,
            "set_inspection_schedule",
            f"community:{community_id}",
            community=community_id,
            ip=ip,
            detail={"rounds_per_day": rounds_per_day},
        )
    return await inspection_record(community_id, dt.datetime.now(dt.UTC))


async def inspections(who: Principal, community_id: int, now: dt.datetime) -> InspectionsOut:
    """The schedule, the windows it missed over the last week, and the recent rounds."""
    authorize(who, Action.VIEW_VIDEO, await registry.community_target(community_id))
    return await inspection_record(community_id, now)


async def inspection_record(community_id: int, now: dt.datetime) -> InspectionsOut:
    """For the inspections route and for compliance (the caller authorizes)."""
    schedule = await InspectionSchedule.select().where(InspectionSchedule.community == community_id).first()
    ids = await (
        InspectionRound.select(InspectionRound.id)
        .where(InspectionRound.community == community_id)
        .order_by(InspectionRound.id, ascending=False)
        .limit(RECENT_ROUNDS)
        .output(as_list=True)
    )
    missed: list[Window] = []
    if schedule is not None:
        since = max(schedule["since"], now - dt.timedelta(days=MISSED_LOOKBACK_DAYS))
        starts = await (
            InspectionRound.select(InspectionRound.started_at)
            .where((InspectionRound.community == community_id) & (InspectionRound.started_at >= since))
            .output(as_list=True)
        )
        missed = missed_windows(schedule["rounds_per_day"], since, now, starts)
    return InspectionsOut(
        rounds_per_day=schedule["rounds_per_day"] if schedule else None,
        missed=missed,
        rounds=[await _round_out(round_id) for round_id in ids],
    )


def missed_windows(
    per_day: int, since: dt.datetime, now: dt.datetime, starts: list[dt.datetime]
) -> list[Window]:
    """The day (from local midnight) cut into ``per_day`` windows: those wholly between ``since`` and
    ``now`` in which no round started."""
    step = dt.timedelta(days=1) / per_day
    midnight = dt.datetime.combine(since.astimezone(LOCAL).date(), dt.time(), LOCAL)
    found = []
    start = midnight
    while start + step <= now:
        end = start + step
        if start >= since and not any(start <= at < end for at in starts):
            found.append(Window(start=start, end=end))
        start = end
    return found


async def start_round(who: Principal, community_id: int, now: dt.datetime) -> RoundOut:
    authorize(who, Action.INSPECT_VIDEO, await registry.community_target(community_id))
    if await InspectionRound.exists().where(
        (InspectionRound.community == community_id)
        & (InspectionRound.operator == who.account_id)
        & (InspectionRound.status == RoundStatus.OPEN)
    ):
        raise Conflict("round_open", "End your open inspection round first")
    round_ = InspectionRound(community=community_id, operator=who.account_id, started_at=now)
    async with transaction(InspectionRound._meta.db):
        await round_.save()
        await audit.record(who, "start_inspection", f"inspection_round:{round_.id}", community=community_id)
    return await _round_out(round_.id)


async def _authorized_round(who: Principal, round_id: int, *actions: Action) -> dict[str, Any]:
    row = await InspectionRound.select().where(InspectionRound.id == round_id).first()
    if row is None:
        raise NotFound("unknown_round", f"No inspection round {round_id}")
    target = await registry.community_target(row["community"], owner_id=row["operator"])
    authorize_any(who, actions, target)
    return row


async def _open_round(who: Principal, round_id: int) -> dict[str, Any]:
    row = await _authorized_round(who, round_id, Action.RECORD_INSPECTION)
    if row["status"] != RoundStatus.OPEN:
        raise Conflict("round_ended", "This inspection round has ended; start a new one")
    return row


async def round_view(who: Principal, round_id: int) -> RoundOut:
    await _authorized_round(who, round_id, Action.RECORD_INSPECTION, Action.VIEW_VIDEO)
    return await _round_out(round_id)


async def record_check(who: Principal, round_id: int, data: CheckIn, now: dt.datetime) -> RoundOut:
    """One camera seen on the operator's open round: normal, or what is wrong with it."""
    row = await _open_round(who, round_id)
    camera = await Camera.select(Camera.community).where(Camera.id == data.camera_id).first()
    if camera is None or camera["community"] != row["community"]:
        raise Invalid("unknown_camera", f"No camera {data.camera_id} in this community", field="camera_id")
    check = InspectionCheck(
        round=round_id,
        camera=data.camera_id,
        verdict=data.verdict,
        note=plain_text(data.note, "note"),
        at=now,
        key=f"{round_id}:{data.camera_id}",
    )
    async with transaction(InspectionCheck._meta.db):
        inserted = await (
            InspectionCheck.insert(check).on_conflict(action="DO NOTHING").returning(InspectionCheck.id)
        )
        if not inserted:
            raise Conflict("already_checked", "This camera is already checked on this round")
        await audit.record(
            who,
            "record_inspection_check",
            f"inspection_check:{inserted[0]['id']}",
            community=row["community"],
            detail={"camera": data.camera_id, "verdict": data.verdict},
        )
    return await _round_out(round_id)


async def end_round(ctx: Context, who: Principal, round_id: int, now: dt.datetime) -> RoundOut:
    """End the round; its snapshots are owed to the police platform (视频监控系统)."""
    row = await _open_round(who, round_id)
    async with writing(InspectionRound._meta.db) as writer:
        await InspectionRound.update(
            {InspectionRound.status: RoundStatus.ENDED, InspectionRound.ended_at: now}
        ).where((InspectionRound.id == round_id) & (InspectionRound.status == RoundStatus.OPEN))
        await audit.record(who, "end_inspection", f"inspection_round:{round_id}", community=row["community"])
        await uplink.inspection_snapshots(writer, ctx.keys, round_id)
    return await _round_out(round_id)


async def _check(check_id: int) -> dict[str, Any]:
    row = await InspectionCheck.select(InspectionCheck.round).where(InspectionCheck.id == check_id).first()
    if row is None:
        raise NotFound("unknown_check", f"No inspection check {check_id}")
    return row


async def attach_snapshot(
    who: Principal, check_id: int, body: Callable[[], Awaitable[bytes]], content_type: str
) -> RoundOut:
    """The camera's picture as the operator saw it; ``body`` is read only once the caller may."""
    round_id = (await _check(check_id))["round"]
    await _open_round(who, round_id)
    await keep_photo(InspectionSnapshot, InspectionSnapshot.check, check_id, body, content_type)
    return await _round_out(round_id)


async def snapshot(who: Principal, check_id: int, ip: str) -> bytes:
    """A check's snapshot (JPEG); it may show people passing, so every read is audited."""
    round_id = (await _check(check_id))["round"]
    row = await _authorized_round(who, round_id, Action.VIEW_VIDEO)
    found = (
        await InspectionSnapshot.select(InspectionSnapshot.data)
        .where(InspectionSnapshot.check == check_id)
        .first()
    )
    if found is None:
        raise NotFound("no_snapshot", "This check has no snapshot")
    await audit.record_read(
        who, "read_inspection_snapshot", f"inspection_check:{check_id}", community=row["community"], ip=ip
    )
    return bytes(found["data"])


async def _round_out(round_id: int) -> RoundOut:
    row = (
        await InspectionRound.select(
            InspectionRound.all_columns(), InspectionRound.operator.name.as_alias("by")
        )
        .where(InspectionRound.id == round_id)
        .first()
    )
    checks = (
        await InspectionCheck.select().where(InspectionCheck.round == round_id).order_by(InspectionCheck.id)
    )
    with_snapshot = set(
        await InspectionSnapshot.select(InspectionSnapshot.check)
        .where(InspectionSnapshot.check.is_in([c["id"] for c in checks] or [0]))
        .output(as_list=True)
    )
    found = {c.id: c for c in await _cameras(Camera.community == row["community"])}
    return RoundOut(
        id=round_id,
        community_id=row["community"],
        operator=row["by"],
        operator_id=row["operator"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        status=RoundStatus(row["status"]),
        checks=[
            CheckOut(
                id=c["id"],
                camera_id=c["camera"],
                camera=found[c["camera"]].name if c["camera"] in found else "",
                verdict=c["verdict"],
                note=c["note"],
                at=c["at"],
                has_snapshot=c["id"] in with_snapshot,
            )
            for c in checks
        ],
        unchecked=sorted(set(found) - {c["camera"] for c in checks}),
    )
