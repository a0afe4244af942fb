"""Patrols (电子巡查): routes, tags, shifts, a guard's runs and what is flagged when a run ends."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction, writing
from backend.doorplates import service as doorplates
from backend.errors import Conflict, Invalid, NotFound
from backend.patrol import rules
from backend.patrol.schemas import (
    CheckpointOut,
    FlagOut,
    PatrolSeen,
    RouteIn,
    RouteOut,
    RunOut,
    ScanIn,
    ScanOut,
    ShiftIn,
    ShiftOut,
    TagOut,
)
from backend.patrol.tables import (
    Checkpoint,
    CheckpointTag,
    PatrolFlag,
    PatrolRoute,
    PatrolRun,
    PatrolScan,
    PatrolShift,
    RunStatus,
)
from backend.process import in_background
from backend.registry import service as registry
from backend.text import plain_text
from backend.uplink import operations as uplink
from qr.sheets import Plate, sheet_svg
from qr.tokens import is_well_formed, new_plate_token
from roles import Action, Principal, Target, authorize, authorize_any

log = logging.getLogger("anju")
RECENT_AT_PLACE = 5  # patrols listed in a building's scan view
RECENT_RUNS = 50


def tag_url(ctx: Context, token: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/p/{token}"


# --- routes, tags, shifts -------------------------------------------------------


async def routes(who: Principal, community_id: int) -> list[RouteOut]:
    authorize(who, Action.VIEW_PATROLS, await registry.community_target(community_id))
    found = await PatrolRoute.select().where(PatrolRoute.community == community_id).order_by(PatrolRoute.id)
    return [await _route_out(row["id"], row["name"]) for row in found]


async def _route_out(route_id: int, name: str) -> RouteOut:
    checkpoints = await Checkpoint.select().where(Checkpoint.route == route_id).order_by(Checkpoint.position)
    tags = {
        row["checkpoint"]: row["token"]
        for row in await CheckpointTag.select(CheckpointTag.checkpoint, CheckpointTag.token).where(
            CheckpointTag.checkpoint.is_in([c["id"] for c in checkpoints] or [0])
            & CheckpointTag.revoked_at.is_null()
        )
    }
    shifts = await PatrolShift.select().where(PatrolShift.route == route_id).order_by(PatrolShift.id)
    return RouteOut(
        id=route_id,
        name=name,
        checkpoints=[
            CheckpointOut(
                id=c["id"],
                name=c["name"],
                position=c["position"],
                minute=c["minute"],
                place=c["place"],
                nfc_tag=c["nfc_tag"],
                tag=tags.get(c["id"]),
            )
            for c in checkpoints
        ],
        shifts=[_shift_out(s) for s in shifts],
    )


def _shift_out(row: dict[str, Any]) -> ShiftOut:
    return ShiftOut(
        id=row["id"],
        name=row["name"],
        starts=rules.clock(row["starts"]),
        ends=rules.clock(row["ends"]),
        every_minutes=row["every"],
        tolerance_minutes=row["tolerance"],
    )


async def create_route(who: Principal, community_id: int, data: RouteIn, ip: str) -> RouteOut:
    authorize(who, Action.MANAGE_PATROLS, await registry.community_target(community_id))
    name = plain_text(data.name, "name")
    for each in data.checkpoints:
        if not await registry.places_belong(community_id, each.building_id, each.unit_id, each.gate_id):
            raise Invalid("unknown_place", f"{each.name}: building, unit or gate not in this community")
    async with transaction(PatrolRoute._meta.db):
        route = PatrolRoute(community=community_id, name=name)
        await route.save()
        for position, each in enumerate(data.checkpoints, start=1):
            checkpoint = Checkpoint(
                route=route.id,
                community=community_id,
                name=plain_text(each.name, "name"),
                position=position,
                minute=each.minute,
                building=each.building_id,
                unit=each.unit_id,
                gate=each.gate_id,
                place=plain_text(each.place, "place"),
                nfc_tag=each.nfc_tag.upper(),
            )
            await checkpoint.save()
            await CheckpointTag(checkpoint=checkpoint.id, token=new_plate_token()).save()
        await audit.record(
            who, "create_patrol_route", f"patrol_route:{route.id}", community=community_id, ip=ip
        )
    return await _route_out(route.id, name)


async def _route_target(route_id: int) -> tuple[dict[str, Any], Target]:
    route = await PatrolRoute.select().where(PatrolRoute.id == route_id).first()
    if route is None:
        raise NotFound("unknown_route", f"No patrol route {route_id}")
    return route, await registry.community_target(route["community"])


async def add_shift(who: Principal, route_id: int, data: ShiftIn, ip: str) -> ShiftOut:
    route, target = await _route_target(route_id)
    authorize(who, Action.MANAGE_PATROLS, target)
    starts, ends = rules.minutes_of(data.starts), rules.minutes_of(data.ends)
    if starts is None or ends is None:
        raise Invalid("invalid_time", "Shift times are HH:MM, from 00:00 to 23:59", field="starts")
    shift = PatrolShift(
        route=route_id,
        community=route["community"],
        name=plain_text(data.name, "name"),
        starts=starts,
        ends=ends,
        every=data.every_minutes,
        tolerance=data.tolerance_minutes,
    )
    async with transaction(PatrolShift._meta.db):
        await shift.save()
        await audit.record(
            who, "add_patrol_shift", f"patrol_route:{route_id}", community=route["community"], ip=ip
        )
    return _shift_out(shift.to_dict())


async def tag_sheet(ctx: Context, who: Principal, route_id: int, page: int) -> tuple[str, int]:
    """Page ``page`` (from 1) of the route's live tags as printable A4 SVG, and the number of pages."""
    route, target = await _route_target(route_id)
    authorize(who, Action.MANAGE_PATROLS, target)
    out = await _route_out(route_id, route["name"])
    plates = [
        Plate(url=tag_url(ctx, c.tag), label=f"{c.position}. {c.name}", kind="checkpoint")
        for c in out.checkpoints
        if c.tag
    ]
    if not plates:
        raise Invalid("no_tags", "This route has no live checkpoint tags")
    pages = sheet_svg(plates, f"{route['name']} 巡查点")
    if page > len(pages):
        raise NotFound("no_such_page", f"The tag sheet has {len(pages)} page(s)")
    return pages[page - 1], len(pages)


async def replace_tag(ctx: Context, who: Principal, checkpoint_id: int, ip: str) -> TagOut:
    """Withdraw a checkpoint's tag (lost, copied) and issue its successor."""
    checkpoint = await Checkpoint.select(Checkpoint.community).where(Checkpoint.id == checkpoint_id).first()
    if checkpoint is None:
        raise NotFound("unknown_checkpoint", f"No checkpoint {checkpoint_id}")
    community = checkpoint["community"]
    authorize(who, Action.MANAGE_PATROLS, await registry.community_target(community))
    token = new_plate_token()
    async with transaction(CheckpointTag._meta.db):
        await CheckpointTag.update({CheckpointTag.revoked_at: dt.datetime.now(dt.UTC)}).where(
            (CheckpointTag.checkpoint == checkpoint_id) & CheckpointTag.revoked_at.is_null()
        )
        await CheckpointTag(checkpoint=checkpoint_id, token=token).save()
        await audit.record(
            who, "replace_patrol_tag", f"checkpoint:{checkpoint_id}", community=community, ip=ip
        )
    return TagOut(checkpoint_id=checkpoint_id, token=token, url=tag_url(ctx, token))


# --- runs ---------------------------------------------------------------------------


def _shift_rules(row: dict[str, Any]) -> rules.Shift:
    return rules.Shift(starts=row["starts"], ends=row["ends"], every=row["every"], tolerance=row["tolerance"])


async def start_run(who: Principal, shift_id: int, now: dt.datetime) -> RunOut:
    shift = await PatrolShift.select().where(PatrolShift.id == shift_id).first()
    if shift is None:
        raise NotFound("unknown_shift", f"No patrol shift {shift_id}")
    authorize(who, Action.PATROL, await registry.community_target(shift["community"]))
    round_ = rules.round_at(_shift_rules(shift), now)
    if round_ is None:
        window = f"{rules.clock(shift['starts'])}–{rules.clock(shift['ends'])}"
        raise Conflict("outside_shift", f"No round of this shift is on now (its window is {window})")
    run = PatrolRun(
        community=shift["community"],
        route=shift["route"],
        shift=shift_id,
        guard=who.account_id,
        round_start=round_.start,
        round_end=round_.end,
        started_at=now,
    )
    await run.save()
    return await _run_out(run.id)


async def _authorized_run(who: Principal, run_id: int, *actions: Action) -> dict[str, Any]:
    run = await PatrolRun.select().where(PatrolRun.id == run_id).first()
    if run is None:
        raise NotFound("unknown_run", f"No patrol run {run_id}")
    target = await registry.community_target(run["community"], owner_id=run["guard"])
    authorize_any(who, actions, target)
    return run


async def record_scan(ctx: Context, who: Principal, run_id: int, data: ScanIn, now: dt.datetime) -> RunOut:
    """A checkpoint's tag scanned on the guard's own open run; owed to the police platform."""
    run = await _authorized_run(who, run_id, Action.RECORD_PATROL)
    if run["status"] != RunStatus.OPEN:
        raise Conflict("run_closed", "This run has ended; start a new one")
    checkpoint = await (
        _by_nfc(run["route"], data.nfc_tag) if data.nfc_tag else _by_tag(run["route"], data.token)
    )
    scan = PatrolScan(
        run=run_id,
        checkpoint=checkpoint,
        guard=who.account_id,
        at=now,
        latitude=data.latitude,
        longitude=data.longitude,
        by_nfc=bool(data.nfc_tag),
        key=f"{run_id}:{checkpoint}",
    )
    async with writing(PatrolScan._meta.db) as writer:
        inserted = await PatrolScan.insert(scan).on_conflict(action="DO NOTHING").returning(PatrolScan.id)
        if not inserted:
            raise Conflict("already_scanned", "This checkpoint is already recorded on this run")
        await uplink.patrol_scan(writer, ctx.keys, inserted[0]["id"])
    return await _run_out(run_id)


async def _by_tag(route_id: int, token: str) -> int:
    """The checkpoint of a live QR tag, which must be on the run's route."""
    tag = (
        await CheckpointTag.select(CheckpointTag.checkpoint, CheckpointTag.checkpoint.route.as_alias("route"))
        .where((CheckpointTag.token == token) & CheckpointTag.revoked_at.is_null())
        .first()
        if is_well_formed(token)
        else None
    )
    if tag is None:
        raise NotFound("unknown_tag", "This patrol tag is unknown or has been withdrawn")
    if tag["route"] != route_id:
        raise Invalid("not_on_route", "This checkpoint is not on the route of your run")
    return tag["checkpoint"]


async def _by_nfc(route_id: int, nfc_tag: str) -> int:
    """The route's checkpoint with this NFC tag id (a chip's serial number: it proves presence only as
    far as the chip cannot be cloned, which the QR tag's secret token does not depend on)."""
    row = await (
        Checkpoint.select(Checkpoint.id)
        .where((Checkpoint.route == route_id) & (Checkpoint.nfc_tag == nfc_tag.upper()))
        .first()
    )
    if row is None:
        raise Invalid("not_on_route", "No checkpoint of your run's route carries this NFC tag")
    return row["id"]


async def end_run(who: Principal, run_id: int) -> RunOut:
    await _authorized_run(who, run_id, Action.RECORD_PATROL)
    await close_run(run_id)
    return await _run_out(run_id)


async def run_view(who: Principal, run_id: int) -> RunOut:
    await _authorized_run(who, run_id, Action.RECORD_PATROL, Action.VIEW_PATROLS)
    return await _run_out(run_id)


async def runs(who: Principal, community_id: int) -> list[RunOut]:
    """The community's recent runs with what they were flagged for; rounds over are closed first."""
    authorize(who, Action.VIEW_PATROLS, await registry.community_target(community_id))
    await close_due_runs(dt.datetime.now(dt.UTC))
    ids = await (
        PatrolRun.select(PatrolRun.id)
        .where(PatrolRun.community == community_id)
        .order_by(PatrolRun.id, ascending=False)
        .limit(RECENT_RUNS)
        .output(as_list=True)
    )
    return [await _run_out(run_id) for run_id in ids]


async def _run_out(run_id: int) -> RunOut:
    run = (
        await PatrolRun.select(
            PatrolRun.all_columns(),
            PatrolRun.route.name.as_alias("route_name"),
            PatrolRun.shift.name.as_alias("shift_name"),
            PatrolRun.guard.name.as_alias("guard_name"),
        )
        .where(PatrolRun.id == run_id)
        .first()
    )
    scans = (
        await PatrolScan.select(
            PatrolScan.all_columns(),
            PatrolScan.checkpoint.name.as_alias("name"),
            PatrolScan.checkpoint.position.as_alias("position"),
        )
        .where(PatrolScan.run == run_id)
        .order_by(PatrolScan.at)
    )
    flags = (
        await PatrolFlag.select(PatrolFlag.all_columns(), PatrolFlag.checkpoint.name.as_alias("name"))
        .where(PatrolFlag.run == run_id)
        .order_by(PatrolFlag.id)
    )
    return RunOut(
        id=run_id,
        route=run["route_name"],
        shift=run["shift_name"],
        guard=run["guard_name"],
        round_start=run["round_start"],
        round_end=run["round_end"],
        status=RunStatus(run["status"]),
        checkpoints=await Checkpoint.count().where(Checkpoint.route == run["route"]),
        scans=[
            ScanOut(
                checkpoint_id=s["checkpoint"],
                checkpoint=s["name"],
                position=s["position"],
                at=s["at"],
                latitude=s["latitude"],
                longitude=s["longitude"],
            )
            for s in scans
        ],
        flags=[
            FlagOut(checkpoint_id=f["checkpoint"], checkpoint=f["name"], kind=f["kind"], detail=f["detail"])
            for f in flags
        ],
    )


# --- closing and flagging ---------------------------------------------------------------


async def close_run(run_id: int) -> bool:
    """End an open run and store its flags, once: False when another caller (or process) got there first.

    The conditional update claims the run inside the transaction: on PostgreSQL a concurrent
    claim waits for this one to commit and then finds the run closed; SQLite serialises writers.
    """
    now = dt.datetime.now(dt.UTC)
    async with transaction(PatrolRun._meta.db):
        claimed = await (
            PatrolRun.update({PatrolRun.status: RunStatus.CLOSED, PatrolRun.ended_at: now})
            .where((PatrolRun.id == run_id) & (PatrolRun.status == RunStatus.OPEN))
            .returning(PatrolRun.route, PatrolRun.round_start, PatrolRun.round_end, PatrolRun.shift)
        )
        if not claimed:
            return False
        run = claimed[0]
        found = await _flags(run_id, run)
        if found:
            await PatrolFlag.insert(
                *(
                    PatrolFlag(run=run_id, checkpoint=f.checkpoint, kind=f.kind, detail=f.detail)
                    for f in found
                )
            )
    return True


async def _flags(run_id: int, run: dict[str, Any]) -> list[rules.Flag]:
    stops = [
        rules.Stop(checkpoint=c["id"], position=c["position"], minute=c["minute"])
        for c in await Checkpoint.select(Checkpoint.id, Checkpoint.position, Checkpoint.minute).where(
            Checkpoint.route == run["route"]
        )
    ]
    scans = [
        (s["checkpoint"], s["at"])
        for s in await PatrolScan.select(PatrolScan.checkpoint, PatrolScan.at).where(PatrolScan.run == run_id)
    ]
    tolerance = (
        await PatrolShift.select(PatrolShift.tolerance).where(PatrolShift.id == run["shift"]).first()
    )["tolerance"]
    return rules.flags(stops, scans, rules.Round(run["round_start"], run["round_end"]), tolerance)


async def close_due_runs(now: dt.datetime) -> int:
    """Close every open run whose round is over; safe to run in several processes at once."""
    due = await (
        PatrolRun.select(PatrolRun.id)
        .where((PatrolRun.status == RunStatus.OPEN) & (PatrolRun.round_end <= now))
        .output(as_list=True)
    )
    return sum([await close_run(run_id) for run_id in due])


@contextlib.asynccontextmanager
async def sweeper(ctx: Context) -> AsyncIterator[None]:
    """Close runs whose round is over even when nobody looks at them (ANJU_PATROL_SWEEP_SECONDS)."""
    seconds = ctx.settings.patrol_sweep_seconds
    if seconds <= 0:
        yield
        return
    async with in_background(_sweep_every(seconds), "patrol-sweeper"):
        yield


async def _sweep_every(seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await close_due_runs(dt.datetime.now(dt.UTC))
        except Exception:  # a passing database error must not end the schedule
            log.exception("closing finished patrol runs failed; retrying in %s s", seconds)


# --- the scan view ------------------------------------------------------------------------


async def seen_at_plate(ctx: Context, who: Principal, token: str, ip: str) -> list[PatrolSeen]:
    """The latest patrols where a doorplate hangs (the seed's 二维码门牌 rule: 巡查记录), for
    supervisors; asked for beside the scan, which stays one statement."""
    plate = await doorplates.resolve(ctx, token, ip)
    authorize(
        who, Action.VIEW_PATROLS, Target(community_id=plate["community_id"], district_id=plate["district_id"])
    )
    return await recent_at(plate["address_id"])


async def recent_at(address_id: int) -> list[PatrolSeen]:
    """The latest checkpoint scans in the building (or at the gate) of a standard address."""
    building, gate = await registry.building_of(address_id)
    if building is None and gate is None:
        return []
    where = (PatrolScan.checkpoint.building == building) if building else (PatrolScan.checkpoint.gate == gate)
    rows = await (
        PatrolScan.select(
            PatrolScan.at,
            PatrolScan.checkpoint.name.as_alias("checkpoint"),
            PatrolScan.guard.name.as_alias("guard"),
        )
        .where(where)
        .order_by(PatrolScan.at, ascending=False)
        .limit(RECENT_AT_PLACE)
    )
    return [PatrolSeen(**row) for row in rows]


async def record_counts(community_id: int) -> tuple[int, int]:
    """The community's patrol checkpoints and recorded runs (for compliance; the caller authorizes)."""
    checkpoints = await Checkpoint.count().where(Checkpoint.community == community_id)
    runs = await PatrolRun.count().where(PatrolRun.community == community_id)
    return checkpoints, runs
