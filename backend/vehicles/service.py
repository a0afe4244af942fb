"""Households' vehicles, the guard desk's held vehicles, reading passages, and the police watch list.

Property staff and wardens register any household's vehicles in their community, a verified
resident their own household's; one active registration per plate and community (a racing
duplicate is a 409 from the unique ``active_slot``). Staff reads of passages are audited with the
plates shown. The watch list is the police's alone (``manage_watch_list``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.devices.commands import CommandTarget
from backend.devices.tables import Device
from backend.errors import Conflict, Invalid, NotFound
from backend.registry import codes
from backend.registry import service as registry
from backend.text import plain_text
from backend.vehicles import plates
from backend.vehicles.ingest import slot
from backend.vehicles.schemas import PassageOut, VehicleIn, VehicleOut, WatchIn, WatchOut
from backend.vehicles.tables import Outcome, Vehicle, VehiclePassage, WatchedPlate
from roles import Action, Principal, Target, authorize, is_allowed

LIST_MAX = 200
# 机动车出入信息 (data_standard.json vehicle_access) → where a passage keeps it, for the uplink.
STANDARD_FIELDS = {
    "ID": "id",
    "SB_BH": "device (its code)",
    "SBMC": "device (its name)",
    "JDCCSYSDM": "color (the registered vehicle's)",
    "JDCHPZLDM": "hpzl",
    "JDCHPHM": "plate",
    "FX": "direction",
    "FXSJ": "at",
    "ZP": "picture (a reference; the image stays with the camera)",
    "CPYS": "plate_color",
    "DQJD": "device (its longitude)",
    "DQWD": "device (its latitude)",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the registry ---------------------------------------------------------------------------


def _authorize_household(who: Principal, target: Target) -> None:
    if not is_allowed(who, Action.MANAGE_VEHICLES, target):
        authorize(who, Action.MANAGE_OWN_VEHICLES, target)


def _checked(data: VehicleIn) -> tuple[str, str]:
    plate = plates.clean(data.plate)
    if data.hpzl not in codes.table("HPZL"):
        raise plates.InvalidPlate("invalid_hpzl", codes.table("HPZL").rejection(data.hpzl), field="hpzl")
    plates.check_kind(plate, data.hpzl)
    if data.color and data.color not in codes.table("CSYS"):
        raise Invalid("invalid_color", codes.table("CSYS").rejection(data.color), field="color")
    return plate, data.hpzl


def _vehicle_out(row: dict[str, Any]) -> VehicleOut:
    return VehicleOut(
        id=row["id"],
        house_id=row["house"],
        plate=row["plate"],
        hpzl=row["hpzl"],
        hpzl_name=codes.table("HPZL").codes.get(row["hpzl"], ""),
        color=row["color"],
        created_at=row["created_at"],
    )


async def register(who: Principal, house_id: int, data: VehicleIn, ip: str) -> VehicleOut:
    target = await registry.house_target(house_id)
    _authorize_household(who, target)
    plate, hpzl = _checked(data)
    community = target.community_id
    async with transaction(Vehicle._meta.db):
        inserted = (
            await Vehicle.insert(
                Vehicle(
                    community=community,
                    house=house_id,
                    plate=plate,
                    hpzl=hpzl,
                    color=data.color,
                    active_slot=slot(community, plate),
                    created_by=who.account_id,
                )
            )
            .on_conflict(action="DO NOTHING")
            .returning(*Vehicle.all_columns())
        )
        if not inserted:
            raise Conflict("plate_registered", f"{plate} is already registered in this community")
        await audit.record(
            who,
            "register_vehicle",
            f"vehicle:{inserted[0]['id']}",
            community=community,
            ip=ip,
            detail={"house": house_id, "plate": plate},
        )
    return _vehicle_out(inserted[0])


async def household(who: Principal, house_id: int, ip: str) -> list[VehicleOut]:
    target = await registry.house_target(house_id)
    _authorize_household(who, target)
    rows = (
        await Vehicle.select()
        .where((Vehicle.house == house_id) & Vehicle.revoked_at.is_null())
        .order_by(Vehicle.id)
    )
    if is_allowed(who, Action.MANAGE_VEHICLES, target):
        await audit.record_read(
            who, "read_vehicles", f"house:{house_id}", community=target.community_id, ip=ip
        )
    return [_vehicle_out(row) for row in rows]


async def revoke(who: Principal, vehicle_id: int, ip: str) -> None:
    row = await Vehicle.select().where(Vehicle.id == vehicle_id).first()
    if row is None:
        raise NotFound("unknown_vehicle", f"No vehicle {vehicle_id}")
    _authorize_household(who, await registry.house_target(row["house"]))
    async with transaction(Vehicle._meta.db):
        await Vehicle.update(
            {Vehicle.active_slot: None, Vehicle.revoked_at: _now(), Vehicle.revoked_by: who.account_id}
        ).where((Vehicle.id == vehicle_id) & Vehicle.revoked_at.is_null())
        await audit.record(who, "revoke_vehicle", f"vehicle:{vehicle_id}", community=row["community"], ip=ip)


# --- passages -------------------------------------------------------------------------------


def _passage_out(row: dict[str, Any]) -> PassageOut:
    return PassageOut(
        id=row["id"],
        device_id=row["device"],
        device_name=row["device_name"],
        plate=row["plate"],
        hpzl=row["hpzl"],
        color=row["color"],
        plate_color=row["plate_color"],
        direction=row["direction"],
        at=row["at"],
        picture=row["picture"],
        reason=row["reason"],
        outcome=row["outcome"],
        opened=row["opened"],
        house_id=row["house"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
    )


async def _passages(where: Any, limit: int = LIST_MAX) -> list[PassageOut]:
    rows = (
        await VehiclePassage.select(
            VehiclePassage.all_columns(exclude=[VehiclePassage.key, VehiclePassage.watched]),
            VehiclePassage.device.name.as_alias("device_name"),
        )
        .where(where)
        .order_by(VehiclePassage.id, ascending=False)
        .limit(limit)
    )
    return [_passage_out(row) for row in rows]


async def community_passages(
    who: Principal,
    community_id: int,
    ip: str,
    *,
    plate: str | None = None,
    outcome: Outcome | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    action: Action = Action.VIEW_VEHICLE_PASSAGES,
) -> list[PassageOut]:
    """The community's passages, newest first, filtered; audited with the plates shown."""
    authorize(who, action, await registry.community_target(community_id))
    where = VehiclePassage.community == community_id
    if plate:
        where &= VehiclePassage.plate == plates.normalised(plate)
    if outcome is not None:
        where &= VehiclePassage.outcome == outcome
    for moment, condition in ((since, VehiclePassage.at.__ge__), (until, VehiclePassage.at.__lt__)):
        if moment is not None:
            if moment.tzinfo is None:
                raise Invalid("naive_time", "Give times with their offset, e.g. 2026-01-01T08:00:00+08:00")
            where &= condition(moment)
    shown = await _passages(where)
    await audit.record_read(
        who,
        "read_vehicle_passages",
        f"community:{community_id}",
        community=community_id,
        ip=ip,
        detail={"plates": sorted({p.plate for p in shown})},
    )
    return shown


async def household_passages(who: Principal, house_id: int) -> list[PassageOut]:
    """A household's own vehicles' passages (its residents)."""
    authorize(who, Action.VIEW_OWN_VEHICLE_PASSAGES, await registry.house_target(house_id))
    return await _passages(VehiclePassage.house == house_id)


async def held(who: Principal, community_id: int, ip: str) -> list[PassageOut]:
    """Vehicles waiting at the community's barriers for the guard, oldest first."""
    held = await community_passages(who, community_id, ip, outcome=Outcome.HELD, action=Action.ADMIT_VEHICLE)
    return list(reversed(held))


async def _passage(passage_id: int) -> dict[str, Any]:
    row = await VehiclePassage.select().where(VehiclePassage.id == passage_id).first()
    if row is None:
        raise NotFound("unknown_passage", f"No vehicle passage {passage_id}")
    return row


async def _decide(who: Principal, passage_id: int, to: Outcome, ip: str, command: str = "") -> dict[str, Any]:
    """Move a held passage to ``to`` (once: two guards race on a conditional update)."""
    row = await _passage(passage_id)
    authorize(who, Action.ADMIT_VEHICLE, await registry.community_target(row["community"]))
    async with transaction(VehiclePassage._meta.db):
        updated = (
            await VehiclePassage.update(
                {
                    VehiclePassage.outcome: to,
                    VehiclePassage.decided_by: who.account_id,
                    VehiclePassage.decided_at: _now(),
                    VehiclePassage.command: command,
                }
            )
            .where((VehiclePassage.id == passage_id) & (VehiclePassage.outcome == Outcome.HELD))
            .returning(VehiclePassage.id)
        )
        if not updated:
            raise Conflict("already_decided", f"This vehicle was already {row['outcome']}")
        await audit.record(
            who, f"vehicle_{to}", f"vehicle_passage:{passage_id}", community=row["community"], ip=ip
        )
    return await _passage(passage_id)


async def let_in(ctx: Context, who: Principal, passage_id: int, ip: str) -> PassageOut:
    """The guard opens the barrier for a held vehicle: recorded with who, then ``open`` is sent."""
    command = f"letin-{passage_id}"
    row = await _passage(passage_id)
    if not (row["outcome"] == Outcome.LET_IN and row["opened"] is not True):
        row = await _decide(who, passage_id, Outcome.LET_IN, ip, command)
    else:  # a retry after the barrier did not answer: the same command, which it executes once
        authorize(who, Action.ADMIT_VEHICLE, await registry.community_target(row["community"]))
    device = (
        await Device.select(
            Device.code, Device.secret_sealed, Device.community.code.as_alias("community_code")
        )
        .where(Device.id == row["device"])
        .first()
    )
    target = CommandTarget(
        community=device["community_code"],
        device=device["code"],
        secret=ctx.keys.unseal(device["secret_sealed"]).encode(),
    )
    ack = await ctx.commands.open(target, command)
    await VehiclePassage.update({VehiclePassage.opened: ack.ok}).where(VehiclePassage.id == passage_id)
    return (await _passages(VehiclePassage.id == passage_id, 1))[0]


async def refuse(who: Principal, passage_id: int, ip: str) -> PassageOut:
    await _decide(who, passage_id, Outcome.REFUSED, ip)
    return (await _passages(VehiclePassage.id == passage_id, 1))[0]


# --- the watch list (police only) -----------------------------------------------------------


def _watch_out(row: dict[str, Any]) -> WatchOut:
    return WatchOut(id=row["id"], plate=row["plate"], note=row["note"], created_at=row["created_at"])


async def watch_list(who: Principal, community_id: int, ip: str) -> list[WatchOut]:
    authorize(who, Action.MANAGE_WATCH_LIST, await registry.community_target(community_id))
    rows = (
        await WatchedPlate.select()
        .where((WatchedPlate.community == community_id) & WatchedPlate.removed_at.is_null())
        .order_by(WatchedPlate.id)
    )
    await audit.record_read(
        who, "read_watch_list", f"community:{community_id}", community=community_id, ip=ip
    )
    return [_watch_out(row) for row in rows]


async def watch(who: Principal, community_id: int, data: WatchIn, ip: str) -> WatchOut:
    authorize(who, Action.MANAGE_WATCH_LIST, await registry.community_target(community_id))
    plate, note = plates.clean(data.plate), plain_text(data.note, "note")
    async with transaction(WatchedPlate._meta.db):
        inserted = (
            await WatchedPlate.insert(
                WatchedPlate(
                    community=community_id,
                    plate=plate,
                    note=note,
                    active_slot=slot(community_id, plate),
                    created_by=who.account_id,
                )
            )
            .on_conflict(action="DO NOTHING")
            .returning(*WatchedPlate.all_columns())
        )
        if not inserted:
            raise Conflict("already_watched", f"{plate} is already on this community's watch list")
        await audit.record(
            who, "watch_plate", f"watched_plate:{inserted[0]['id']}", community=community_id, ip=ip
        )
    return _watch_out(inserted[0])


async def unwatch(who: Principal, entry_id: int, ip: str) -> None:
    row = await WatchedPlate.select().where(WatchedPlate.id == entry_id).first()
    if row is None:
        raise NotFound("unknown_watch", f"No watch-list entry {entry_id}")
    authorize(who, Action.MANAGE_WATCH_LIST, await registry.community_target(row["community"]))
    async with transaction(WatchedPlate._meta.db):
        await WatchedPlate.update(
            {
                WatchedPlate.active_slot: None,
                WatchedPlate.removed_at: _now(),
                WatchedPlate.removed_by: who.account_id,
            }
        ).where((WatchedPlate.id == entry_id) & WatchedPlate.removed_at.is_null())
        await audit.record(
            who, "unwatch_plate", f"watched_plate:{entry_id}", community=row["community"], ip=ip
        )
