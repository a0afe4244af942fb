"""Alarms: one lifecycle, folding, conditions, routing to the right accounts, escalation, and the API's refusals."""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
import pytest

from backend.accounts.tables import Account
from backend.alarms.escalation import escalate_overdue
from backend.alarms.kinds import AlarmType
from backend.alarms.raising import Signal, Source, take
from backend.alarms.tables import Alarm, AlarmStep, ButtonPairing
from backend.audit.tables import AuditEntry
from backend.devices.ingest import transaction_on
from backend.devices.tables import Device
from backend.live.tables import LiveEvent, PushOutbox
from backend.registry.tables import Address, Community, House
from backend.seed import demo_phone
from device_bridge import store
from roles import Role

NOW = dt.datetime.now(dt.UTC)


async def device(world, suffix: str, community: str = "home") -> Device:
    community_id = world.home if community == "home" else world.other
    code = (await Community.objects().get(Community.id == community_id)).code
    return await Device.objects().get(Device.code == f"{code}-{suffix}")


async def signal(world, suffix: str, type: AlarmType, key: str, *, at=NOW, active=True, fold=300.0, **more):
    d = await device(world, suffix)
    source = Source(d.id, d.community, d.name, d.kind, d.latitude, d.longitude)
    async with store.writer(Alarm._meta.db) as writer:
        return await take(
            writer, Signal(key=key, device=source, type=type, at=at, active=active, **more), fold
        )


async def accounts_of(*phones: str) -> set[int]:
    rows = await Account.select(Account.id).where(Account.phone.is_in(list(phones)))
    return {row["id"] for row in rows}


async def pushed_to(alarm_id: int) -> set[int]:
    rows = await PushOutbox.select(PushOutbox.account, PushOutbox.message)
    return {r["account"] for r in rows if f"/alarms/{alarm_id}" in _text(r["message"])}


def _text(value) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


async def test_a_button_press_opens_an_alarm_at_the_paired_flat_and_reaches_police_wardens_and_family(world):
    alarm = await signal(world, "sos-1", AlarmType.EMERGENCY, "press-1")
    house = await House.objects().get(House.id == world.home_house)
    address = await Address.objects().get(Address.id == house.address)
    assert (alarm.type, alarm.state, alarm.severity) == ("emergency", "new", "critical")
    assert alarm.location == address.text and alarm.house == house.id
    expected = await accounts_of(demo_phone(Role.POLICE), demo_phone(Role.WARDEN), demo_phone(Role.RESIDENT))
    assert await pushed_to(alarm.id) == expected  # not property, not the other community's staff
    events = await LiveEvent.select().where(LiveEvent.topic == "alarm")
    assert [msgspec.json.decode(e["payload"])["id"] for e in events] == [alarm.id]


async def test_repeats_within_the_window_fold_into_one_alarm_and_a_redelivery_changes_nothing(world):
    first = await signal(world, "sos-2", AlarmType.HELP, "h-1")
    await signal(world, "sos-2", AlarmType.HELP, "h-2", at=NOW + dt.timedelta(seconds=30))
    again = await signal(world, "sos-2", AlarmType.HELP, "h-2", at=NOW + dt.timedelta(seconds=30))
    assert again is None
    rows = await Alarm.select().where(Alarm.type == "help")
    assert len(rows) == 1 and rows[0]["id"] == first.id and rows[0]["signals"] == 2
    later = await signal(world, "sos-2", AlarmType.HELP, "h-3", at=NOW + dt.timedelta(seconds=400))
    assert later.id != first.id and await Alarm.count().where(Alarm.type == "help") == 2
    assert len(await pushed_to(first.id)) > 0 and len(await pushed_to(later.id)) > 0


async def test_a_condition_is_raised_once_while_it_lasts_and_again_after_it_ended(world):
    smoke = await signal(world, "b1-smoke", AlarmType.SMOKE, "s-1")
    for n in range(2, 5):
        await signal(world, "b1-smoke", AlarmType.SMOKE, f"s-{n}", at=NOW + dt.timedelta(minutes=n * 10))
    assert await Alarm.count().where(Alarm.type == "smoke") == 1
    assert (await Alarm.objects().get(Alarm.id == smoke.id)).signals == 4  # folded, whatever the window
    await signal(world, "b1-smoke", AlarmType.SMOKE, "s-5", active=False)
    assert (await Alarm.objects().get(Alarm.id == smoke.id)).cleared_at is not None
    await signal(world, "b1-smoke", AlarmType.SMOKE, "s-6", at=NOW + dt.timedelta(hours=2))
    assert await Alarm.count().where(Alarm.type == "smoke") == 2


async def test_a_condition_resolved_while_it_lasts_is_not_raised_again(world):
    headers = await world.headers(Role.WARDEN)
    leak = await signal(world, "b1-leak", AlarmType.WATER_LEAK, "w-1")
    for state, note in (("acknowledged", ""), ("resolved", "关闭总阀，等待维修")):
        response = await world.client.post(
            f"/api/alarms/{leak.id}/steps", json={"state": state, "note": note}, headers=headers
        )
        assert response.status_code == 201, response.text
    await signal(world, "b1-leak", AlarmType.WATER_LEAK, "w-2", at=NOW + dt.timedelta(minutes=1))
    assert await Alarm.count().where(Alarm.type == "water_leak") == 1


async def test_the_lifecycle_records_who_when_and_the_note(world):
    alarm = await signal(world, "sos-1", AlarmType.EMERGENCY, "life-1")
    warden, property_ = await world.headers(Role.WARDEN), await world.headers(Role.PROPERTY)
    for state, note, headers in (
        ("acknowledged", "已电话联系住户", warden),
        ("dispatched", "保安赶往现场", property_),
        ("resolved", "老人摔倒，已送医", warden),
    ):
        response = await world.client.post(
            f"/api/alarms/{alarm.id}/steps", json={"state": state, "note": note}, headers=headers
        )
        assert response.status_code == 201, response.text
        assert response.json()["state"] == state
    detail = (await world.client.get(f"/api/alarms/{alarm.id}", headers=warden)).json()
    steps = [(s["state"], s["note"], s["account_name"]) for s in detail["steps"]]
    assert steps == [
        ("new", "", ""),
        ("acknowledged", "已电话联系住户", "协管员 王芳"),
        ("dispatched", "保安赶往现场", "物业 李强"),
        ("resolved", "老人摔倒，已送医", "协管员 王芳"),
    ]
    row = await Alarm.objects().get(Alarm.id == alarm.id)
    assert row.closed_at and row.acknowledged_at and row.dispatched_at and row.open_slot is None
    assert row.note == "老人摔倒，已送医"
    # Every change is on the live stream: raised + three steps.
    assert await LiveEvent.count().where(LiveEvent.topic == "alarm") == 4


async def test_illegal_transitions_are_refused_with_a_reason(world):
    alarm = await signal(world, "sos-1", AlarmType.EMERGENCY, "ill-1")
    headers = await world.headers(Role.WARDEN)

    async def move(state: str, note: str = "处理"):
        return await world.client.post(
            f"/api/alarms/{alarm.id}/steps", json={"state": state, "note": note}, headers=headers
        )

    refused = await move("resolved")
    assert refused.status_code == 409 and refused.json()["extra"]["code"] == "illegal_transition"
    assert "new" in refused.json()["detail"]
    assert (await move("new")).status_code == 422
    assert (await move("acknowledged")).status_code == 201
    assert (await move("acknowledged")).status_code == 409
    no_note = await move("false_alarm", "")
    assert no_note.status_code == 422 and no_note.json()["extra"]["code"] == "note_required"
    assert (await move("false_alarm", "误触")).status_code == 201
    assert (await move("dispatched")).status_code == 409
    assert await AlarmStep.count().where(AlarmStep.alarm == alarm.id) == 3


async def test_an_unacknowledged_alarm_escalates_once_with_two_runners(world, settings):
    alarm = await signal(world, "sos-1", AlarmType.EMERGENCY, "esc-1")
    handled = await signal(world, "sos-2", AlarmType.HELP, "esc-2")
    await world.client.post(
        f"/api/alarms/{handled.id}/steps",
        json={"state": "acknowledged"},
        headers=await world.headers(Role.WARDEN),
    )
    soon = msgspec.structs.replace(
        settings, alarm_escalate_critical_seconds=0.05, alarm_escalate_high_seconds=0.05
    )
    assert await escalate_overdue(transaction_on(None), settings) == []  # not due yet
    await asyncio.sleep(0.1)
    before = set(await PushOutbox.select(PushOutbox.id).output(as_list=True))
    runs = await asyncio.gather(*(escalate_overdue(transaction_on(None), soon) for _ in range(2)))
    escalated = [a.id for run in runs for a in run]
    seeded = [row["id"] for row in await Alarm.select(Alarm.id).where(Alarm.type == "tamper")]
    assert escalated == [alarm.id], seeded  # the acknowledged one and the seeded (escalated) ones stay
    assert await escalate_overdue(transaction_on(None), soon) == []
    steps = await AlarmStep.select().where((AlarmStep.alarm == alarm.id) & (AlarmStep.state == "escalated"))
    assert len(steps) == 1
    new_rows = await PushOutbox.select().where(PushOutbox.id.not_in(list(before) or [0]))
    assert {r["account"] for r in new_rows} == await accounts_of(
        demo_phone(Role.POLICE), demo_phone(Role.DISTRICT_ADMIN)
    )


async def test_the_paired_person_is_shown_to_staff_masked_and_the_read_is_audited(world):
    alarm = await signal(world, "sos-1", AlarmType.EMERGENCY, "who-1")
    detail = (
        await world.client.get(f"/api/alarms/{alarm.id}", headers=await world.headers(Role.WARDEN))
    ).json()
    assert detail["person"]["name"] and "*" in detail["person"]["phone"]
    police = (
        await world.client.get(f"/api/alarms/{alarm.id}", headers=await world.headers(Role.POLICE))
    ).json()
    assert police["person"]["phone"].isdigit()
    reads = await AuditEntry.select().where(AuditEntry.action == "view_alarm_person")
    assert len(reads) == 2 and all(r["subject"] == f"alarm:{alarm.id}" for r in reads)


async def test_the_list_shows_open_alarms_first(world):
    old = await signal(world, "sos-1", AlarmType.EMERGENCY, "l-1")
    headers = await world.headers(Role.WARDEN)
    for state, note in (("acknowledged", ""), ("false_alarm", "测试按键")):
        await world.client.post(
            f"/api/alarms/{old.id}/steps", json={"state": state, "note": note}, headers=headers
        )
    fresh = await signal(world, "b1-smoke", AlarmType.SMOKE, "l-2")
    listed = (await world.client.get(f"/api/communities/{world.home}/alarms", headers=headers)).json()
    states = [a["state"] for a in listed]
    assert states.index("false_alarm") > max(i for i, s in enumerate(states) if s == "new")
    assert fresh.id in [a["id"] for a in listed]
    only_closed = await world.client.get(
        f"/api/communities/{world.home}/alarms", params={"state": "false_alarm"}, headers=headers
    )
    assert [a["id"] for a in only_closed.json()] == [old.id]


# --- attackers -----------------------------------------------------------------------------------


async def test_staff_of_another_community_and_residents_can_neither_see_nor_handle(world):
    alarm = await signal(world, "sos-1", AlarmType.EMERGENCY, "atk-1")
    for role, community in ((Role.WARDEN, "other"), (Role.POLICE, "other"), (Role.RESIDENT, "home")):
        headers = await world.headers(role, community)
        assert (await world.client.get(f"/api/alarms/{alarm.id}", headers=headers)).status_code == 403
        moved = await world.client.post(
            f"/api/alarms/{alarm.id}/steps", json={"state": "acknowledged"}, headers=headers
        )
        assert moved.status_code == 403
        listed = await world.client.get(f"/api/communities/{world.home}/alarms", headers=headers)
        assert listed.status_code == 403
    assert (await Alarm.objects().get(Alarm.id == alarm.id)).state == "new"
    assert (await world.client.get(f"/api/alarms/{alarm.id}")).status_code == 401


async def test_a_resident_pairs_a_button_with_their_own_flat_only(world):
    resident = await world.headers(Role.RESIDENT)
    button = await device(world, "sos-2")
    person = (await ButtonPairing.objects().first()).person  # the demo resident, living in the first flat
    body = {"serial": button.code, "house_id": world.home_house, "person_id": person}
    other_flat = (
        await House.select(House.id)
        .where((House.community == world.home) & (House.id != world.home_house))
        .first()
    )["id"]
    refused = await world.client.post(
        "/api/buttons/pairings", json={**body, "house_id": other_flat}, headers=resident
    )
    assert refused.status_code == 403
    paired = await world.client.post("/api/buttons/pairings", json=body, headers=resident)
    assert paired.status_code == 201, paired.text
    assert paired.json()["house"] == world.home_house and paired.json()["location"].endswith("室")
    assert (await Device.objects().get(Device.id == button.id)).house == world.home_house
    # A warden cannot move it to another flat behind the family's back: unpair it there first.
    moved = await world.client.post(
        "/api/buttons/pairings",
        json={**body, "house_id": other_flat},
        headers=await world.headers(Role.WARDEN),
    )
    assert moved.status_code in (409, 422)


async def test_pairing_refuses_other_communities_buttons_and_people_who_do_not_live_there(world):
    warden = await world.headers(Role.WARDEN)
    person = (await ButtonPairing.objects().first()).person
    foreign = await device(world, "sos-2", "other")
    body = {"serial": foreign.code, "house_id": world.home_house, "person_id": person}
    assert (await world.client.post("/api/buttons/pairings", json=body, headers=warden)).status_code == 404
    smoke = await device(world, "b1-smoke")
    body["serial"] = smoke.code  # not a button
    assert (await world.client.post("/api/buttons/pairings", json=body, headers=warden)).status_code == 404
    other_flat = (
        await House.select(House.id)
        .where((House.community == world.home) & (House.id != world.home_house))
        .first()
    )["id"]
    body = {"serial": (await device(world, "sos-2")).code, "house_id": other_flat, "person_id": person}
    stranger = await world.client.post("/api/buttons/pairings", json=body, headers=warden)
    assert stranger.status_code == 422 and stranger.json()["extra"]["code"] == "not_a_resident"
    assert await ButtonPairing.count() == 1


async def test_a_button_reports_its_battery_and_low_battery_raises_its_own_alarm(world):
    alarm = await signal(world, "sos-1", AlarmType.LOW_BATTERY, "bat-1", detail="12%")
    assert alarm.type == "low_battery" and await pushed_to(alarm.id) == await accounts_of(
        demo_phone(Role.MAINTENANCE)
    )


@pytest.mark.parametrize(
    "body, code",
    [
        ({"meter": "water", "low": 5.0, "high": 1.0}, "invalid_threshold"),
        ({"meter": "hydrant_pressure", "device_id": 2**31 - 2, "low": 0.2}, "unknown_device"),
    ],
)
async def test_thresholds_refuse_nonsense(world, body, code):
    response = await world.client.put(
        f"/api/communities/{world.home}/thresholds", json=body, headers=await world.headers(Role.PROPERTY)
    )
    assert response.status_code == 422 and response.json()["extra"]["code"] == code


async def test_zones_name_cameras_of_their_own_community_only(world):
    headers = await world.headers(Role.PROPERTY)
    camera, foreign, smoke = (
        await device(world, "cam-north"),
        await device(world, "cam-north", "other"),
        await device(world, "b1-smoke"),
    )
    zone = {"community_id": world.home, "name": "东侧围墙", "polygon": [[980, 60], [1000, 60], [1000, 600]]}
    for cameras, status in (([foreign.id], 422), ([smoke.id], 422), ([camera.id], 201)):
        response = await world.client.post("/api/zones", json={**zone, "cameras": cameras}, headers=headers)
        assert response.status_code == status, response.text
    assert response.json()["cameras"] == [camera.id]
    warden = await world.client.post("/api/zones", json=zone, headers=await world.headers(Role.WARDEN))
    assert warden.status_code == 403


async def test_the_board_map_draws_the_communitys_places_and_zones_with_their_cameras(world):
    response = await world.client.get(
        f"/api/communities/{world.home}/map", headers=await world.headers(Role.WARDEN)
    )
    assert response.status_code == 200, response.text
    shape = response.json()
    house = await House.objects().get(House.id == world.home_house)
    [building] = [b for b in shape["buildings"] if b["id"] == house.building]
    assert world.home_house in building["houses"] and 0 < building["x"] < 1000 and 0 < building["y"] < 700
    assert len(shape["gates"]) >= 1 and all(0 < g["y"] < 700 for g in shape["gates"])
    camera = await device(world, "cam-north")
    [north] = [z for z in shape["zones"] if z["name"] == "北侧围墙"]
    assert north["polygon"][0] == [20, 20] and north["detectors"] == [(await device(world, "pz-north")).id]
    assert north["cameras"] == [
        # the seed's simulated camera (anju bridge --simulate serves it)
        {"id": camera.id, "name": camera.name, "online": camera.online, "stream_url": camera.stream_url}
    ]
    houses_elsewhere = await House.select(House.id).where(House.community == world.other)
    drawn = {h for b in shape["buildings"] for h in b["houses"]}
    assert drawn.isdisjoint({row["id"] for row in houses_elsewhere})


async def test_a_cameras_stream_address_reaches_the_boards_map_and_bad_ones_are_refused(world):
    camera = await device(world, "cam-north")
    maintenance = await world.headers(Role.MAINTENANCE)
    url = f"/api/devices/{camera.id}/stream-url"
    hls = "https://video.example.cn/hls/cam-north.m3u8"
    assert (await world.client.put(url, json={"stream_url": hls}, headers=maintenance)).status_code == 200
    shape = (
        await world.client.get(f"/api/communities/{world.home}/map", headers=await world.headers(Role.WARDEN))
    ).json()
    [north] = [z for z in shape["zones"] if z["name"] == "北侧围墙"]
    assert north["cameras"][0]["stream_url"] == hls
    for bad, code in (
        ("rtsp://admin:12345@10.0.0.8/Streaming/Channels/101", "stream_url_credentials"),
        ("javascript:alert(1)", "stream_url"),
        ("https://", "stream_url"),
    ):
        refused = await world.client.put(url, json={"stream_url": bad}, headers=maintenance)
        assert refused.status_code == 422 and refused.json()["extra"]["code"] == code, bad
    button = await device(world, "sos-1")
    not_a_camera = await world.client.put(
        f"/api/devices/{button.id}/stream-url", json={"stream_url": hls}, headers=maintenance
    )
    assert not_a_camera.status_code == 422 and not_a_camera.json()["extra"]["code"] == "not_a_camera"
    other = await world.client.put(
        url, json={"stream_url": ""}, headers=await world.headers(Role.MAINTENANCE, "other")
    )
    assert other.status_code == 403
    assert (await Device.select(Device.stream_url).where(Device.id == camera.id).first())["stream_url"] == hls


@pytest.mark.parametrize(("role", "community"), [(Role.WARDEN, "other"), (Role.RESIDENT, "home")])
async def test_the_board_map_is_refused_outside_ones_communities_and_to_residents(world, role, community):
    community_id = world.home if community == "home" else world.other
    response = await world.client.get(
        f"/api/communities/{community_id}/map", headers=await world.headers(role)
    )
    assert response.status_code == 403
    assert (await world.client.get(f"/api/communities/{world.home}/map")).status_code == 401
