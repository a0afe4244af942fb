"""Vehicles: the household registry, plates at a barrier through the real broker and a bridge worker,
the guard desk, the police watch list, and reading passages; with the attacker's tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from pathlib import Path

import aiomqtt
import msgspec
import pytest

from backend.accounts.tables import Account
from backend.alarms.tables import Alarm
from backend.audit.tables import AuditEntry
from backend.devices.tables import Device, DeviceKind
from backend.live.tables import LiveEvent, PushOutbox
from backend.registry.tables import Community, House
from backend.vehicles.tables import VehiclePassage
from backend.visitors.tables import VisitorPass
from device_bridge import protocol
from device_bridge.adapters import frigate
from device_bridge.bridge import running
from device_bridge.protocol import Channel, Direction
from device_bridge.simulator import Simulator
from device_bridge.transport import client_options
from roles import Role
from tests.integration.test_bridge import eventually, new_bridge, played

PAYLOADS = Path(__file__).parent.parent / "unit" / "device_payloads"


async def add_barrier(world, community: int) -> Device:
    code = (await Community.objects().get(Community.id == community)).code
    device = Device(
        community=community,
        code=f"{code}-barrier-{secrets.token_hex(2)}",
        kind=DeviceKind.BARRIER,
        name="北门车辆道闸",
        secret_sealed=world.ctx.keys.seal(secrets.token_hex(32)),
    )
    await device.save()
    return device


class Gate:
    """A barrier of the home community, played by the simulator, and the commands it was sent."""

    def __init__(self, world, settings, device: Device, simulator: Simulator) -> None:
        self.world, self.settings, self.device, self.simulator = world, settings, device, simulator
        self.commands: list[dict] = []  # the real MQTT messages on the barrier's cmd topic

    async def read(self, plate: str, direction: Direction = Direction.IN) -> dict:
        """A vehicle at the barrier; its passage once the bridge has recorded it."""
        before = await VehiclePassage.count()
        await self.simulator.read_plate(self.device.code, plate, direction)
        await eventually(lambda: _more_than(before), 10)
        return await VehiclePassage.select().order_by(VehiclePassage.id, ascending=False).first()

    def opened(self) -> list[str]:
        return self.simulator.devices[self.device.code].opened


async def _more_than(count: int) -> bool:
    return await VehiclePassage.count() > count


@contextlib.asynccontextmanager
async def barrier(world, settings):
    device = await add_barrier(world, world.home)
    community = (await Community.objects().get(Community.id == world.home)).code
    topic = protocol.topic(settings.mqtt_prefix, community, device.code, Channel.CMD)
    async with (
        running(new_bridge(world, settings, "vehicles")),
        aiomqtt.Client(**client_options(settings.broker)) as listener,
        played(world, settings, device.code) as simulator,
    ):
        gate = Gate(world, settings, device, simulator)
        await listener.subscribe(topic)

        async def listen() -> None:
            async for message in listener.messages:
                gate.commands.append(msgspec.json.decode(message.payload))

        task = asyncio.create_task(listen())
        try:
            yield gate
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def register(world, role: Role, house: int, plate: str, hpzl: str = "02", side: str = "home"):
    return await world.client.post(
        f"/api/houses/{house}/vehicles",
        json={"plate": plate, "hpzl": hpzl, "color": "A"},
        headers=await world.headers(role, side),
    )


async def neighbour(world) -> int:
    """Another flat of the home community than the signed-in resident's."""
    row = (
        await House.select(House.id)
        .where((House.community == world.home) & (House.id != world.home_house))
        .first()
    )
    return row["id"]


# --- the registry ---------------------------------------------------------------------------


async def test_a_resident_registers_a_new_energy_car_and_staff_register_any_household(world):
    response = await register(world, Role.RESIDENT, world.home_house, "鄂a·d12345", "52")
    assert response.status_code == 201, response.text
    assert response.json() | {"id": 0, "created_at": ""} == {
        "id": 0,
        "house_id": world.home_house,
        "plate": "鄂AD12345",
        "hpzl": "52",
        "hpzl_name": "小型新能源汽车",
        "color": "A",
        "created_at": "",
    }
    for role, plate in ((Role.PROPERTY, "鄂A11111"), (Role.WARDEN, "鄂A22222")):
        assert (await register(world, role, await neighbour(world), plate)).status_code == 201
    listed = await world.client.get(
        f"/api/houses/{world.home_house}/vehicles", headers=await world.headers(Role.RESIDENT)
    )
    assert [v["plate"] for v in listed.json()] == ["鄂AD12345"]


@pytest.mark.parametrize(
    ("plate", "hpzl", "code"),
    [
        ("鄂A1234", "02", "invalid_plate"),
        ("鄂I12345", "02", "invalid_plate"),
        ("AB12345", "02", "invalid_plate"),
        ("鄂AD12345", "02", "plate_kind_mismatch"),
        ("鄂A12345", "52", "plate_kind_mismatch"),
        ("鄂A12345", "00", "invalid_hpzl"),
    ],
)
async def test_a_bad_plate_or_kind_is_a_400_with_its_reason(world, plate, hpzl, code):
    response = await register(world, Role.RESIDENT, world.home_house, plate, hpzl)
    assert response.status_code == 400 and response.json()["extra"]["code"] == code
    assert response.json()["detail"]


async def test_two_registrations_of_one_plate_racing_give_one_201_and_one_409(world):
    house = await neighbour(world)
    answers = await asyncio.gather(
        register(world, Role.RESIDENT, world.home_house, "鄂A33333"),
        register(world, Role.PROPERTY, house, "鄂A33333"),
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    # Another community may have the same plate: the rule is per community.
    assert (
        await register(world, Role.PROPERTY, world.other_house, "鄂A33333", side="other")
    ).status_code == 201


async def test_a_resident_cannot_register_a_plate_in_another_household_or_community(world):
    assert (await register(world, Role.RESIDENT, await neighbour(world), "鄂A44444")).status_code == 403
    assert (await register(world, Role.RESIDENT, world.other_house, "鄂A44444")).status_code == 403
    assert (await register(world, Role.PROPERTY, world.other_house, "鄂A44444")).status_code == 403
    assert (await register(world, Role.POLICE, world.home_house, "鄂A44444")).status_code == 403


# --- at the barrier -------------------------------------------------------------------------


async def test_a_registered_vehicle_passes_and_the_barrier_gets_a_real_open_command(world, settings):
    assert (await register(world, Role.RESIDENT, world.home_house, "鄂AD12345", "52")).status_code == 201
    async with barrier(world, settings) as gate:
        passage = await gate.read("鄂AD12345")
        assert (passage["outcome"], passage["reason"], passage["house"]) == (
            "passed",
            "registered",
            world.home_house,
        )
        await eventually(lambda: asyncio.sleep(0, bool(gate.commands)))
        [command] = gate.commands
        assert (command["id"], command["type"], command["data"]["action"]) == (
            passage["command"],
            "cmd",
            "open",
        )
        await eventually(lambda: _opened(passage["id"]))
        assert gate.opened() == [passage["command"]]
    # 机动车出入信息: plate, kind and colour of the registration, direction, time, device.
    assert (passage["plate"], passage["hpzl"], passage["color"], passage["direction"]) == (
        "鄂AD12345",
        "52",
        "A",
        "in",
    )
    assert passage["device"] == gate.device.id and passage["picture"].startswith("sim:")


async def _opened(passage_id: int) -> bool:
    row = await VehiclePassage.select(VehiclePassage.opened).where(VehiclePassage.id == passage_id).first()
    return row["opened"] is True


async def visitor_pass(world, plate: str, start: dt.datetime, end: dt.datetime) -> None:
    await VisitorPass(
        community=world.home,
        house=world.home_house,
        kind="invitation",
        issued_by=1,
        visitor_name="访客",
        plate=plate,
        doors=[],
        valid_from=start,
        valid_until=end,
        uses=1,
        uses_left=1,
        status="active",
        share_hash=secrets.token_hex(16),
    ).save()


async def test_a_pass_vehicle_passes_inside_its_window_and_is_held_outside_it(world, settings):
    now = dt.datetime.now(dt.UTC)
    await visitor_pass(world, "鄂B55555", now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))
    await visitor_pass(world, "鄂B66666", now + dt.timedelta(hours=1), now + dt.timedelta(hours=2))
    await visitor_pass(world, "鄂B77777", now - dt.timedelta(hours=2), now - dt.timedelta(hours=1))
    async with barrier(world, settings) as gate:
        inside = await gate.read("鄂B55555")
        assert (inside["outcome"], inside["reason"], inside["visitor_pass"] is not None) == (
            "passed",
            "visitor",
            True,
        )
        for plate in ("鄂B66666", "鄂B77777"):
            held = await gate.read(plate)
            assert (held["outcome"], held["reason"], held["command"]) == ("held", "unknown", "")
        await eventually(lambda: asyncio.sleep(0, len(gate.commands) == 1))
        assert [c["id"] for c in gate.commands] == [inside["command"]]


async def test_an_unknown_plate_is_held_then_let_in_by_the_guard_or_refused(world, settings):
    guard = await world.headers(Role.PROPERTY)
    async with barrier(world, settings) as gate:
        first = await gate.read("鄂C12345")
        second = await gate.read("鄂C54321")
        assert gate.commands == [] and first["outcome"] == "held" and first["hpzl"] == "02"
        held = await world.client.get(f"/api/communities/{world.home}/vehicle-passages/held", headers=guard)
        assert [p["plate"] for p in held.json()] == ["鄂C12345", "鄂C54321"]
        let_in = await world.client.post(f"/api/vehicle-passages/{first['id']}/let-in", headers=guard)
        assert let_in.status_code == 200, let_in.text
        assert (let_in.json()["outcome"], let_in.json()["opened"]) == ("let_in", True)
        assert [c["id"] for c in gate.commands] == [f"letin-{first['id']}"] == gate.opened()
        refused = await world.client.post(f"/api/vehicle-passages/{second['id']}/refuse", headers=guard)
        assert refused.json()["outcome"] == "refused"
        again = await world.client.post(f"/api/vehicle-passages/{second['id']}/let-in", headers=guard)
        assert again.status_code == 409 and len(gate.commands) == 1
    guard_id = (await Account.objects().get(Account.phone == world.phone(Role.PROPERTY))).id
    rows = await VehiclePassage.select().where(VehiclePassage.id.is_in([first["id"], second["id"]]))
    assert {r["decided_by"] for r in rows} == {guard_id}
    # Wardens read passages but do not work the barrier; another community's guard neither.
    for role, side in ((Role.WARDEN, "home"), (Role.PROPERTY, "other"), (Role.RESIDENT, "home")):
        answer = await world.client.post(
            f"/api/vehicle-passages/{first['id']}/let-in", headers=await world.headers(role, side)
        )
        assert answer.status_code == 403


async def test_a_frigate_lpr_payload_reaches_the_decision(world, settings):
    [item] = frigate.translate("frigate/events", (PAYLOADS / "frigate_event_lpr_car.json").read_bytes())
    assert (
        await register(world, Role.RESIDENT, world.home_house, item.data["plate"], "52")
    ).status_code == 201
    async with barrier(world, settings) as gate:
        # As `anju edge frigate` does: signed as the registered device the camera is named after.
        community = (await Community.objects().get(Community.id == world.home)).code
        name = protocol.topic(settings.mqtt_prefix, community, gate.device.code, Channel.EVENT)
        secret = world.ctx.keys.unseal(gate.device.secret_sealed).encode()
        payload = protocol.encode(secret, name, item.id, item.type, item.data)
        async with aiomqtt.Client(**client_options(settings.broker)) as client:
            await client.publish(name, payload, qos=1)
            await client.publish(name, payload, qos=1)  # a redelivery
        await eventually(lambda: _more_than(0), 10)
        await eventually(lambda: asyncio.sleep(0, bool(gate.commands)))
        await asyncio.sleep(0.3)
    [passage] = await VehiclePassage.select()
    assert (passage["plate"], passage["outcome"], passage["picture"]) == (
        "鄂AD12345",
        "passed",
        item.data["picture"],
    )
    assert len(gate.commands) == 1


# --- the watch list -------------------------------------------------------------------------


async def test_a_watched_plate_raises_an_alarm_for_police_only(world, settings):
    police = await world.headers(Role.POLICE)
    added = await world.client.post(
        f"/api/communities/{world.home}/watch-list",
        json={"plate": "鄂D88888", "note": "协查"},
        headers=police,
    )
    assert added.status_code == 201, added.text
    async with barrier(world, settings) as gate:
        passage = await gate.read("鄂D88888")
    assert passage["outcome"] == "held" and passage["watched"] is True
    [alarm] = await Alarm.select().where(Alarm.type == "watched_vehicle")
    assert (alarm["community"], alarm["device"], alarm["category"]) == (world.home, gate.device.id, "vehicle")
    assert "鄂D88888" in alarm["detail"] and "协查" in alarm["detail"]
    police_ids = set(await Account.select(Account.id).where(Account.role == Role.POLICE).output(as_list=True))
    pushed = {
        row["account"]
        for row in await PushOutbox.select(PushOutbox.account, PushOutbox.message)
        if f"alarm-{alarm['id']}" in str(row["message"])
    }
    assert pushed and pushed <= police_ids
    assert not [e for e in await LiveEvent.select(LiveEvent.payload) if "鄂D88888" in str(e["payload"])]
    listed = await world.client.get(f"/api/communities/{world.home}/alarms", headers=police)
    assert alarm["id"] in [a["id"] for a in listed.json()]
    for role in (Role.WARDEN, Role.PROPERTY, Role.MAINTENANCE):
        headers = await world.headers(role)
        listed = await world.client.get(f"/api/communities/{world.home}/alarms", headers=headers)
        assert alarm["id"] not in [a["id"] for a in listed.json()]
        assert (await world.client.get(f"/api/alarms/{alarm['id']}", headers=headers)).status_code == 404
    # Staff reading passages do not learn that the plate is watched.
    shown = await world.client.get(
        f"/api/communities/{world.home}/vehicle-passages", headers=await world.headers(Role.WARDEN)
    )
    assert "watched" not in shown.json()[0]


@pytest.mark.parametrize(
    ("role", "side"), [(r, "home") for r in Role if r is not Role.POLICE] + [(Role.POLICE, "other")]
)
async def test_nobody_but_the_communitys_police_reads_or_sets_the_watch_list(world, role, side):
    headers = await world.headers(role, side)
    url = f"/api/communities/{world.home}/watch-list"
    assert (await world.client.get(url, headers=headers)).status_code == 403
    assert (await world.client.post(url, json={"plate": "鄂D99999"}, headers=headers)).status_code == 403
    assert (await world.client.get(url)).status_code == 401


# --- reading passages -----------------------------------------------------------------------


async def test_staff_filter_passages_with_an_audited_read_and_residents_see_only_their_own(world, settings):
    assert (await register(world, Role.RESIDENT, world.home_house, "鄂A12345")).status_code == 201
    async with barrier(world, settings) as gate:
        await gate.read("鄂A12345")
        await gate.read("鄂E00001")
        await gate.read("鄂E00002", Direction.OUT)
    warden = await world.headers(Role.WARDEN)
    url = f"/api/communities/{world.home}/vehicle-passages"
    everything = (await world.client.get(url, headers=warden)).json()
    assert [p["plate"] for p in everything] == ["鄂E00002", "鄂E00001", "鄂A12345"]
    assert everything[0]["reason"] == "leaving" and everything[0]["outcome"] == "passed"
    held = (await world.client.get(url, params={"outcome": "held"}, headers=warden)).json()
    assert [p["plate"] for p in held] == ["鄂E00001"]
    one = (await world.client.get(url, params={"plate": "鄂a12345"}, headers=warden)).json()
    assert [p["plate"] for p in one] == ["鄂A12345"]
    later = (
        await world.client.get(url, params={"since": "2099-01-01T00:00:00+08:00"}, headers=warden)
    ).json()
    assert later == []
    audited = await AuditEntry.select().where(AuditEntry.action == "read_vehicle_passages")
    assert len(audited) == 4 and "鄂E00001" in str(audited[0])
    own = await world.client.get(
        f"/api/houses/{world.home_house}/vehicle-passages", headers=await world.headers(Role.RESIDENT)
    )
    assert [p["plate"] for p in own.json()] == ["鄂A12345"]


async def test_a_stranger_who_knows_a_plate_cannot_read_its_passages(world):
    url = f"/api/communities/{world.home}/vehicle-passages"
    for role, side in (
        (Role.RESIDENT, "home"),
        (Role.WARDEN, "other"),
        (Role.POLICE, "other"),
        (Role.MAINTENANCE, "home"),
    ):
        response = await world.client.get(
            url, params={"plate": "鄂A12345"}, headers=await world.headers(role, side)
        )
        assert response.status_code == 403
    assert (await world.client.get(url, params={"plate": "鄂A12345"})).status_code == 401
    neighbour_house = await neighbour(world)
    response = await world.client.get(
        f"/api/houses/{neighbour_house}/vehicle-passages", headers=await world.headers(Role.RESIDENT)
    )
    assert response.status_code == 403
