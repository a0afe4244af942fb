"""The police face watch list (布控人员), its sightings, and the gates' records.

Only the community police set, read and remove watch entries, and see a sighting's capture; every
read is audited. A watched face never opens a gate and never shows up to anyone else: its alarm is
police-only (alarms/kinds.py), and the community's gate records show whether a face passed, never
whether it was watched, except to police.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from backend.alarms.tables import Alarm
from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.errors import Invalid, NotFound
from backend.faces.schemas import FacePassageOut, WatchOut
from backend.faces.sealed import seal, unseal
from backend.faces.service import bump_gallery, read_face
from backend.faces.tables import FacePassage, FaceWatch
from backend.registry import service as registry
from backend.text import plain_text
from roles import Action, Principal, Role, authorize

PASSAGES_SHOWN = 200


async def watch(
    ctx: Context,
    who: Principal,
    community_id: int,
    name: str,
    note: str,
    body: Callable[[], Awaitable[bytes]],
    content_type: str,
    ip: str,
) -> WatchOut:
    """``body`` (the reference photo) is read only once the caller may watch in this community."""
    authorize(who, Action.MANAGE_WATCH_LIST, await registry.community_target(community_id))
    name, note = plain_text(name, "name"), plain_text(note, "note")
    if not name:
        raise Invalid("name_required", "Name the person watched", field="name")
    embedding, crop, pack = await read_face(ctx, await body(), content_type)
    row = FaceWatch(
        community=community_id,
        name=name,
        note=note,
        pack=pack,
        embedding_sealed=seal(ctx.keys, embedding.tobytes()),
        photo_sealed=seal(ctx.keys, crop),
        created_by=who.account_id,
    )
    async with transaction(FaceWatch._meta.db):
        await row.save()
        await bump_gallery(community_id)
        await audit.record(
            who, "watch_face", f"face_watch:{row.id}", community=community_id, ip=ip, detail={"name": name}
        )
    return _watch_out(row.to_dict())


async def watch_list(who: Principal, community_id: int, ip: str) -> list[WatchOut]:
    authorize(who, Action.MANAGE_WATCH_LIST, await registry.community_target(community_id))
    rows = await _watch_select().where(FaceWatch.community == community_id).order_by(FaceWatch.id)
    await audit.record_read(
        who, "read_face_watch", f"community:{community_id}", community=community_id, ip=ip
    )
    return [_watch_out(row) for row in rows]


async def unwatch(who: Principal, watch_id: int, ip: str) -> None:
    row = await _watched(who, watch_id)
    async with transaction(FaceWatch._meta.db):
        await FaceWatch.delete().where(FaceWatch.id == watch_id)
        await bump_gallery(row["community"])
        await audit.record(who, "unwatch_face", f"face_watch:{watch_id}", community=row["community"], ip=ip)


async def watch_photo(ctx: Context, who: Principal, watch_id: int, ip: str) -> bytes:
    row = await _watched(who, watch_id, FaceWatch.photo_sealed)
    await audit.record_read(
        who, "read_face_watch_photo", f"face_watch:{watch_id}", community=row["community"], ip=ip
    )
    return unseal(ctx.keys, row["photo_sealed"])


async def sighting_capture(ctx: Context, who: Principal, alarm_id: int, ip: str) -> bytes:
    """The capture a watch-list sighting raised ``alarm_id`` with, while it is kept."""
    alarm = await Alarm.select(Alarm.community).where(Alarm.id == alarm_id).first()
    if alarm is None:
        raise NotFound("unknown_alarm", f"No alarm {alarm_id}")
    authorize(who, Action.MANAGE_WATCH_LIST, await registry.community_target(alarm["community"]))
    row = (
        await FacePassage.select(FacePassage.id, FacePassage.capture_sealed)
        .where(FacePassage.alarm == alarm_id)
        .first()
    )
    if row is None or not row["capture_sealed"]:
        raise NotFound("no_capture", "This alarm has no capture, or it was erased after its time")
    await audit.record_read(
        who, "read_sighting_capture", f"face_passage:{row['id']}", community=alarm["community"], ip=ip
    )
    return unseal(ctx.keys, row["capture_sealed"])


async def passages(who: Principal, community_id: int, ip: str) -> list[FacePassageOut]:
    """The community's latest face gate decisions; whether a face was watched, to police only."""
    authorize(who, Action.VIEW_ACCESS_RECORDS, await registry.community_target(community_id))
    rows = (
        await FacePassage.select(
            FacePassage.id,
            FacePassage.device,
            FacePassage.device.name.as_alias("device_name"),
            FacePassage.door,
            FacePassage.direction,
            FacePassage.at,
            FacePassage.person,
            FacePassage.person.name.as_alias("name"),
            FacePassage.house,
            FacePassage.score,
            FacePassage.reason,
            FacePassage.passed,
            FacePassage.opened,
            FacePassage.watch,
        )
        .where(FacePassage.community == community_id)
        .order_by(FacePassage.at, ascending=False)
        .limit(PASSAGES_SHOWN)
    )
    await audit.record_read(
        who, "read_face_passages", f"community:{community_id}", community=community_id, ip=ip
    )
    police = who.role is Role.POLICE
    return [_passage_out(row, police) for row in rows]


async def _watched(who: Principal, watch_id: int, *extra) -> dict:
    row = await FaceWatch.select(FaceWatch.community, *extra).where(FaceWatch.id == watch_id).first()
    if row is None:
        raise NotFound("unknown_watch", f"No watch entry {watch_id}")
    authorize(who, Action.MANAGE_WATCH_LIST, await registry.community_target(row["community"]))
    return row


def _watch_select():
    return FaceWatch.select(
        FaceWatch.id, FaceWatch.community, FaceWatch.name, FaceWatch.note, FaceWatch.created_at
    )


def _watch_out(row: dict) -> WatchOut:
    return WatchOut(
        id=row["id"],
        community_id=row["community"],
        name=row["name"],
        note=row["note"],
        created_at=row["created_at"],
    )


def _passage_out(row: dict, police: bool) -> FacePassageOut:
    return FacePassageOut(
        id=row["id"],
        device_id=row["device"],
        device_name=row["device_name"],
        door_id=row["door"],
        direction=row["direction"],
        at=row["at"],
        person_id=row["person"],
        name=row["name"] or "",
        house_id=row["house"],
        score=None if row["score"] is None else round(row["score"], 3),
        reason=row["reason"],
        passed=row["passed"],
        opened=row["opened"],
        watched=bool(row["watch"]) if police else None,
    )
