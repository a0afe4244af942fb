"""Registry records as rows of the data standard's tables (一标三实对接信息 ``ybss``, 楼栋信息 ``building``).

The registry owes a ``ybss`` row when a residency becomes verified (registered by staff, or
verified), is corrected or is deregistered (:func:`owe_ybss`), and a ``building`` row per unit when
a building's details change (:func:`owe_building`), in the transaction that makes the change.

Each ``*_SOURCES`` constant names, for every field of its table the registry can fill, where the
value comes from; a test holds that every *required* field has a source. The row functions read
those sources and return ``{carried name: value}``, ready for ``standard.check`` (a field the
registry has not collected yet is left out, and ``check`` reports it missing: never sent
half-filled). Dates are aware datetimes in China Standard Time, as the standard's DATE is a
local point in time.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from backend.context import Context
from backend.errors import NotFound
from backend.registry import codes
from backend.registry.enums import ResidenceCategory
from backend.registry.tables import Building, Community, Residency, Unit
from backend.uplink.outbox import enqueue
from device_bridge.store import Writer

CST = dt.timezone(dt.timedelta(hours=8), "CST")
PERMANENT_LODGING = "01"  # ZZCS 居民家中: where a 常住 resident lives, as ZZCSDM is required for all

YBSS_SOURCES: dict[str, str] = {
    "ID": "residency id, as 'anju-r{id}'",
    "ZYLBDM": "person.occupation (ZYLB)",
    "JGSSXDM": "person.native_place (XZQH)",
    "ZZCSDM": "residency.lodging (ZZCS); always 01 居民家中 for a permanent (常住) resident",
    "MPH": "building.number + unit.number + house.room_no (1栋2单元301室)",
    "XBDM": "person.gender (XB)",
    "ZZSY": "residency.reason (ZZSY)",
    "HJDZ_DZMC": "person.hukou_address",
    "WHCDDM": "person.education (WHCD)",
    "XM": "person.name",
    "MZDM": "person.ethnicity (MZ)",
    "YHBS": "person id, as 'anju-p{id}'",
    "SFZHM": "person.id_number_encrypted (unsealed)",
    "YWLX": "the registry event (register, correct, deregister) through YWLX.ours",
    "SSZRQDM": "community.responsibility_area (ZRQ, supplied per district)",
    "FWCS": "person.service_place",
    "BZDZDM": "the flat's address.code (标准地址代码)",
    "HYZKDM": "person.marital_status (HYZK)",
    "XZJDDM": "community.street_code (XZJD, supplied per district)",
    "LXDH": "person.phone_sealed (unsealed)",
    "HJD_XZQHDM": "person.hukou_region (XZQH)",
    "CSRQ": "person.birth_date",
    "DJRQ": "residency.registered_at",
    "DQJD": "building.longitude",
    "DQWD": "building.latitude",
}

BUILDING_SOURCES: dict[str, str] = {
    "ID": "unit id, as 'anju-u{id}' (one row per unit: DY_MC is required)",
    "JZDM_ID": "building id, as 'anju-b{id}'",
    "JZ_BM": "the building's address.code (标准地址代码, ≤ 30)",
    "JZWMC": "community.name + building.name",
    "DZ": "the building's address.text",
    "JLXMC": "community.road (街路巷名称)",
    "XQ_MC": "community.name",
    "LDH_MC": "building.number",
    "JZ_XZ": "building.nature",
    "XJ_RQSJ": "building.built_on",
    "DM_CS": "building.floors_above",
    "DX_CS": "building.floors_below",
    "DXCJZ_CS": "building.floors_below_lived_in",
    "XQ_BM": "community.code",
    "LD_TP": "building.photo (a reference to the stored photo)",
    "DY_BM": "the unit's address.code",
    "DY_MC": "unit.number",
    "SDM": "district.code[:2] + '0000' (省代码)",
    "QXDM": "district.code",
    "SDM_2": "district.code[:4] + '00' (市代码)",
    "XZJDDM": "community.street_code (XZJD)",
    "XZJDMC": "community.street",
    "DQJD": "building.longitude",
    "DQWD": "building.latitude",
    "SSPCS_MC": "community.police_station",
    "CSQ_MC": "community.committee",
    "SQJCWHMC": "community.committee",
    "LD_BS": "building id, as 'anju-b{id}'",
    "DY_BS": "unit id, as 'anju-u{id}'",
    "XQ_BS": "community id, as 'anju-c{id}'",
    "WTDLR_XM": "building.agent_name",
    "WTDLR_ZJLXMC": "building.agent_id_type, its ZJLX name",
    "WTDLR_ZJHM": "building.agent_id_number_sealed (unsealed)",
    "WTDLR_LXDH": "building.agent_phone_sealed (unsealed)",
}


def local_midnight(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time(), tzinfo=CST) if day else None


def degrees(value: float | None) -> Decimal | None:
    """A coordinate as NUMBER(10,6): six decimals."""
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v not in (None, "")}


async def ybss_row(ctx: Context, residency_id: int, event: str = "register") -> dict[str, Any]:
    """The 一标三实对接信息 row of a residency (its person, flat and community) for ``event``."""
    r = (
        await Residency.select(
            Residency.all_columns(),
            *Residency.person.all_columns(exclude=["id"]),
            Residency.house.room_no.as_alias("room_no"),
            Residency.house.address.code.as_alias("address_code"),
            Residency.house.unit.number.as_alias("unit_number"),
            Residency.house.building.number.as_alias("building_number"),
            Residency.house.building.latitude.as_alias("latitude"),
            Residency.house.building.longitude.as_alias("longitude"),
            Residency.community.street_code.as_alias("street_code"),
            Residency.community.responsibility_area.as_alias("responsibility_area"),
        )
        .where(Residency.id == residency_id)
        .first()
    )
    if r is None:
        raise NotFound("unknown_residency", f"No residency {residency_id}")
    p = {k.removeprefix("person."): v for k, v in r.items() if k.startswith("person.")}
    permanent = p["residence_category"] == ResidenceCategory.PERMANENT
    return _compact(
        {
            "ID": f"anju-r{residency_id}",
            "ZYLBDM": p["occupation"],
            "JGSSXDM": p["native_place"],
            "ZZCSDM": PERMANENT_LODGING if permanent else r["lodging"],
            "MPH": f"{r['building_number']}{r['unit_number']}{r['room_no']}室",
            "XBDM": p["gender"],
            "ZZSY": r["reason"],
            "HJDZ_DZMC": p["hukou_address"],
            "WHCDDM": p["education"],
            "XM": p["name"],
            "MZDM": p["ethnicity"],
            "YHBS": f"anju-p{r['person']}",
            "SFZHM": ctx.keys.unseal(p["id_number_encrypted"]),
            "YWLX": codes.code_for("YWLX", event),
            "SSZRQDM": r["responsibility_area"],
            "FWCS": p["service_place"],
            "BZDZDM": r["address_code"],
            "HYZKDM": p["marital_status"],
            "XZJDDM": r["street_code"],
            "LXDH": ctx.keys.unseal(p["phone_sealed"]) if p["phone_sealed"] else "",
            "HJD_XZQHDM": p["hukou_region"],
            "CSRQ": local_midnight(p["birth_date"]),
            "DJRQ": r["registered_at"].astimezone(CST),
            "DQJD": degrees(r["longitude"]),
            "DQWD": degrees(r["latitude"]),
        }
    )


async def building_row(ctx: Context, unit_id: int) -> dict[str, Any]:
    """The 楼栋信息 row of one unit of a building (the standard's rows carry 单元名称)."""
    u = (
        await Unit.select(Unit.id, Unit.number, Unit.building, Unit.address.code.as_alias("code"))
        .where(Unit.id == unit_id)
        .first()
    )
    if u is None:
        raise NotFound("unknown_unit", f"No unit {unit_id}")
    b = (
        await Building.select(
            Building.all_columns(),
            Building.address.code.as_alias("address_code"),
            Building.address.text.as_alias("address_text"),
        )
        .where(Building.id == u["building"])
        .first()
    )
    c = (
        await Community.select(Community.all_columns(), Community.district.code.as_alias("district_code"))
        .where(Community.id == b["community"])
        .first()
    )
    district = c["district_code"]
    agent_type = b["agent_id_type"]
    return _compact(
        {
            "ID": f"anju-u{u['id']}",
            "JZDM_ID": f"anju-b{b['id']}",
            "JZ_BM": b["address_code"],
            "JZWMC": f"{c['name']}{b['name']}",
            "DZ": b["address_text"],
            "JLXMC": c["road"],
            "XQ_MC": c["name"],
            "LDH_MC": b["number"],
            "JZ_XZ": b["nature"],
            "XJ_RQSJ": local_midnight(b["built_on"]),
            "DM_CS": b["floors_above"],
            "DX_CS": b["floors_below"],
            "DXCJZ_CS": b["floors_below_lived_in"],
            "XQ_BM": c["code"],
            "LD_TP": b["photo"],
            "DY_BM": u["code"],
            "DY_MC": u["number"],
            "SDM": f"{district[:2]}0000",
            "QXDM": district,
            "SDM_2": f"{district[:4]}00",
            "XZJDDM": c["street_code"],
            "XZJDMC": c["street"],
            "DQJD": degrees(b["longitude"]),
            "DQWD": degrees(b["latitude"]),
            "SSPCS_MC": c["police_station"],
            "CSQ_MC": c["committee"],
            "SQJCWHMC": c["committee"],
            "LD_BS": f"anju-b{b['id']}",
            "DY_BS": f"anju-u{u['id']}",
            "XQ_BS": f"anju-c{c['id']}",
            "WTDLR_XM": b["agent_name"],
            "WTDLR_ZJLXMC": codes.table("ZJLX").codes.get(agent_type, "") if agent_type else "",
            "WTDLR_ZJHM": ctx.keys.unseal(b["agent_id_number_sealed"]) if b["agent_id_number_sealed"] else "",
            "WTDLR_LXDH": ctx.keys.unseal(b["agent_phone_sealed"]) if b["agent_phone_sealed"] else "",
        }
    )


async def owe_ybss(
    writer: Writer, ctx: Context, residency: tuple[int, int], event: str, occurrence: str = ""
) -> None:
    """Owe the 一标三实 row of ``residency`` (its id and community) for ``event`` (YWLX.ours);
    ``occurrence`` tells repeated events of one residency apart (a correction's id), so each is sent once."""
    residency_id, community = residency
    row = await ybss_row(ctx, residency_id, event)
    key = f"residency:{residency_id}:{event}" + (f":{occurrence}" if occurrence else "")
    await enqueue(writer, ctx.keys, "ybss", key, community, row)


async def owe_building(writer: Writer, ctx: Context, building_id: int, version: str) -> None:
    """Owe the 楼栋信息 row of each of the building's units, as of ``version`` (its change's time)."""
    units = await Unit.select(Unit.id).where(Unit.building == building_id).output(as_list=True)
    [building] = await Building.select(Building.community).where(Building.id == building_id)
    for unit_id in units:
        row = await building_row(ctx, unit_id)
        await enqueue(writer, ctx.keys, "building", f"unit:{unit_id}:{version}", building["community"], row)
