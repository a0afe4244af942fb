"""Our records → the standard's rows (data_standard.json), enqueued with the record they come from.

Each mapping reads what it needs, builds the row under the standard's carried field names and
calls :func:`outbox.enqueue` in the caller's transaction. A value we do not have is left out, so
the standard check rejects the row with the missing field's reason: never sent half-filled.

``emergency_alarm`` (紧急报警(求助)系统): a button alarm (SOS or help call), once it is closed —
the table's required fields include the handling result, time and handler (CLJG_MC, CLSJ,
CLR_XM), which only a closed alarm has. One row per alarm: ``alarm:{id}``.

``door_access`` (门禁刷卡信息): every pass the bridge stores (``backend/access/ingest.py``), owed by
reference in its batch's transaction and built when sent (:data:`BUILT_WHEN_SENT`). One row per
access record, by its key (``ev:{device}:{event}``). JMK_BH (居民卡编号), GMSFHM and DYH are
required: a pass by face, phone or QR code carries no card, a credential nobody holds names no
one, and a gate is in no unit, so those rows are rejected with the reasons.

Perimeter intrusions and fire or energy alarms (``perimeter_alarm``, ``fire_energy``) are owed
once closed, like the buttons'; face and vehicle captures as the bridge decides them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from backend.accounts.service import account_names
from backend.alarms.kinds import AlarmType, Category, Severity, State
from backend.alarms.tables import ButtonPairing
from backend.devices.tables import DeviceKind
from backend.keys import Keys
from backend.registry import codes
from backend.registry.tables import Community, Person
from backend.uplink import viid as viid_codes
from backend.uplink.outbox import VIID, enqueue, enqueue_many
from device_bridge.dispatch import KnownDevice
from device_bridge.protocol import MeterKind
from device_bridge.store import Writer

BUTTON_TYPES = {AlarmType.EMERGENCY: "紧急报警", AlarmType.HELP: "求助"}
STATE_NAMES = {State.RESOLVED: "已处置", State.FALSE_ALARM: "误报"}
# 预警时间段名称: the alarm's level as the platform's 预警 grading names it.
SEVERITY_NAMES = {
    Severity.CRITICAL: "一级",
    Severity.HIGH: "二级",
    Severity.MEDIUM: "三级",
    Severity.LOW: "四级",
}
COORDINATE_DECIMALS = 6  # NUMBER(10,6)
ALARM_NAMES = {
    AlarmType.INTRUSION: "周界入侵",
    AlarmType.SMOKE: "烟雾报警",
    AlarmType.FIRE_DOOR_OPEN: "消防通道门开启",
    AlarmType.HYDRANT_PRESSURE: "消防栓水压异常",
    AlarmType.WATER_LEAK: "水浸报警",
    AlarmType.WATER_THRESHOLD: "用水超阈值",
    AlarmType.ELECTRICITY_THRESHOLD: "用电超阈值",
    AlarmType.GAS_THRESHOLD: "燃气超阈值",
}
# 设备类型 (SBLX, ≤ 10 bytes: three Chinese characters): our sensor kinds as the platform names them.
SENSOR_TYPES = {
    DeviceKind.SMOKE_SENSOR: "烟感",
    DeviceKind.LEAK_SENSOR: "水浸",
    DeviceKind.DOOR_MAGNET: "门磁",
    DeviceKind.HYDRANT_PRESSURE: "消防栓",
    DeviceKind.METER: "能耗表",
}
ENERGY_NAMES = {
    MeterKind.WATER: "水",
    MeterKind.ELECTRICITY: "电",
    MeterKind.POWER: "电",
    MeterKind.GAS: "燃气",
    MeterKind.GAS_CONCENTRATION: "燃气",
}
WATER_ALARMS = frozenset({AlarmType.WATER_LEAK, AlarmType.WATER_THRESHOLD, AlarmType.HYDRANT_PRESSURE})
ALARMING, NORMAL = "报警", "正常"


def device_number(community_code: str, device_id: int, code: str, length: int) -> str:
    """A device's number in a field of ``length`` (SB_BH ≤ 30, SB_BM ≤ 40): its code when that fits,
    else its community's code and our id: translated, never truncated, the same for every record."""
    return code if len(code.encode()) <= length else f"{community_code}-D{device_id}"


def record_id(community_code: str, kind: str, record_id: int) -> str:
    """The standard's ID: unique across the city (our community code, what it is, our id)."""
    return f"{community_code}-{kind}-{record_id}"


async def emergency_alarm(writer: Writer, keys: Keys, alarm: dict[str, Any]) -> str | None:
    """紧急报警(求助)系统: a closed button alarm (``alarm``: its row after closing)."""
    community = await Community.select(Community.code).where(Community.id == alarm["community"]).first()
    person = await _paired_person(alarm["pairing"], keys)
    closers = await account_names([alarm["closed_by"]] if alarm["closed_by"] is not None else [])
    row = {
        "ID": record_id(community["code"], "alarm", alarm["id"]),
        "BJQZR_XM": person.get("name"),
        "BJQZ_DD": alarm["location"],
        "BJQZ_RQJSJ": moment(alarm["first_at"]),
        "BJLX": BUTTON_TYPES[AlarmType(alarm["type"])],
        "LXFS": person.get("phone"),
        "NR": alarm["detail"] or f"{BUTTON_TYPES[AlarmType(alarm['type'])]}：{alarm['location']}",
        "BJ_ZT": STATE_NAMES[State(alarm["state"])],
        "CLJG_MC": alarm["note"],
        "CLSJ": moment(alarm["closed_at"]),
        "CLR_XM": closers.get(alarm["closed_by"]),
        "DQJD": _coordinate(alarm["longitude"]),
        "DQWD": _coordinate(alarm["latitude"]),
        "YJSJD_MC": SEVERITY_NAMES.get(alarm["severity"]),
    }
    return await enqueue(writer, keys, "emergency_alarm", f"alarm:{alarm['id']}", alarm["community"], row)


async def closed_alarm(writer: Writer, keys: Keys, alarm: dict[str, Any]) -> str | None:
    """Owe a closed alarm to the table of its kind: a button's, a perimeter intrusion, a fire or
    energy alarm; other alarms (video analytics, device health) have no table."""
    if alarm["state"] not in STATE_NAMES:
        return None
    if alarm["type"] in BUTTON_TYPES:
        return await emergency_alarm(writer, keys, alarm)
    if alarm["type"] == AlarmType.INTRUSION:
        return await perimeter_alarm(writer, keys, alarm)
    if alarm["category"] in (Category.FIRE, Category.ENERGY):
        return await fire_energy(writer, keys, alarm)
    return None


async def perimeter_alarm(writer: Writer, keys: Keys, alarm: dict[str, Any]) -> str | None:
    """周界防护系统: a closed intrusion alarm, with the detector that raised it."""
    community, device = await _alarm_source(writer, alarm)
    row = {
        "ID": record_id(community, "alarm", alarm["id"]),
        "BJSJ": moment(alarm["raised_at"]),
        "RQ_RQSJ": moment(alarm["first_at"]),
        "BJ_PDBZ": "1" if alarm["state"] == State.RESOLVED else "0",  # a real intrusion, or not
        "AQ_DJ": SEVERITY_NAMES.get(alarm["severity"]),
        "BJ_BM": f"{community}-alarm-{alarm['id']}",
        "SB_BM": device_number(community, alarm["device"], device["code"], 40) if device else None,
        "BJ_XXQK": "；".join(part for part in (alarm["location"], alarm["detail"], alarm["note"]) if part),
        "KS_RQSJ": moment(alarm["first_at"]),
        "JS_RQSJ": moment(alarm["cleared_at"] or alarm["closed_at"]),
        "CJ_RQSJ": moment(alarm["raised_at"]),
        "XG_RQSJ": moment(alarm["closed_at"]),
        "DQJD": _coordinate(_first(alarm["longitude"], device.get("longitude"))),
        "DQWD": _coordinate(_first(alarm["latitude"], device.get("latitude"))),
        "BJLX": ALARM_NAMES[AlarmType.INTRUSION],
    }
    return await enqueue(writer, keys, "perimeter_alarm", f"alarm:{alarm['id']}", alarm["community"], row)


async def fire_energy(writer: Writer, keys: Keys, alarm: dict[str, Any]) -> str | None:
    """消防、能源监测系统: a closed fire or energy alarm, with its sensor or meter and what it read.

    The three states the table requires (水位, 烟雾, 报警) say which condition this alarm was."""
    community, device = await _alarm_source(writer, alarm)
    kind = AlarmType(alarm["type"])
    reading = "" if alarm["reading"] is None else f"{alarm['reading']:g}"
    row = {
        "ID": record_id(community, "alarm", alarm["id"]),
        "SBMC": device.get("name"),
        "SBLX": SENSOR_TYPES.get(device.get("kind", "")),
        "SBXH": device.get("model"),
        "BJSJ": moment(alarm["first_at"]),
        "GJ_RQJSJ": moment(alarm["raised_at"]),
        "GJXX_NR": alarm["detail"] or ALARM_NAMES[kind],
        "JK_DZ": alarm["location"] or device.get("name"),
        "NYLX_MC": ENERGY_NAMES.get(alarm["meter"]),
        "YZ_MC": alarm["threshold"],
        "CGYZ_BJSJ": moment(alarm["first_at"]) if alarm["threshold"] else None,
        "SB_BS": device.get("code"),
        "CJSJ": moment(alarm["last_at"]),
        "SW_ZT": ALARMING if kind in WATER_ALARMS else NORMAL,
        "YW_ZT": ALARMING if kind == AlarmType.SMOKE else NORMAL,
        "BJ_ZT": STATE_NAMES[State(alarm["state"])],
        "CC_RQSJ": dt.datetime.now(dt.UTC),
        "DL_MC": reading if alarm["meter"] == MeterKind.POWER else None,
        "DQJD": _coordinate(_first(alarm["longitude"], device.get("longitude"))),
        "DQWD": _coordinate(_first(alarm["latitude"], device.get("latitude"))),
    }
    return await enqueue(writer, keys, "fire_energy", f"alarm:{alarm['id']}", alarm["community"], row)


async def _alarm_source(writer: Writer, alarm: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The alarm's community code and its device (name, kind, model, code, place; {} if removed)."""
    rows = await writer.fetch(
        "SELECT community.code AS community_code, device.code, device.name, device.kind, device.model, "
        "device.latitude, device.longitude FROM community LEFT JOIN device ON device.id = {} "
        "WHERE community.id = {}",
        alarm["device"],
        alarm["community"],
    )
    row = rows[0]
    community = row.pop("community_code")
    return community, row if row["code"] is not None else {}


def _first(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)


async def _paired_person(pairing_id: int | None, keys: Keys) -> dict[str, str]:
    """The button's paired person when it was pressed: name and phone (empty if unpaired since)."""
    if pairing_id is None:
        return {}
    pairing = await ButtonPairing.select(ButtonPairing.person).where(ButtonPairing.id == pairing_id).first()
    if pairing is None:
        return {}
    person = (
        await Person.select(Person.name, Person.phone_sealed).where(Person.id == pairing["person"]).first()
    )
    if person is None:
        return {}
    sealed = person["phone_sealed"]
    return {"name": person["name"], "phone": keys.unseal(sealed) if sealed else ""}


def _coordinate(value: float | None) -> float | None:
    return None if value is None else round(value, COORDINATE_DECIMALS)


def moment(value: dt.datetime | str | None) -> dt.datetime | None:
    """A timestamp as either engine returns it from raw SQL (SQLite: UTC text)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


Fetch = Callable[..., Awaitable[list[dict[str, Any]]]]  # (sql with {} placeholders, *values) → rows
CARD_METHODS = frozenset({"card", "tag"})  # a 居民卡编号 (JMK_BH): the card's or tag's number
DIRECTIONS = {"in": "进", "out": "出"}


ACCESS_RECORDS = (
    "SELECT a.id, a.key, a.community, a.unit, a.house, a.method, a.direction, a.granted, a.credential, "
    "a.sk_fsdm, a.name, a.id_number_sealed, a.ld_bm, a.at, a.created_at, a.device AS device_id, "
    "d.code AS device_code, d.latitude, d.longitude, c.code AS community_code "
    "FROM access_record a JOIN device d ON d.id = a.device JOIN community c ON c.id = a.community "
    "WHERE a.key IN ({marks})"
)


async def door_access_rows(fetch: Fetch, keys: Keys, record_keys: list[str]) -> dict[str, dict[str, Any]]:
    """门禁刷卡信息 rows of the access records whose keys are ``record_keys`` (a record gone: absent).

    Owed by reference as the bridge stores passes (``outbox.owe_by_reference``): built here when
    the sender sends them, from the record and its device."""
    if not record_keys:
        return {}
    stored = await fetch(ACCESS_RECORDS.format(marks=", ".join("{}" for _ in record_keys)), *record_keys)
    numbers = await _unit_numbers(fetch, stored)
    rows = {}
    for record in stored:
        sealed = record["id_number_sealed"]
        code = record["sk_fsdm"]
        community = record["community_code"]
        rows[record["key"]] = {
            "ID": record_id(community, "access", record["id"]),
            "KMFS_MC": codes.table("KMFSDM").codes.get(code, ""),
            "SB_BH": device_number(community, record["device_id"], record["device_code"], 30),
            "JMK_BH": record["credential"] if record["method"] in CARD_METHODS else None,
            "LD_BM": record["ld_bm"],
            "XM": record["name"],
            "TG_PDBZ": "1" if record["granted"] else "0",
            "CJ_RQSJ": moment(record["created_at"]),
            "SK_FSDM": code,
            "DYH": numbers.get(("house", record["house"])) or numbers.get(("unit", record["unit"])),
            "GMSFHM": keys.unseal(sealed) if sealed else None,
            "SK_RQSJ": moment(record["at"]),
            "XQ_BS": community,
            "JCDZ_MC": DIRECTIONS.get(record["direction"]),
            "DQJD": _coordinate(record["longitude"]),
            "DQWD": _coordinate(record["latitude"]),
        }
    return rows


async def _unit_numbers(fetch: Fetch, stored: list[dict[str, Any]]) -> dict[tuple[str, int], str]:
    """单元号 (DYH): of the holder's flat, else of the door's unit; by ("house" | "unit", id)."""
    houses = sorted({r["house"] for r in stored if r["house"] is not None})
    units = sorted({r["unit"] for r in stored if r["unit"] is not None})
    numbers: dict[tuple[str, int], str] = {}
    if houses:
        marks = ", ".join("{}" for _ in houses)
        for row in await fetch(
            f"SELECT house.id AS id, unit.number AS number FROM house JOIN unit ON unit.id = house.unit "
            f"WHERE house.id IN ({marks})",
            *houses,
        ):
            numbers["house", row["id"]] = row["number"]
    if units:
        marks = ", ".join("{}" for _ in units)
        for row in await fetch(f"SELECT id, number FROM unit WHERE id IN ({marks})", *units):
            numbers["unit", row["id"]] = row["number"]
    return numbers


# --- captures: 抓拍人像信息 (face_capture), 机动车出入信息 (vehicle_access), and 视图库 objects ---------
#
# Both are written by the bridge in the batch's transaction (faces/gates.py, vehicles/ingest.py),
# from what the batch already holds: no read per event. One row per passage (``face_passage:{id}``,
# ``vehicle_passage:{id}``), and, when the 视图库 is configured (``viid.py``), its Faces or
# MotorVehicles object and the APE object of the device that took it (``device:{id}``, once).
#
# BLOBs carry references (standard.py). A face capture is not kept (seed 五.(五)): TP and ZP_ZP
# name where it went, the 视图库 object holding it (``/VIID/Faces/<FaceID>``) or else the capture
# sink's key; a capture that went nowhere leaves them missing, and the row is rejected. 嫌疑人
# (XYR_*) is the person the capture was matched to: a watch-list entry, else the enrolled resident;
# an unknown face names nobody and is rejected with that reason.


# Tables owed by reference (``outbox.owe_by_reference``): table → the rows of records by their keys.
BUILT_WHEN_SENT: dict[str, Callable[[Fetch, Keys, list[str]], Awaitable[dict[str, dict[str, Any]]]]] = {
    "door_access": door_access_rows,
}


class Identity(msgspec.Struct, frozen=True):
    """Whom a face was matched to: a watch-list entry or an enrolled resident."""

    name: str
    id_type: str  # ZJLX code, "" when unknown
    id_number_sealed: str


class FaceCapture(msgspec.Struct, frozen=True):
    passage: int
    device: KnownDevice
    direction: str
    at: dt.datetime
    stored_at: dt.datetime
    score: float | None
    image: bytes  # b"": the gate sent none (matching on its own)
    sink_key: str  # the capture sink's key, "" when no sink took it
    identity: Identity | None


class VehicleCapture(msgspec.Struct, frozen=True):
    passage: int
    device: KnownDevice
    plate: str
    hpzl: str  # HPZL code
    color: str  # the registered vehicle's CSYS code, "" if unregistered
    plate_color: str  # as the camera named it
    direction: str
    at: dt.datetime
    picture: str  # the camera's snapshot reference
    watched: bool


# 车牌颜色 (CPYS, 2 characters) and the 视图库's PlateColor: GA/T 1400.3's colour codes, from the
# names cameras use; a name not listed is 99 (其他).
PLATE_COLORS = {
    "black": "1", "黑": "1", "white": "2", "白": "2", "gray": "3", "grey": "3", "灰": "3",
    "red": "4", "红": "4", "blue": "5", "蓝": "5", "yellow": "6", "黄": "6", "orange": "7",
    "brown": "8", "green": "9", "绿": "9", "purple": "10", "cyan": "11", "pink": "12",
}  # fmt: skip
OTHER_COLOR = "99"
SIMILARITY_DECIMALS = 2
_areas: dict[int, str] = {}  # community → its district's code (XZQH): fixed, so kept per process


def plate_color(named: str) -> str:
    return PLATE_COLORS.get(named.strip().lower(), OTHER_COLOR) if named.strip() else ""


async def face_capture(writer: Writer, keys: Keys, captures: list[FaceCapture], viid: bool) -> None:
    """Enqueue the 抓拍人像信息 rows of a batch's face passages (and their 视图库 objects)."""
    if not captures:
        return
    areas = await _district_codes(writer, {c.device.community for c in captures}) if viid else {}
    rows, faces = [], []
    for capture in captures:
        device, person = capture.device, capture.identity
        face_id = viid_codes.code(areas[device.community], viid_codes.FACE, capture.passage) if viid else ""
        reference = f"/VIID/Faces/{face_id}" if viid else capture.sink_key
        row = {
            "ID": record_id(device.community_code, "face", capture.passage),
            "CJSB_BH": device.code,
            "FX": DIRECTIONS.get(capture.direction),
            "DLWZ": device.name,
            "SBMC": device.name,
            "FXSJ": capture.at,
            "TP": reference if capture.image else None,
            "XYR_XM": person.name if person else None,
            "XYR_ZJLXMC": codes.table("ZJLX").codes.get(person.id_type, "") if person else None,
            "XYR_ZJHM": keys.unseal(person.id_number_sealed) if person and person.id_number_sealed else None,
            "ZP_ZP": reference if capture.image else None,
            "XSD_MC": None if capture.score is None else f"{capture.score:.{SIMILARITY_DECIMALS}f}",
            "ZP_RQSJ": capture.at,
            "DQJD": _coordinate(device.longitude),
            "DQWD": _coordinate(device.latitude),
            "CC_RQSJ": capture.stored_at,
        }
        rows.append((f"face_passage:{capture.passage}", device.community, row))
        if viid and capture.image:
            area = areas[device.community]
            face = viid_codes.face_object(area, capture.passage, device.id, capture.at, capture.image)
            faces.append((f"face_passage:{capture.passage}", device.community, face))
    await enqueue_many(writer, keys, "face_capture", rows)
    if viid:
        await enqueue_many(writer, keys, viid_codes.FACES, faces, target=VIID)
        await _capture_devices(writer, keys, [c.device for c in captures], areas)


async def vehicle_access(writer: Writer, keys: Keys, captures: list[VehicleCapture], viid: bool) -> None:
    """Enqueue the 机动车出入信息 rows of a batch's vehicle passages (and their 视图库 objects)."""
    if not captures:
        return
    areas = await _district_codes(writer, {c.device.community for c in captures}) if viid else {}
    rows, vehicles = [], []
    for capture in captures:
        device = capture.device
        row = {
            "ID": record_id(device.community_code, "vehicle", capture.passage),
            "SB_BH": device.code,
            "SBMC": device.name,
            "JDCCSYSDM": capture.color,
            "JDCHPZLDM": capture.hpzl,
            "JDCHPHM": capture.plate,
            "FX": DIRECTIONS.get(capture.direction),
            "DLWZ": device.name,
            "FXSJ": capture.at,
            "ZP": capture.picture,
            "CPYS": plate_color(capture.plate_color),
            "DQJD": _coordinate(device.longitude),
            "DQWD": _coordinate(device.latitude),
            "ZDCL_PDBS": "1" if capture.watched else "0",
        }
        rows.append((f"vehicle_passage:{capture.passage}", device.community, row))
        if viid:
            vehicle = viid_codes.motor_vehicle_object(
                areas[device.community],
                capture.passage,
                device.id,
                capture.at,
                capture.plate,
                capture.hpzl,
                plate_color(capture.plate_color),
                capture.picture,
            )
            vehicles.append((f"vehicle_passage:{capture.passage}", device.community, vehicle))
    await enqueue_many(writer, keys, "vehicle_access", rows)
    if viid:
        await enqueue_many(writer, keys, viid_codes.MOTOR_VEHICLES, vehicles, target=VIID)
        await _capture_devices(writer, keys, [c.device for c in captures], areas)


async def _capture_devices(
    writer: Writer, keys: Keys, devices: list[KnownDevice], areas: dict[int, str]
) -> None:
    """The APE objects of the devices that took a batch's captures, once per device (its key makes
    every later enqueue a no-op)."""
    unique = {device.id: device for device in devices}.values()
    apes = [
        (
            f"device:{device.id}",
            device.community,
            viid_codes.ape_object(
                areas[device.community], device.id, device.name, device.longitude, device.latitude
            ),
        )
        for device in unique
    ]
    await enqueue_many(writer, keys, viid_codes.APES, apes, target=VIID)


async def _district_codes(writer: Writer, communities: set[int]) -> dict[int, str]:
    """The communities' district codes, read once per process."""
    missing = sorted(communities - _areas.keys())
    if missing:
        marks = ", ".join("{}" for _ in missing)
        for row in await writer.fetch(
            "SELECT community.id AS id, district.code AS code FROM community "
            f"JOIN district ON district.id = community.district WHERE community.id IN ({marks})",
            *missing,
        ):
            _areas[row["id"]] = row["code"]
    return _areas
