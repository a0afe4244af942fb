"""楼栋信息 a building needs beyond its place in the registry: its entrusted agent (委托代理人),
photo, build date and floors, kept by property staff and police (``Action.MANAGE_BUILDINGS``).

The agent's certificate number and phone are sealed at rest; the number is shown in full to the
police only (masked for the property, who entered it).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from backend.audit import service as audit
from backend.context import Context
from backend.db import writing
from backend.errors import Invalid, NotFound
from backend.registry import codes
from backend.registry.idnumber import InvalidIdNumber, validate_id
from backend.registry.schemas import BuildingDetails, BuildingDetailsIn, BuildingSummary, StandardField
from backend.registry.service import community_target
from backend.registry.tables import Building, Unit
from backend.text import plain_text
from backend.uplink import rows as uplink
from backend.uplink import standard
from roles import Action, Principal, Role, Target, authorize
from roles.masking import mask_id

PHONE_CHARS = frozenset("0123456789-+ ")


async def _building(building_id: int) -> dict[str, Any]:
    row = (
        await Building.select(Building.all_columns(), Building.community.district.as_alias("district"))
        .where(Building.id == building_id)
        .first()
    )
    if row is None:
        raise NotFound("unknown_building", f"No building {building_id}")
    return row


def _out(ctx: Context, who: Principal, row: dict[str, Any]) -> BuildingDetails:
    number = ctx.keys.unseal(row["agent_id_number_sealed"]) if row["agent_id_number_sealed"] else ""
    return BuildingDetails(
        id=row["id"],
        community_id=row["community"],
        name=row["name"],
        number=row["number"],
        nature=row["nature"],
        floors_above=row["floors_above"],
        floors_below=row["floors_below"],
        floors_below_lived_in=row["floors_below_lived_in"],
        built_on=row["built_on"],
        photo=row["photo"],
        agent_name=row["agent_name"],
        agent_id_type=row["agent_id_type"],
        agent_id_number=number if who.role is Role.POLICE or not number else mask_id(number),
        agent_phone=ctx.keys.unseal(row["agent_phone_sealed"]) if row["agent_phone_sealed"] else "",
    )


async def community_buildings(ctx: Context, who: Principal, community_id: int) -> list[BuildingSummary]:
    """The community's buildings and the 楼栋信息 fields each still lacks (nothing personal shown)."""
    authorize(who, Action.MANAGE_BUILDINGS, await community_target(community_id))
    found = (
        await Building.select(Building.id, Building.name, Building.number)
        .where(Building.community == community_id)
        .order_by(Building.id)
    )
    units = await Unit.select(Unit.id, Unit.building).where(Unit.community == community_id).order_by(Unit.id)
    first_unit: dict[int, int] = {}
    for unit in units:
        first_unit.setdefault(unit["building"], unit["id"])
    return [
        BuildingSummary(
            id=b["id"],
            name=b["name"],
            number=b["number"],
            units=sum(1 for u in units if u["building"] == b["id"]),
            missing=await _missing(ctx, first_unit.get(b["id"])),
        )
        for b in found
    ]


async def _missing(ctx: Context, unit_id: int | None) -> list[StandardField]:
    """The required fields the building's row lacks, in the standard's order."""
    fields = standard.tables()["building"].fields
    if unit_id is None:  # a building without units has no row to send
        return [StandardField(f.name, f.meaning) for f in fields if f.name == "DY_MC"]
    problems = standard.check("building", await uplink.building_row(ctx, unit_id))
    missing = {p.field for p in problems if p.reason == "missing"}
    return [StandardField(f.name, f.meaning) for f in fields if f.name in missing]


async def details(ctx: Context, who: Principal, building_id: int, ip: str) -> BuildingDetails:
    row = await _building(building_id)
    authorize(
        who, Action.MANAGE_BUILDINGS, Target(community_id=row["community"], district_id=row["district"])
    )
    await audit.record_read(
        who, "read_building", f"building:{building_id}", community=row["community"], ip=ip
    )  # the agent's personal data
    return _out(ctx, who, row)


def _clean(data: BuildingDetailsIn, today: dt.date) -> dict[Any, Any]:
    agent_type = data.agent_id_type
    number = data.agent_id_number.strip()
    if agent_type:
        try:
            codes.validate("ZJLX", agent_type)
        except codes.InvalidCode as exc:
            raise Invalid("invalid_code", str(exc), field="agent_id_type") from None
    if number:
        if not agent_type:
            raise Invalid("required", "Give the agent's certificate type", field="agent_id_type")
        try:
            number = validate_id(agent_type, number)
        except InvalidIdNumber as exc:
            raise Invalid("invalid_id_number", f"Agent's ID number: {exc}", field="agent_id_number") from None
    phone = data.agent_phone.strip()
    if phone and (not set(phone) <= PHONE_CHARS or sum(ch.isdigit() for ch in phone) < 7):
        raise Invalid("invalid_phone", "Agent's phone must be a phone number", field="agent_phone")
    if data.built_on and data.built_on > today:
        raise Invalid("future_date", "Build date is in the future", field="built_on")
    if data.floors_below_lived_in > data.floors_below:
        raise Invalid(
            "too_many_floors",
            "Lived-in floors below ground exceed the floors below ground",
            field="floors_below_lived_in",
        )
    return {
        Building.nature: plain_text(data.nature, "nature") or "住宅",
        Building.floors_above: data.floors_above,
        Building.floors_below: data.floors_below,
        Building.floors_below_lived_in: data.floors_below_lived_in,
        Building.built_on: data.built_on,
        Building.photo: plain_text(data.photo, "photo"),
        Building.agent_name: plain_text(data.agent_name, "agent_name"),
        Building.agent_id_type: agent_type,
        "number": number,
        "phone": phone,
    }


async def update(
    ctx: Context, who: Principal, building_id: int, data: BuildingDetailsIn, ip: str
) -> BuildingDetails:
    """Replace the building's 楼栋信息 details (every field of the body)."""
    row = await _building(building_id)
    authorize(
        who, Action.MANAGE_BUILDINGS, Target(community_id=row["community"], district_id=row["district"])
    )
    values = _clean(data, dt.date.today())
    number, phone = values.pop("number"), values.pop("phone")
    values[Building.agent_id_number_sealed] = ctx.keys.seal(number) if number else ""
    values[Building.agent_phone_sealed] = ctx.keys.seal(phone) if phone else ""
    async with writing(Building._meta.db) as writer:
        await Building.update(values).where(Building.id == building_id)
        await uplink.owe_building(writer, ctx, building_id, f"{time.time_ns() // 1_000_000}")
        await audit.record(
            who, "update_building", f"building:{building_id}", community=row["community"], ip=ip,
            detail={"agent_name": values[Building.agent_name], "photo": values[Building.photo]},
        )  # fmt: skip
    return _out(ctx, who, await _building(building_id))
