"""The compliance self-assessment of a community and the district's overview; entering the items
only the police can judge; the tier a community is assessed against."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio

from backend.accounts.service import account_names
from backend.alarms import service as alarms
from backend.audit import service as audit
from backend.compliance import scoring, sheet, standard
from backend.compliance.facts import Facts, gather
from backend.compliance.schemas import (
    CommunityRow,
    ComplianceOut,
    DistrictComplianceOut,
    EntryIn,
    EntryOut,
    TierIn,
)
from backend.compliance.tables import ComplianceEntry
from backend.db import transaction
from backend.errors import DomainError, Invalid, NotFound
from backend.registry import service as registry
from backend.registry.tables import Community, District
from backend.settings import Settings
from qr.fonts import FontUnusable
from roles import Action, Principal, Target, authorize


class SheetUnavailable(DomainError):
    """The configured CJK font (ANJU_PLATE_FONT) is missing or lacks a glyph: a deployment fault."""

    status = 503


async def community(settings: Settings, who: Principal, community_id: int) -> ComplianceOut:
    authorize(who, Action.VIEW_COMPLIANCE, await registry.community_target(community_id))
    return await assess(await gather(settings, community_id))


async def assess(facts: Facts) -> ComplianceOut:
    subsystems = scoring.subsystems(facts)
    items = scoring.items(facts, await _entries(facts.community_id))
    total = round(sum(item.score or 0.0 for item in items), 1)
    absent = [s for s in subsystems if not s.present]
    name = (await registry.community_names(frozenset({facts.community_id})))[facts.community_id]
    return ComplianceOut(
        community_id=facts.community_id,
        community=name,
        tier=facts.tier,
        subsystems=subsystems,
        missing_must=[s.key for s in absent if s.level == "must"],
        missing_should=[s.key for s in absent if s.level == "should"],
        coverage=scoring.coverage(facts),
        items=items,
        total=total,
        pass_score=standard.pass_score(),
        passed=total >= standard.pass_score(),
        awaiting_entry=sum(1 for item in items if item.score is None),
    )


async def _entries(community_id: int) -> dict[str, EntryOut]:
    rows = await ComplianceEntry.select().where(ComplianceEntry.community == community_id)
    names = await account_names(sorted({row["entered_by"] for row in rows}))
    return {
        row["item"]: EntryOut(
            points=row["points"],
            note=row["note"],
            entered_by=names.get(row["entered_by"], ""),
            entered_at=row["entered_at"],
        )
        for row in rows
    }


async def enter(
    settings: Settings, who: Principal, community_id: int, key: str, data: EntryIn, ip: str
) -> ComplianceOut:
    """The police's score for an item no live data shows; audited with the points and the note."""
    authorize(who, Action.ENTER_COMPLIANCE, await registry.community_target(community_id))
    tier = await registry.community_tier(community_id)
    keys = {scoring.item_key(sheet_name, item.no) for sheet_name, item in standard.sheet(tier)}
    if key not in keys:
        raise NotFound("unknown_item", f"No item {key} on this community's score sheet")
    item = scoring.entered_item(tier, key)
    if item is None:
        raise Invalid("measured_item", "This item is scored from live data, not entered")
    if data.points > item.points:
        raise Invalid(
            "too_many_points", f"Item {key} is worth at most {item.points:g} points", field="points"
        )
    values = {
        "points": data.points,
        "note": data.note.strip(),
        "entered_by": who.account_id,
        "entered_at": datetime.now(UTC),
    }
    slot = f"{community_id}:{key}"
    async with transaction(ComplianceEntry._meta.db):
        if await ComplianceEntry.exists().where(ComplianceEntry.slot == slot):
            await ComplianceEntry.update(values).where(ComplianceEntry.slot == slot)
        else:
            await ComplianceEntry(community=community_id, item=key, slot=slot, **values).save()
        await audit.record(
            who,
            "enter_compliance_item",
            f"community:{community_id}",
            community=community_id,
            ip=ip,
            detail={"item": key, "points": data.points, "note": data.note.strip()},
        )
    return await community(settings, who, community_id)


async def set_tier(
    settings: Settings, who: Principal, community_id: int, data: TierIn, ip: str
) -> ComplianceOut:
    authorize(who, Action.ENTER_COMPLIANCE, await registry.community_target(community_id))
    async with transaction(Community._meta.db):
        await registry.set_tier(community_id, data.tier)
        await audit.record(
            who,
            "set_tier",
            f"community:{community_id}",
            community=community_id,
            ip=ip,
            detail={"tier": data.tier},
        )
    return await community(settings, who, community_id)


async def district(settings: Settings, who: Principal, district_id: int) -> DistrictComplianceOut:
    """Every community's score, coverage, device health, open alarms and uplink of the district."""
    if not await District.exists().where(District.id == district_id):
        raise NotFound("unknown_district", f"No district {district_id}")
    authorize(who, Action.VIEW_DISTRICT_COMPLIANCE, Target(district_id=district_id))
    ids = await (
        Community.select(Community.id)
        .where(Community.district == district_id)
        .order_by(Community.id)
        .output(as_list=True)
    )
    open_alarms = await alarms.open_counts(ids)
    return DistrictComplianceOut(
        district_id=district_id,
        pass_score=standard.pass_score(),
        communities=[
            await _row(settings, community_id, open_alarms.get(community_id, 0)) for community_id in ids
        ],
    )


async def _row(settings: Settings, community_id: int, open_alarms: int) -> CommunityRow:
    facts = await gather(settings, community_id)
    assessed = await assess(facts)
    return CommunityRow(
        community_id=community_id,
        community=assessed.community,
        tier=assessed.tier,
        total=assessed.total,
        passed=assessed.passed,
        awaiting_entry=assessed.awaiting_entry,
        coverage=scoring.headline_coverage(facts),
        devices_total=len(facts.devices),
        devices_online=sum(1 for d in facts.devices if d["online"]),
        open_alarms=open_alarms,
        uplink_pending=facts.uplink.pending,
        uplink_rejected=facts.uplink.rejected,
        uplink_lag_seconds=facts.uplink.lag_seconds,
    )


async def score_sheet(settings: Settings, who: Principal, community_id: int) -> tuple[bytes, str]:
    """The score sheet as a PDF (the plates' CJK font, embedded as a subset), and its file name."""
    assessed = await community(settings, who, community_id)
    now = datetime.now(UTC)
    try:
        pdf = await anyio.to_thread.run_sync(sheet.render, assessed, settings.plate_font, now)
    except FontUnusable as error:
        raise SheetUnavailable("sheet_font", str(error)) from error
    return pdf, f"compliance-{community_id}-{now:%Y%m%d}.pdf"
