"""The monitoring-room wall: live video of a camera (through live.py's ffmpeg), and camera groups
that the wall patrols page by page (分组轮巡)."""

from __future__ import annotations

import time
from typing import Any

from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.devices.tables import Device
from backend.errors import Conflict, Invalid, NotFound
from backend.registry import service as registry
from backend.text import plain_text
from backend.video.live import PLAYLIST, EngineUnavailable, media_type, servable
from backend.video.schemas import GroupIn, GroupOut, LiveOut
from backend.video.tables import Camera, CameraGroup, CameraGroupMember
from roles import Action, Principal, authorize, authorize_any

GROUPS_MAX = 100  # per community
# A wall fetches every camera's playlist and a segment each second: where a camera is (its community,
# district and stream address) is looked up once in this long, per process.
PLACE_SECONDS = 10.0
# Watching is audited once per viewer and camera in this long (a patrol returns to a camera every
# few pages; the player restarts a broken stream), per process.
AUDIT_SECONDS = 600.0


def playlist_url(camera_id: int) -> str:
    return f"/api/video/cameras/{camera_id}/live/{PLAYLIST}"


async def _watched(ctx: Context, who: Principal, camera_id: int) -> dict[str, Any]:
    """The camera (its community and stream address), once the caller may watch it."""
    now = time.monotonic()
    found = ctx.video.places.get(camera_id)
    if found is None or found[0] < now:
        row = await Camera.select(Camera.community, Camera.device).where(Camera.id == camera_id).first()
        if row is None:
            raise NotFound("unknown_camera", f"No camera {camera_id}")
        device = await Device.select(Device.stream_url).where(Device.id == row["device"]).first()
        place = {
            "community": row["community"],
            "target": await registry.community_target(row["community"]),
            "stream_url": device["stream_url"] if device else "",
        }
        found = ctx.video.places[camera_id] = (now + PLACE_SECONDS, place)
    place = found[1]
    authorize(who, Action.WATCH_VIDEO, place["target"])
    return place


def _first_look(ctx: Context, who: Principal, camera_id: int) -> bool:
    """Whether this viewer's watching of the camera is news to the audit trail."""
    now = time.monotonic()
    seen = ctx.video.audited
    if len(seen) > 10_000:
        for key in [k for k, at in seen.items() if at < now]:
            del seen[key]
    key = (who.account_id, camera_id)
    if seen.get(key, 0.0) >= now:
        return False
    seen[key] = now + AUDIT_SECONDS
    return True


def _source(row: dict[str, Any]) -> str:
    if not row["stream_url"]:
        raise Conflict("no_stream", "This camera has no stream address; set it on its device")
    return row["stream_url"]


async def start_live(ctx: Context, who: Principal, camera_id: int, ip: str) -> LiveOut:
    """Start (or keep) the camera's stream; answers once its playlist can be fetched. Audited: who
    watched which camera when (once in AUDIT_SECONDS)."""
    row = await _watched(ctx, who, camera_id)
    source = _source(row)
    if not ctx.video.available:
        raise EngineUnavailable()
    await ctx.video.watch(camera_id, source)
    if _first_look(ctx, who, camera_id):
        await audit.record_read(
            who, "watch_live_video", f"camera:{camera_id}", community=row["community"], ip=ip
        )
    return LiveOut(
        camera_id=camera_id,
        playlist=playlist_url(camera_id),
        keep_alive_seconds=ctx.settings.video_idle_seconds,
    )


async def live_file(ctx: Context, who: Principal, camera_id: int, name: str) -> tuple[bytes, str]:
    """A playlist or segment of the camera's stream; fetching it keeps the stream running (the
    playlist restarts a stream stopped meanwhile)."""
    row = await _watched(ctx, who, camera_id)
    if not servable(name):
        raise NotFound("unknown_file", "No such file of a live stream")
    if not ctx.video.available:
        raise EngineUnavailable()
    if name == PLAYLIST and row["stream_url"]:
        await ctx.video.ensure(camera_id, row["stream_url"])
    data = ctx.video.file(camera_id, name)
    if data is None:
        raise NotFound("not_streaming", "Not streaming (yet, or no longer): start the live view again")
    return data, media_type(name)


# --- camera groups (分组轮巡) -------------------------------------------------------------------


async def groups(who: Principal, community_id: int) -> list[GroupOut]:
    authorize_any(who, (Action.VIEW_VIDEO, Action.WATCH_VIDEO), await registry.community_target(community_id))
    rows = await CameraGroup.select().where(CameraGroup.community == community_id).order_by(CameraGroup.id)
    members = await _members([row["id"] for row in rows])
    return [_group_out(row, members.get(row["id"], [])) for row in rows]


async def _members(group_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    if not group_ids:
        return found
    rows = (
        await CameraGroupMember.select(CameraGroupMember.group, CameraGroupMember.camera)
        .where(CameraGroupMember.group.is_in(group_ids))
        .order_by(CameraGroupMember.group)
        .order_by(CameraGroupMember.position)
    )
    for row in rows:
        found.setdefault(row["group"], []).append(row["camera"])
    return found


def _group_out(row: dict[str, Any], camera_ids: list[int]) -> GroupOut:
    return GroupOut(
        id=row["id"],
        community_id=row["community"],
        name=row["name"],
        dwell_seconds=row["dwell_seconds"],
        camera_ids=camera_ids,
    )


async def _checked(community_id: int, data: GroupIn) -> tuple[str, list[int]]:
    name = plain_text(data.name, "name")
    if not name:
        raise Invalid("name", "Give the group a name", field="name")
    if len(set(data.camera_ids)) != len(data.camera_ids):
        raise Invalid("duplicate_camera", "Each camera once per group", field="camera_ids")
    if data.camera_ids:
        known = set(
            await Camera.select(Camera.id)
            .where((Camera.community == community_id) & Camera.id.is_in(data.camera_ids))
            .output(as_list=True)
        )
        if missing := [c for c in data.camera_ids if c not in known]:
            raise Invalid("unknown_camera", f"No camera {missing[0]} in this community", field="camera_ids")
    return name, list(data.camera_ids)


async def _save_members(group_id: int, camera_ids: list[int]) -> None:
    await CameraGroupMember.delete().where(CameraGroupMember.group == group_id)
    if camera_ids:
        await CameraGroupMember.insert(
            *(CameraGroupMember(group=group_id, camera=c, position=i) for i, c in enumerate(camera_ids))
        )


async def add_group(who: Principal, community_id: int, data: GroupIn, ip: str) -> GroupOut:
    authorize(who, Action.MANAGE_VIDEO, await registry.community_target(community_id))
    name, camera_ids = await _checked(community_id, data)
    if await CameraGroup.count().where(CameraGroup.community == community_id) >= GROUPS_MAX:
        raise Conflict("too_many_groups", f"A community has at most {GROUPS_MAX} camera groups")
    group = CameraGroup(community=community_id, name=name, dwell_seconds=data.dwell_seconds)
    async with transaction(CameraGroup._meta.db):
        await group.save()
        await _save_members(group.id, camera_ids)
        await audit.record(who, "add_camera_group", f"camera_group:{group.id}", community=community_id, ip=ip)
    return await _group(group.id)


async def _group(group_id: int) -> GroupOut:
    row = await CameraGroup.select().where(CameraGroup.id == group_id).first()
    if row is None:
        raise NotFound("unknown_group", f"No camera group {group_id}")
    return _group_out(row, (await _members([group_id])).get(group_id, []))


async def _managed(who: Principal, group_id: int) -> GroupOut:
    group = await _group(group_id)
    authorize(who, Action.MANAGE_VIDEO, await registry.community_target(group.community_id))
    return group


async def change_group(who: Principal, group_id: int, data: GroupIn, ip: str) -> GroupOut:
    group = await _managed(who, group_id)
    name, camera_ids = await _checked(group.community_id, data)
    async with transaction(CameraGroup._meta.db):
        await CameraGroup.update(
            {CameraGroup.name: name, CameraGroup.dwell_seconds: data.dwell_seconds}
        ).where(CameraGroup.id == group_id)
        await _save_members(group_id, camera_ids)
        await audit.record(
            who, "change_camera_group", f"camera_group:{group_id}", community=group.community_id, ip=ip
        )
    return await _group(group_id)


async def delete_group(who: Principal, group_id: int, ip: str) -> None:
    group = await _managed(who, group_id)
    async with transaction(CameraGroup._meta.db):
        await CameraGroupMember.delete().where(CameraGroupMember.group == group_id)
        await CameraGroup.delete().where(CameraGroup.id == group_id)
        await audit.record(
            who, "delete_camera_group", f"camera_group:{group_id}", community=group.community_id, ip=ip
        )
