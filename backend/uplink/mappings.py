"""Our records → the standard's rows (data_standard.json), enqueued with the record they come from.

Each mapping reads what it needs, builds the row under the standard's carried field names and
calls :func:`outbox.enqueue` in the caller's transaction. A value we do not have is left out, so
the standard check rejects the row with the missing field's reason: never sent half-filled.

``emergency_alarm`` (紧急报警(求助)系统): a button alarm (SOS or help call), once it is closed —
the table's required fields include the handling result, time and handler (CLJG_MC, CLSJ,
CLR_XM), which only a closed alarm has. One row per alarm: ``alarm:{id}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from backend.accounts.service import account_names
from backend.alarms.kinds import AlarmType, Severity, State
from backend.alarms.tables import ButtonPairing
from backend.keys import Keys
from backend.registry.tables import Community, Person
from backend.uplink.outbox import enqueue
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


def record_id(community_code: str, kind: str, record_id: int) -> str:
    """The standard's ID: unique across the city (our community code, what it is, our id)."""
    return f"{community_code}-{kind}-{record_id}"


async def emergency_alarm(writer: Writer, keys: Keys, alarm: dict[str, Any]) -> str | None:
    """Enqueue a closed button alarm (``alarm``: its row after closing); other alarms: nothing."""
    if alarm["type"] not in BUTTON_TYPES or alarm["state"] not in STATE_NAMES:
        return None
    community = await Community.select(Community.code).where(Community.id == alarm["community"]).first()
    person = await _paired_person(alarm["pairing"], keys)
    closers = await account_names([alarm["closed_by"]] if alarm["closed_by"] is not None else [])
    row = {
        "ID": record_id(community["code"], "alarm", alarm["id"]),
        "BJQZR_XM": person.get("name"),
        "BJQZ_DD": alarm["location"],
        "BJQZ_RQJSJ": _when(alarm["first_at"]),
        "BJLX": BUTTON_TYPES[AlarmType(alarm["type"])],
        "LXFS": person.get("phone"),
        "NR": alarm["detail"] or f"{BUTTON_TYPES[AlarmType(alarm['type'])]}：{alarm['location']}",
        "BJ_ZT": STATE_NAMES[State(alarm["state"])],
        "CLJG_MC": alarm["note"],
        "CLSJ": _when(alarm["closed_at"]),
        "CLR_XM": closers.get(alarm["closed_by"]),
        "DQJD": _coordinate(alarm["longitude"]),
        "DQWD": _coordinate(alarm["latitude"]),
        "YJSJD_MC": SEVERITY_NAMES.get(alarm["severity"]),
    }
    return await enqueue(writer, "emergency_alarm", f"alarm:{alarm['id']}", alarm["community"], row)


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


def _when(value: dt.datetime | str | None) -> dt.datetime | None:
    """A timestamp as either engine returns it from raw SQL (SQLite: UTC text)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
