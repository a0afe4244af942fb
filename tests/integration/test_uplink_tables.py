"""Every table of the city's standard, filled by the real flows and checked as it arrived.

Each flow runs through the API (or, for device signals, the bridge's alarm path) as users and
devices do; the local target (tests/uplink_receiver.py) records what it received. Each received
row is then checked against data_standard.json field by field: only the standard's names, every
required one present, VARCHAR2 lengths in bytes, DATEs in the wire format, NUMBERs within their
digits, dictionary fields holding codes of their dictionary.

face_capture and vehicle_access are covered with their capture flows (test_uplink_viid.py).
"""

# ruff: noqa: F811 - the uplink target and its settings are test_uplink.py's fixtures, imported

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from backend.alarms.kinds import AlarmType
from backend.registry.tables import Residency, Unit
from backend.uplink import standard
from backend.uplink.outbox import DATE_FORMAT
from roles import Role
from tests.integration.test_alarms import signal
from tests.integration.test_notices import WATER, act, draft
from tests.integration.test_patrol import scan, seeded_route, shift_now, start
from tests.integration.test_registration import FORM, register
from tests.integration.test_registry_standard import AGENT, STANDARD
from tests.integration.test_uplink import button_alarm, close_alarm, receiver, settings, until  # noqa: F401
from tests.integration.test_video import png, send
from tests.integration.test_visitors import invite

SHANGHAI = ZoneInfo("Asia/Shanghai")


def wire_problems(table_key: str, sent: dict) -> list[str]:
    """What is wrong with a row as it arrived: read back into values, then the standard's check,
    plus the wire format of dates."""
    table = standard.tables()[table_key]
    fields = {field.name: field for field in table.fields}
    problems = [f"{name}: not in the standard" for name in sent if name not in fields]
    values = {}
    for name, value in sent.items():
        if name in fields and fields[name].type == "DATE":
            try:
                value = dt.datetime.strptime(value, DATE_FORMAT).replace(tzinfo=SHANGHAI)
            except (TypeError, ValueError):
                problems.append(f"{name}: {value!r} is not YYYY-MM-DD HH:MM:SS")
                continue
        values[name] = value
    return problems + [f"{p.field}: {p.reason} {p.detail}" for p in standard.check(table_key, values)]


async def received(receiver, table_key: str, count: int = 1) -> list[dict]:
    async def arrived() -> bool:
        return sum(1 for r in receiver.applied.values() if r["table"] == table_key) >= count

    await until(arrived, f"{count} {table_key} row(s) arrived")
    return [r["row"] for r in receiver.applied.values() if r["table"] == table_key]


def assert_valid(table_key: str, rows: list[dict]) -> None:
    for row in rows:
        assert wire_problems(table_key, row) == [], (table_key, row)


@pytest.fixture(autouse=True)
async def target_up(receiver):
    await receiver.up()


async def test_the_registry_fills_ybss_through_registration_verification_correction_and_deregistration(
    world, receiver
):
    created = await register(world, {**FORM, **STANDARD})
    residency_id = created.json()["residency_id"]
    police = await world.headers(Role.POLICE)
    assert not receiver.applied  # pending: the platform learns of verified residents only
    verified = await world.client.post(f"/api/residencies/{residency_id}/verify", json={}, headers=police)
    assert verified.status_code == 200, verified.text
    [row] = await received(receiver, "ybss")
    assert_valid("ybss", [row])
    assert (row["SFZHM"], row["LXDH"], row["YWLX"]) == (FORM["id_number"], FORM["phone"], "01")
    corrected = await world.client.post(
        f"/api/residencies/{residency_id}/correct",
        json={"residence_category": "lodger", "reason": "寄住亲属家"},
        headers=police,
    )
    assert corrected.status_code == 200, corrected.text
    ended = await world.client.post(
        f"/api/residencies/{residency_id}/end", json={"reason": "搬离"}, headers=police
    )
    assert ended.status_code == 200, ended.text
    rows = await received(receiver, "ybss", 3)
    assert_valid("ybss", rows)
    assert [r["YWLX"] for r in rows] == ["01", "02", "03"]
    keys = [k for k, r in receiver.applied.items() if r["table"] == "ybss"]
    assert keys[0] == f"ybss/residency:{residency_id}:verify" and keys[2].endswith(":deregister")
    assert (await Residency.objects().get(Residency.id == residency_id)).status == "ended"


async def test_a_buildings_details_fill_building_rows_for_each_of_its_units(world, receiver):
    unit = await Unit.objects().where(Unit.community == world.home).first()
    saved = await world.client.put(
        f"/api/buildings/{unit.building}", json=AGENT, headers=await world.headers(Role.PROPERTY)
    )
    assert saved.status_code == 200, saved.text
    units = await Unit.count().where(Unit.building == unit.building)
    rows = await received(receiver, "building", units)
    assert_valid("building", rows)
    assert {r["DY_BS"] for r in rows} == {
        f"anju-u{u}"
        for u in await Unit.select(Unit.id).where(Unit.building == unit.building).output(as_list=True)
    }
    assert rows[0]["WTDLR_ZJHM"] == AGENT["agent_id_number"] and "SDM_2" in rows[0]


async def test_perimeter_fire_and_energy_alarms_fill_their_tables_once_closed(world, receiver):
    intrusion = await signal(world, "pz-north", AlarmType.INTRUSION, "fence-1")
    smoke = await signal(world, "b1-smoke", AlarmType.SMOKE, "smoke-1")
    assert not receiver.applied  # open alarms are not records yet
    await close_alarm(world, intrusion.id, "已到场处置")
    await close_alarm(world, smoke.id, "烟雾系厨房油烟，已排除")
    [perimeter] = await received(receiver, "perimeter_alarm")
    [fire] = await received(receiver, "fire_energy")
    assert_valid("perimeter_alarm", [perimeter])
    assert_valid("fire_energy", [fire])
    assert (perimeter["BJLX"], perimeter["BJ_PDBZ"]) == ("周界入侵", "1")
    assert (fire["YW_ZT"], fire["SW_ZT"], fire["BJ_ZT"], fire["SBXH"]) == (
        "报警",
        "正常",
        "已处置",
        "ANJU-SIM-1",
    )
    assert (await button_alarm(world, "sos-1", "sos-table")) and await received(receiver, "emergency_alarm")
    assert_valid("emergency_alarm", await received(receiver, "emergency_alarm"))


async def test_a_patrol_scan_fills_patrol(world, receiver):
    route = await seeded_route(world)
    run = await start(world, await shift_now(world, route))
    checkpoint = route["checkpoints"][0]
    assert (
        await scan(world, run["id"], checkpoint["tag"])
    ).status_code == 201  # no position: the community's
    assert (
        await scan(world, run["id"], route["checkpoints"][1]["tag"], latitude=30.64, longitude=114.2)
    ).status_code == 201
    rows = await received(receiver, "patrol", 2)
    assert_valid("patrol", rows)
    assert {r["XG_MC"] for r in rows} == {c["name"] for c in route["checkpoints"][:2]}
    assert {r["DQWD"] for r in rows} >= {30.64}


async def test_a_published_notice_fills_notice_publish(world, receiver):
    notice = await draft(world, WATER)
    assert (await act(world, notice["id"], "publish", Role.PROPERTY)).status_code == 200
    [row] = await received(receiver, "notice_publish")
    assert_valid("notice_publish", [row])
    assert row["FB_NR"] == f"{WATER['title']}\n{WATER['body']}" and row["FB_LX"] == "通知公告"


async def test_an_invited_visitor_fills_resident_checkin(world, receiver):
    issued = await invite(world)
    [row] = await received(receiver, "resident_checkin")
    assert_valid("resident_checkin", [row])
    assert (row["FK_XM"], row["FK_SJHM"]) == ("李 访客", "13611112222")
    assert row["WHRY_LXFS"] == world.phone(Role.RESIDENT)  # the inviting resident entered it
    assert receiver.applied[f"resident_checkin/visitor_pass:{issued['visitor_pass']['id']}"]


async def test_an_inspection_rounds_snapshots_fill_video_surveillance_when_it_ends(world, receiver):
    cameras = (
        await world.client.get(
            f"/api/communities/{world.home}/video/cameras", headers=await world.headers(Role.PROPERTY)
        )
    ).json()
    round_ = (await send(world, "POST", f"/api/communities/{world.home}/video/inspections")).json()
    checks = f"/api/video/inspections/{round_['id']}/checks"
    for camera in cameras[:2]:
        recorded = await send(world, "POST", checks, {"camera_id": camera["id"], "verdict": "normal"})
        assert recorded.status_code == 201, recorded.text
    first = recorded.json()["checks"][0]
    headers = {**await world.headers(Role.PROPERTY), "content-type": "image/png"}
    put = await world.client.put(f"/api/video/checks/{first['id']}/snapshot", content=png(), headers=headers)
    assert put.status_code == 200, put.text
    assert (await send(world, "POST", f"/api/video/inspections/{round_['id']}/end")).status_code == 200
    [row] = await received(receiver, "video_surveillance")  # the check without a snapshot owes nothing
    assert_valid("video_surveillance", [row])
    assert row["JKNR_TP"] == f"/api/video/checks/{first['id']}/snapshot"
