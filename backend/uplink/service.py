"""The uplink's status for a community or a district: what is owed, sent, refused, and how late."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Count, Max, Min

from backend.errors import NotFound
from backend.registry.service import community_target
from backend.registry.tables import Community, District
from backend.settings import Settings
from backend.uplink import standard, viid
from backend.uplink.outbox import PENDING, REJECTED, SENT
from backend.uplink.schemas import ProblemOut, RejectedOut, TableStatus, UplinkStatus
from backend.uplink.tables import UplinkRecord
from roles import Action, Principal, Target, authorize

RECENT_REJECTED = 20
# Problem details that describe the field, never the value.
SHOWN_DETAILS = frozenset({"missing", "too_long", "too_many_digits"})


async def community_status(settings: Settings, who: Principal, community_id: int) -> UplinkStatus:
    authorize(who, Action.VIEW_UPLINK, await community_target(community_id))
    return await status(settings, [community_id])


async def district_status(settings: Settings, who: Principal, district_id: int) -> UplinkStatus:
    if not await District.exists().where(District.id == district_id):
        raise NotFound("unknown_district", f"No district {district_id}")
    authorize(who, Action.VIEW_DISTRICT_UPLINK, Target(district_id=district_id))
    ids = await Community.select(Community.id).where(Community.district == district_id).output(as_list=True)
    return await status(settings, ids)


async def status(settings: Settings, communities: list[int]) -> UplinkStatus:
    now = datetime.now(UTC)
    mine = UplinkRecord.community.is_in(communities or [0])
    counts = (
        await UplinkRecord.select(UplinkRecord.table_key, UplinkRecord.state, Count())
        .where(mine)
        .group_by(UplinkRecord.table_key, UplinkRecord.state)
    )
    oldest = (
        await UplinkRecord.select(UplinkRecord.table_key, Min(UplinkRecord.created_at, alias="oldest"))
        .where(mine & (UplinkRecord.state == PENDING))
        .group_by(UplinkRecord.table_key)
    )
    lag = {row["table_key"]: _age(now, row["oldest"]) for row in oldest}
    by_table: dict[str, dict[str, int]] = {}
    for row in counts:
        by_table.setdefault(row["table_key"], {})[row["state"]] = row["count"]
    names = {key: table.name for key, table in standard.tables().items()} | viid.NAMES
    tables = [
        TableStatus(
            table=key,
            name=names.get(key, key),
            pending=states.get(PENDING, 0),
            sent=states.get(SENT, 0),
            rejected=states.get(REJECTED, 0),
            lag_seconds=lag.get(key, 0.0),
        )
        for key, states in sorted(by_table.items())
    ]
    [last] = await UplinkRecord.select(Max(UplinkRecord.sent_at, alias="sent")).where(mine)
    failure = (
        await UplinkRecord.select(UplinkRecord.failed_at, UplinkRecord.last_error)
        .where(mine & (UplinkRecord.state == PENDING) & UplinkRecord.failed_at.is_not_null())
        .order_by(UplinkRecord.failed_at, ascending=False)
        .first()
    )
    rejected = (
        await UplinkRecord.select(
            UplinkRecord.table_key,
            UplinkRecord.record_key,
            UplinkRecord.failed_at,
            UplinkRecord.last_error,
            UplinkRecord.problems,
        )
        .where(mine & (UplinkRecord.state == REJECTED))
        .order_by(UplinkRecord.failed_at, ascending=False)
        .limit(RECENT_REJECTED)
    )
    return UplinkStatus(
        configured=bool(settings.uplink_url or settings.viid_url),
        pending=sum(t.pending for t in tables),
        sent=sum(t.sent for t in tables),
        rejected=sum(t.rejected for t in tables),
        lag_seconds=max(lag.values(), default=0.0),
        last_sent_at=_aware(last["sent"]),
        last_failure_at=_aware(failure["failed_at"]) if failure else None,
        last_failure=failure["last_error"] if failure else "",
        tables=tables,
        recent_rejected=[_rejected(row) for row in rejected],
    )


def _rejected(row: dict[str, Any]) -> RejectedOut:
    problems = msgspec.json.decode(row["problems"]) if isinstance(row["problems"], str) else row["problems"]
    return RejectedOut(
        table=row["table_key"],
        record=row["record_key"],
        at=_aware(row["failed_at"]),
        reason=row["last_error"],
        problems=[
            ProblemOut(p["field"], p["reason"], p.get("detail", "") if p["reason"] in SHOWN_DETAILS else "")
            for p in problems or []
        ],
    )


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _age(now: datetime, created: datetime | str | None) -> float:
    when = _aware(created)
    return max(0.0, (now - when).total_seconds()) if when else 0.0
