"""Reading access records: a resident their household's passes, wardens and police their
communities' (filtered, paged, exported as CSV). Every staff read is audited with the people shown;
ID numbers and card numbers are shown as the viewer's role allows (roles/projections.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from backend.access.schemas import PassOut, PassPage
from backend.access.tables import AccessRecord
from backend.audit import service as audit
from backend.context import Context
from backend.errors import Invalid
from backend.registry import codes
from backend.registry import service as registry
from device_bridge.protocol import AccessMethod
from roles import Action, Principal, Target, authorize, is_allowed, project_person, viewer_for
from roles.matrix import STAFF_ROLES
from roles.projections import Viewer, person_fields

PAGE_MAX = 200
EXPORT_CHUNK = 500
BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only with it
CSV_COLUMNS = (
    ("ID", "记录 ID", "id"),
    ("SK_RQSJ", "刷卡日期时间", "at"),
    ("MP_MC", "门", "door"),
    ("KMFS_MC", "开门方式名称", "method_name"),
    ("SK_FSDM", "刷卡方式代码", "sk_fsdm"),
    ("JCDZ_MC", "进出动作名称", "direction_name"),
    ("TG_PDBZ", "通过判断标识", "granted_flag"),
    ("XM", "姓名", "name"),
    ("GMSFHM", "公民身份号码", "id_number"),
    ("JMK_BH", "居民卡编号", "credential"),
    ("BZ", "备注", "note"),
)
DIRECTIONS = {"in": "进", "out": "出"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Filters(msgspec.Struct, frozen=True):
    door_id: int | None = None
    person_id: int | None = None
    method: AccessMethod | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def conditions(self) -> list[Any]:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise Invalid("naive_time", "Give times with their offset, e.g. 2026-01-01T08:00:00+08:00")
        wanted = [
            (self.door_id, AccessRecord.door.__eq__),
            (self.person_id, AccessRecord.person.__eq__),
            (self.method, AccessRecord.method.__eq__),
            (self.since, AccessRecord.at.__ge__),
            (self.until, AccessRecord.at.__lt__),
        ]
        return [condition(value) for value, condition in wanted if value is not None]


class Paging(msgspec.Struct, frozen=True):
    before: int | None = None
    limit: int = 50


def _all(conditions: list[Any]) -> Any:
    where = conditions[0]
    for condition in conditions[1:]:
        where &= condition
    return where


async def _select(where: Any, before: int | None, limit: int) -> list[dict[str, Any]]:
    if before is not None:
        where &= AccessRecord.id < before
    return (
        await AccessRecord.select(
            AccessRecord.all_columns(exclude=[AccessRecord.key]),
            AccessRecord.door.name.as_alias("door_name"),
        )
        .where(where)
        .order_by(AccessRecord.id, ascending=False)
        .limit(limit)
    )


def _shown(ctx: Context, viewer: Viewer, row: dict[str, Any]) -> PassOut:
    record = {"name": row["name"]}
    if row["id_number_sealed"] and "id_number" in person_fields(viewer):
        record["id_number"] = ctx.keys.unseal(row["id_number_sealed"])
    shown = project_person(viewer, record)
    # A card's number opens doors: it is shown as ID numbers are to this viewer (masked but to police).
    card = project_person(viewer, {"id_number": row["credential"]}) if row["credential"] else {}
    return PassOut(
        id=row["id"],
        at=row["at"],
        door_id=row["door"],
        door=row["door_name"] or "",
        method=row["method"],
        sk_fsdm=row["sk_fsdm"],
        direction=row["direction"],
        granted=row["granted"],
        resolution=row["resolution"],
        person_id=row["person"],
        name=shown.get("name", ""),
        id_number=shown.get("id_number", ""),
        credential=card.get("id_number", ""),
    )


async def _page(
    ctx: Context,
    who: Principal,
    target: Target,
    where: Any,
    page: Paging,
    ip: str,
    subject: str,
) -> PassPage:
    rows = await _select(where, page.before, page.limit + 1)
    viewer = viewer_for(who, target)
    items = [_shown(ctx, viewer, row) for row in rows[: page.limit]]
    if who.role in STAFF_ROLES:
        await audit.record_read(
            who,
            "read_access_records",
            subject,
            community=target.community_id,
            ip=ip,
            detail={"people": sorted({i.person_id for i in items if i.person_id}), "count": len(items)},
        )
    return PassPage(items=items, next_before=items[-1].id if len(rows) > page.limit else None)


async def community_passes(
    ctx: Context, who: Principal, community_id: int, filters: Filters, page: Paging, ip: str
) -> PassPage:
    target = await registry.community_target(community_id)
    authorize(who, Action.VIEW_ACCESS_RECORDS, target)
    where = _all([AccessRecord.community == community_id, *filters.conditions()])
    return await _page(ctx, who, target, where, page, ip, f"community:{community_id}")


async def household_passes(
    ctx: Context, who: Principal, house_id: int, filters: Filters, page: Paging, ip: str
) -> PassPage:
    target = await registry.house_target(house_id)
    if not is_allowed(who, Action.VIEW_ACCESS_RECORDS, target):
        authorize(who, Action.VIEW_HOUSEHOLD_PASSES, target)
    where = await _households([target])
    return await _page(ctx, who, target, _all([where, *filters.conditions()]), page, ip, f"house:{house_id}")


async def my_passes(ctx: Context, who: Principal, filters: Filters, page: Paging, ip: str) -> PassPage:
    """The passes of every household the caller verifiably lives in."""
    if not who.houses:
        authorize(who, Action.VIEW_HOUSEHOLD_PASSES, Target())  # no home: the precise refusal
    targets = [await registry.house_target(house) for house in sorted(who.houses)]
    for target in targets:
        authorize(who, Action.VIEW_HOUSEHOLD_PASSES, target)
    where = await _households(targets)
    return await _page(
        ctx, who, targets[0], _all([where, *filters.conditions()]), page, ip, f"account:{who.account_id}"
    )


async def _households(targets: list[Target]) -> Any:
    """Passes by the households' credentials, and by their members in their communities (phone openings)."""
    members = await registry.household_people([t.house_id for t in targets])
    return AccessRecord.house.is_in([t.house_id for t in targets]) | (
        AccessRecord.community.is_in([t.community_id for t in targets])
        & AccessRecord.person.is_in(members or [0])
    )


async def community_export(
    ctx: Context, who: Principal, community_id: int, filters: Filters, ip: str
) -> AsyncIterator[str]:
    """The community's passes as CSV, newest first, read in chunks while it streams.

    Audited before the first byte with every person the export names.
    """
    target = await registry.community_target(community_id)
    authorize(who, Action.VIEW_ACCESS_RECORDS, target)
    where = _all([AccessRecord.community == community_id, *filters.conditions()])
    people = (
        await AccessRecord.select(AccessRecord.person)
        .where(where & AccessRecord.person.is_not_null())
        .distinct()
    )
    await audit.record_read(
        who,
        "export_access_records",
        f"community:{community_id}",
        community=community_id,
        ip=ip,
        detail={"people": sorted(row["person"] for row in people)},
    )
    return _csv(ctx, viewer_for(who, target), where)


async def _csv(ctx: Context, viewer: Viewer, where: Any) -> AsyncIterator[str]:
    yield BOM + _line([f"{field} {title}" for field, title, _ in CSV_COLUMNS])
    before = None
    while rows := await _select(where, before, EXPORT_CHUNK):
        yield "".join(_line(_csv_row(_shown(ctx, viewer, row))) for row in rows)
        before = rows[-1]["id"]


def _csv_row(shown: PassOut) -> list[str]:
    values = {
        **msgspec.structs.asdict(shown),
        "at": shown.at.isoformat(),
        "method_name": codes.table("KMFSDM").codes.get(shown.sk_fsdm, shown.method),
        "direction_name": DIRECTIONS.get(shown.direction, shown.direction),
        "granted_flag": "1" if shown.granted else "0",
        "note": "未登记凭证" if shown.resolution == "unknown" else "",
    }
    return [str(values[key]) for _, _, key in CSV_COLUMNS]


def _line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_inert(value) for value in values])
    return out.getvalue()


def _inert(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs: a device-sent card number "=cmd|…" included."""
    return "'" + value if value[:1] in FORMULA_STARTS else value
